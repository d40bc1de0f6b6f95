"""Fine-tuning runs for the ablations that measure a pre-training choice downstream.

`finetune_record` runs `ernie3_lite.finetune.finetune` once (one task, one start, one seed) for
a fixed number of optimizer steps, the same for every variant (equal fine-tuning compute), and
returns a `common.RunRecord` with the test and valid metric in %. `export` writes a pre-trained
run where `finetune(pretrained=...)` reads it. ERNIE 3.0 (arXiv 2107.02137 §4.2) fine-tunes
sentiment on [CLS] and NER per token of the NLU network; so does `finetune`.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import common

from ernie3_lite.config import Ernie3Config

#: the metric each task is compared on (`finetune`'s result keys) and how the table names it
TASK_METRICS = {"sentiment": ("acc", "accuracy"), "ner": ("f1", "span F1")}
NER_TYPES = ("PER", "LOC", "ORG")


def add_finetune_arguments(parser: argparse.ArgumentParser, *, steps: int) -> None:
    """``--ft-steps`` (the budget), ``--ft-batch-size``, ``--ft-lr``."""
    parser.add_argument("--ft-steps", type=int, default=steps,
                        help="fine-tuning optimizer steps per run, equal for every variant")
    parser.add_argument("--ft-batch-size", type=int, default=16)
    parser.add_argument("--ft-lr", type=float, default=1e-3)


def finetune_settings(settings: common.Settings, args: argparse.Namespace) -> dict[str, Any]:
    """`finetune` keyword arguments shared by every run of one ablation (--quick: 2 steps of
    4 examples, 32 training records)."""
    quick = settings.quick
    return {"max_steps": 2 if quick else args.ft_steps, "max_epochs": None,
            "batch_size": 4 if quick else args.ft_batch_size, "lr": args.ft_lr,
            "max_len": settings.max_len, "precision": settings.precision, "val_every": 0,
            "train_examples": 32 if quick else None, "data_dir": settings.data_dir}


def export(run: Any, path: Path) -> Path:
    """A pre-training run's model + vocabulary as a `save_pretrained` folder at `path`."""
    run.module.model.save_pretrained(path, tokenizer=run.datamodule.tokenizer)
    return path


def finetune_record(name: str, task: str, *, seed: int, pretrained: Path | None,
                    preset: str = "nano", config_overrides: dict[str, Any] | None = None,
                    **kwargs: Any) -> common.RunRecord:
    """One `finetune(task, ...)` as a record: metrics "test" and "valid" (the task's metric in
    %), plus "test F1 <type>" per entity type for NER; the fine-tuning loss curve in
    ``train_losses["finetune"]``. `kwargs` go to `finetune` (see `finetune_settings`)."""
    from ernie3_lite.finetune import finetune

    key, _ = TASK_METRICS[task]
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="ablation_ft_") as out_dir:
        result = finetune(task, pretrained=pretrained, preset=preset, seed=seed,
                          out_dir=out_dir, config_overrides=config_overrides, **kwargs)
    metrics = {"test": 100 * result.test[key], "valid": 100 * result.valid[key]}
    if task == "ner":
        metrics |= {f"test F1 {kind}": 100 * result.test[f"f1_{kind}"] for kind in NER_TYPES
                    if f"f1_{kind}" in result.test}
    return common.RunRecord(
        variant=name, seed=seed, steps=result.steps, train_seconds=result.train_seconds,
        setup_seconds=time.perf_counter() - started - result.train_seconds, val_curve=[],
        train_losses={"finetune": result.history.train.get("train/loss", [])},
        metrics=metrics)


def scratch_overrides(pretrained: Path, preset: str) -> dict[str, Any]:
    """Config fields of the `pretrained` folder that differ from `preset`'s: with them a model
    from scratch has exactly the pre-trained one's architecture (same width, depth, max_seq_len)."""
    saved = json.loads((pretrained / "config.json").read_text(encoding="utf-8"))
    # fields the file leaves out take their defaults (embedding_norm: off for older exports)
    saved = Ernie3Config.from_dict(saved).to_dict()
    base = Ernie3Config.from_name(preset).to_dict()
    return {key: value for key, value in saved.items() if base.get(key) != value}
