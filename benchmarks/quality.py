"""The quality report of issue 13: `python benchmarks/quality.py [--skip-finetune] [--quick]`.

A thin wrapper of `python -m ernie3_lite.evaluation report` (ernie3_lite/evaluation/report.py),
which documents every row, baseline and flag; results go to benchmarks/results/quality.{md,json}.
"""

from ernie3_lite.evaluation.report import main

if __name__ == "__main__":
    main()
