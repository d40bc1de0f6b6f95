"""`python -m ernie3_lite.finetune fit --config configs/finetune_sentiment.yaml` (see cli.py)."""

from ernie3_lite.finetune.cli import main

if __name__ == "__main__":
    main()
