"""The callback the ablation harness adds to every `pretrain()` (see `common.run_variant`).

`TimedLossHistory`: `pretrain()`'s `LossHistory` that also knows the training seconds of each
validation, so a time-to-loss comparison does not count validation as training.
"""

from __future__ import annotations

import time

from ernie3_lite.training.run import LossHistory


class TimedLossHistory(LossHistory):
    """`LossHistory` + training seconds: wall time minus every validation, counted from its
    start to the next training batch (so the checkpoint `pretrain()` saves after each
    validation is not counted as training either)."""

    def on_train_start(self, trainer, pl_module) -> None:
        self._start, self._validating, self.val_seconds = time.perf_counter(), 0.0, []
        self._validation_start: float | None = None

    def on_validation_start(self, trainer, pl_module) -> None:
        self._validation_start = time.perf_counter()

    def on_validation_epoch_end(self, trainer, pl_module) -> None:
        before = len(self.val.get("val/loss", []))
        super().on_validation_epoch_end(trainer, pl_module)
        if len(self.val.get("val/loss", [])) > before:  # training time when it started
            self.val_seconds.append(self._validation_start - self._start - self._validating)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        super().on_train_batch_start(trainer, pl_module, batch, batch_idx)
        self._close_validation()

    def on_train_end(self, trainer, pl_module) -> None:
        self._close_validation()
        self.wall_seconds = time.perf_counter() - self._start
        self.train_seconds = self.wall_seconds - self._validating

    def _close_validation(self) -> None:
        if self._validation_start is not None:
            self._validating += time.perf_counter() - self._validation_start
            self._validation_start = None

