"""Pre-training from Python in one call, as `make demo` and the shipped model use it.

`pretrain()` wires `Ernie3DataModule`, `Ernie3PretrainModule` and `ProgressiveLearning` into a
`lightning.Trainer` and records every step's per-task losses (`LossHistory`), so a caller can
print a summary and draw the loss curves. The CLI (`ernie3-lite fit`) builds the same objects
from YAML; this function is the short path for scripts and notebooks.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning as L
import torch

from ernie3_lite.model.ernie3 import Ernie3Model
from ernie3_lite.training.checkpoint_io import AtomicCheckpointIO
from ernie3_lite.training.datamodule import Ernie3DataModule
from ernie3_lite.training.module import Ernie3PretrainModule
from ernie3_lite.training.precision import resolve_precision
from ernie3_lite.training.progressive import ProgressiveLearning
from ernie3_lite.training.quiet import quiet_lightning
from ernie3_lite.training.resume import resolve_resume
from ernie3_lite.training.settings import is_logging_step


class LossHistory(L.Callback):
    """Keeps the logged training values: {"train/kmlm_loss": [(step, value), ...]}.

    Per-task values are logged on every ``log_every_n_steps``-th step only
    (`is_logging_step`), so they are read on those steps; ``step`` counts optimizer steps done.
    The history and the training seconds so far travel in Lightning checkpoints (callback
    state), so a resumed run's history covers the whole run, not only its resumed part.
    """

    def __init__(self) -> None:
        self.train: dict[str, list[tuple[int, float]]] = {}
        self.val: dict[str, list[tuple[int, float]]] = {}
        self.seconds_before = 0.0  # training time of the runs this one resumed
        self._started: float | None = None
        self._ended: float | None = None
        self._logging = False

    @property
    def seconds(self) -> float:
        """Seconds in ``fit`` so far, earlier (resumed) parts included."""
        if self._started is None:
            return self.seconds_before
        return self.seconds_before + (self._ended or time.perf_counter()) - self._started

    def on_fit_start(self, trainer, pl_module) -> None:
        self._started, self._ended = time.perf_counter(), None

    def on_fit_end(self, trainer, pl_module) -> None:
        self._ended = time.perf_counter()

    def state_dict(self) -> dict[str, Any]:
        return {"train": self.train, "val": self.val, "seconds": self.seconds}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        def series(saved: dict) -> dict[str, list[tuple[int, float]]]:
            return {key: [tuple(point) for point in points] for key, points in saved.items()}

        self.train, self.val = series(state_dict["train"]), series(state_dict["val"])
        self.seconds_before = float(state_dict["seconds"])

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self._logging = is_logging_step(trainer)  # decided before the step, like the module

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if not self._logging:
            return
        step = trainer.global_step
        for key, value in trainer.callback_metrics.items():
            if key.startswith(("train/", "progressive/")):
                self.train.setdefault(key, []).append((step, float(value)))

    def on_validation_epoch_end(self, trainer, pl_module) -> None:
        if trainer.sanity_checking:
            return
        for key, value in trainer.callback_metrics.items():
            if key.startswith("val/"):
                self.val.setdefault(key, []).append((trainer.global_step, float(value)))

    def last(self, key: str, *, window: int = 20) -> float:
        """Mean of the last `window` logged values of `key` (training losses are noisy)."""
        values = [v for _, v in self.train[key][-window:]]
        return sum(values) / len(values)


@dataclass
class PretrainRun:
    module: Ernie3PretrainModule
    datamodule: Ernie3DataModule
    trainer: L.Trainer
    history: LossHistory
    checkpoint: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def pretrain(
    data_dir: str | Path = "data_samples",
    *,
    preset: str = "nano",
    max_steps: int = 300,
    warmup_steps: int = 60,
    max_time: str | None = None,
    batch_size: int = 8,
    max_len: int = 128,
    seg_len: int = 128,
    dlm_batch_size: int = 4,
    lr: float = 1e-3,
    seed: int = 0,
    out_dir: str | Path = "runs/pretrain",
    progress_bar: bool = True,
    val_every: int = 100,
    config_overrides: dict[str, Any] | None = None,
    precision: str = "auto",
    log_every: int = 10,
    init_from: str | Path | None = None,
    task_weights: dict[str, float] | None = None,
    callbacks: Sequence[L.Callback] = (),
    progressive: bool = True,
    masking_units: str = "mixed",
    checkpoint_every: int | None = None,
    ckpt_path: str | Path | None = None,
    poetry_share: float = 0.0,
) -> PretrainRun:
    """Train `preset` on all five tasks; progressive learning over `warmup_steps`.

    `max_time` ("DD:HH:MM:SS") stops early; the LR schedule still decays over `max_steps`.
    `precision` is Lightning's, or "auto": bf16-mixed on a CPU with native bf16 (~2.4x the
    fp32 tokens/s, benchmarks/README.md), 32-true elsewhere (`training/precision.py`).
    `dlm_batch_size` rows of the document-LM stream of `seg_len` tokens each step (beside
    `batch_size` rows of `max_len` for each NLU task: the DLM's share of the step's tokens).
    Per-task losses are recorded every `log_every` steps. `init_from`: a `save_pretrained`
    directory whose weights start the run (continued pre-training; its config must be the
    preset's after overrides, or the load fails naming the mismatching tensors).

    task_weights: per task (kmlm, dlm, sr, sd, uktp), 1.0 when missing; 0 drops the task
    (`Ernie3DataModule`). callbacks: added to the Trainer's. progressive: False keeps sequence
    length, batch size and dropout at full size from step 0 (the LR still warms up over
    `warmup_steps`), the baseline of ERNIE 3.0 §3.3.1's progressive learning. masking_units:
    "mixed" (ERNIE 1.0 knowledge masking) or "char" (characters only) for KMLM and UKTP.
    poetry_share: classical-poem characters per news character in the DLM and KMLM text (the
    second register of #13; above 0 the vocabulary is the folder's vocab_poetry.txt).

    checkpoint_every: also write `out_dir/checkpoints/last.ckpt` every this many steps (None:
    only at the end), so that a killed run can go on: call again with the same arguments and
    `ckpt_path` set to that file (weights, optimiser, schedule, DLM memory and data position
    resume, and so does the loss history, from the checkpoint's callback state). An unreadable
    `ckpt_path` (a truncated ``last.ckpt``) falls back, with one line, to the newest readable
    step checkpoint beside it (`resolve_resume`); checkpoints load weights-only and are written
    atomically (`AtomicCheckpointIO`).
    """
    ckpt_path = resolve_resume(ckpt_path)  # before any data is read
    quiet_lightning(filter_warnings=True)
    L.seed_everything(seed, workers=True, verbose=False)
    torch.set_float32_matmul_precision("high")
    datamodule = Ernie3DataModule(data_dir=str(data_dir), batch_size=batch_size, max_len=max_len,
                                  seg_len=seg_len, dlm_batch_size=dlm_batch_size, seed=seed,
                                  task_weights=task_weights,
                                  masking_units=masking_units, poetry_share=poetry_share)
    datamodule.prepare_data()
    datamodule.setup("fit")
    # the model must accept the longest segment the data will feed it
    overrides = {"max_seq_len": max(max_len, seg_len), **(config_overrides or {})}
    module = Ernie3PretrainModule(
        preset=preset, vocab_size=datamodule.vocab_size, sr_max_segments=datamodule.max_segments,
        task_weights=dict(datamodule.task_weights), lr=lr, warmup_steps=warmup_steps,
        max_steps=max_steps, config_overrides=overrides,
    )
    if init_from is not None:
        start = Ernie3Model.from_pretrained(init_from)
        if start.config.to_dict() != module.config.to_dict():
            raise ValueError(f"init_from={init_from}: its config differs from the run's "
                             f"({start.config.to_dict()} != {module.config.to_dict()})")
        module.model.load_state_dict(start.state_dict())
    history = LossHistory()
    checkpoints = L.pytorch.callbacks.ModelCheckpoint(dirpath=Path(out_dir) / "checkpoints",
                                                      save_last=True, save_top_k=0,
                                                      every_n_train_steps=checkpoint_every)
    if progressive:
        ramp = ProgressiveLearning(warmup_steps=warmup_steps,
                                   start_seq_len=max(_round_up(datamodule.min_seq_len, 8),
                                                     max_len // 4),
                                   start_batch_size=max(1, batch_size // 4))
    else:  # no ramp (0 steps: full sizes from step 0); kept for its progressive/* logs
        ramp = ProgressiveLearning(warmup_steps=0, start_seq_len=max_len,
                                   start_batch_size=batch_size,
                                   start_dropout=module.config.dropout)
    trainer = L.Trainer(
        accelerator="cpu", devices=1, max_steps=max_steps, max_time=max_time,
        val_check_interval=val_every, check_val_every_n_epoch=None, limit_val_batches=None,
        num_sanity_val_steps=0, logger=False, enable_model_summary=False,
        enable_progress_bar=progress_bar, default_root_dir=str(out_dir),
        callbacks=[history, ramp, checkpoints, *callbacks], deterministic=True,
        gradient_clip_val=1.0, precision=resolve_precision(precision, accelerator="cpu"),
        log_every_n_steps=log_every, plugins=[AtomicCheckpointIO()],
    )
    trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
    last = Path(out_dir) / "checkpoints" / "last.ckpt"
    return PretrainRun(module, datamodule, trainer, history, last if last.exists() else None)


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple
