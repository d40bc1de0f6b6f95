"""`python -m ernie3_lite.evaluation zeroshot|probe ...` (see `ernie3_lite.evaluation.cli`)."""

from ernie3_lite.evaluation.cli import main

if __name__ == "__main__":
    main()
