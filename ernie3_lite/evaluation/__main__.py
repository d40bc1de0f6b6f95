"""`python -m ernie3_lite.evaluation zeroshot|probe ...` (see `ernie3_lite.evaluation.cli`),
`python -m ernie3_lite.evaluation report ...` (the quality report, `ernie3_lite.evaluation.report`).
"""

import sys

if __name__ == "__main__":
    if sys.argv[1:2] == ["report"]:
        from ernie3_lite.evaluation.report import main as report_main

        report_main(sys.argv[2:])
    else:
        from ernie3_lite.evaluation.cli import main

        main()
