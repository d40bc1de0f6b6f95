"""The fine-tuning rows of the quality report: several seeds, hyper-parameters chosen on valid.

ERNIE 3.0 (arXiv 2107.02137 §4.2) reports fine-tuned accuracy / F1 / ROUGE-L; on sets this
small one run says little, so every configuration runs with >= 3 seeds and the report gives the
mean and the sample standard deviation. The learning rate is chosen by mean VALID score over
the seeds (`finetune` scores valid and test after training; test numbers of configurations not
chosen are dropped unread), and the test scores of the chosen one are reported: test is read
once per reported run. The same runs from scratch (``pretrained=None``) give the pre-training
gap. NER test is tagged in overlapping windows (`windowed_ner_tags`), not cut at the window.
"""

from __future__ import annotations

import statistics
import tempfile
from collections.abc import Sequence
from pathlib import Path

from ernie3_lite.finetune.metrics import span_scores

#: per task: the metric, and the configs/finetune_<task>.yaml epochs and batch size
TASK_SETTINGS = {"sentiment": ("acc", 2, 16), "ner": ("f1", 3, 16), "headline": ("rouge_l", 5, 8)}


def spread(values: Sequence[float]) -> dict:
    """{"mean", "sd" (sample, 0 for one value), "n", "values"}."""
    values = list(values)
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return {"mean": statistics.fmean(values), "sd": sd, "n": len(values), "values": values}


def _ner_test(module, data_dir: Path) -> float:
    from ernie3_lite.finetune.data import read_split
    from ernie3_lite.finetune.windows import windowed_ner_tags

    test = read_split(data_dir, "ner", "test")
    return span_scores([s.tags for s in test], windowed_ner_tags(module, test)).f1


def finetune_task(task: str, *, data_dir: Path, pretrained: str | Path | None,
                  seeds: Sequence[int], lrs: Sequence[float] = (1e-3,),
                  max_train_examples: int | None = None, epochs: int | None = None,
                  precision: str = "auto", vocab_file: str | Path | None = None,
                  log=print) -> dict:
    """{"valid", "test": `spread` over seeds, "lr", "valid_by_lr", "epochs", "train_s"}.

    vocab_file: the tokenizer of a from-scratch run (the report gives the pre-trained
    model's, so both starts read the same tokens)."""
    from ernie3_lite.finetune import finetune

    metric, default_epochs, batch_size = TASK_SETTINGS[task]
    epochs = epochs or default_epochs
    runs: dict[float, list[tuple[float, object, float]]] = {}  # (valid, test or module, s)
    for lr in lrs:
        for seed in seeds:
            with tempfile.TemporaryDirectory() as out:
                result = finetune(task, pretrained=pretrained, data_dir=data_dir,
                                  max_epochs=epochs, batch_size=batch_size, lr=lr, seed=seed,
                                  out_dir=out, train_examples=max_train_examples,
                                  precision=precision, vocab_file=vocab_file)
                # NER test is tagged later, only for the chosen configuration
                test = result.module if task == "ner" else result.test[metric]
            runs.setdefault(lr, []).append((result.valid[metric], test, result.train_seconds))
            log(f"  {task} {'pretrained' if pretrained else 'scratch'} lr={lr:g} seed={seed}: "
                f"valid {metric} {result.valid[metric]:.3f} ({result.train_seconds:.0f} s)")
    valid_by_lr = {lr: statistics.fmean(v for v, _, _ in rows) for lr, rows in runs.items()}
    lr = max(valid_by_lr, key=valid_by_lr.get)
    chosen = [(v, _ner_test(t, data_dir) if task == "ner" else t, s) for v, t, s in runs[lr]]
    return {"metric": metric, "valid": spread([v for v, _, _ in chosen]),
            "test": spread([t for _, t, _ in chosen]), "lr": lr,
            "valid_by_lr": {f"{k:g}": v for k, v in valid_by_lr.items()}, "epochs": epochs,
            "train_s": sum(s for rows in runs.values() for _, _, s in rows),
            "seeds": list(seeds), "max_train_examples": max_train_examples,
            "vocab": str(vocab_file or (Path(pretrained) if pretrained else data_dir) /
                         "vocab.txt")}
