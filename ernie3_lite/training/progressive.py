"""Progressive learning: ramp sequence length, batch size and dropout with the LR warm-up (§3.3.1).

ERNIE 3.0 (arXiv 2107.02137 §3.3.1) speeds up the start of pre-training by "progressively and
simultaneously increasing the training factors including the input sequence length, the batch
size, the learning rate and the dropout rate". We ramp each factor linearly from a start value
at step 0 to its final value at `warmup_steps`, then hold it:

* sequence length: `start_seq_len` -> the data module's `max_len`, rounded to a multiple of 8;
* batch size: `start_batch_size` -> the data module's `batch_size` (NLU micro-batches);
* dropout: `start_dropout` -> the model config's `dropout`;
* learning rate: the module's own warm-up scheduler; we only log it.

Every value is a function of the optimizer step (`trainer.global_step`), so nothing needs to be
checkpointed: a resumed run picks the ramp up where it stopped. Which step gets which value:
the batch consumed at step s is *built* with the sizes of step s (the data module evaluates our
schedule for each batch index, so Lightning's one-batch prefetch and DataLoader workers cannot
shift it), and dropout is set in `on_train_batch_start` of step s, before its forward pass.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

import lightning as L

from ernie3_lite.training.multitask import Progress
from ernie3_lite.training.settings import is_logging_step

SEQ_LEN_MULTIPLE = 8  # keeps matmul shapes friendly to tensor cores


class ProgressiveValues(NamedTuple):
    seq_len: int
    batch_size: int
    dropout: float


def progressive_schedule(step: int, *, warmup_steps: int, start: float, end: float) -> float:
    """`start` at step 0, linear to `end` at `warmup_steps`, `end` from then on."""
    if warmup_steps < 0:
        raise ValueError(f"warmup_steps={warmup_steps} must be >= 0")
    if step >= warmup_steps:
        return end
    return start + (end - start) * max(step, 0) / warmup_steps


def progressive_values(
    step: int, *, warmup_steps: int, start: ProgressiveValues, end: ProgressiveValues
) -> ProgressiveValues:
    """The three ramped factors at `step`; ints are rounded but always reach `end` exactly."""
    if step >= warmup_steps:
        return ProgressiveValues(*end)

    def ramp(field: str) -> float:
        return progressive_schedule(step, warmup_steps=warmup_steps,
                                    start=getattr(start, field), end=getattr(end, field))

    multiple = SEQ_LEN_MULTIPLE * round(ramp("seq_len") / SEQ_LEN_MULTIPLE)
    seq_len = min(max(SEQ_LEN_MULTIPLE, multiple), end.seq_len)
    batch_size = min(max(1, round(ramp("batch_size"))), end.batch_size)
    return ProgressiveValues(seq_len, batch_size, ramp("dropout"))


def start_fits(start_seq_len: int, max_len: int) -> bool:
    """A start length above the final one is a config mistake (it used to be cut silently);
    within the final length's block of `SEQ_LEN_MULTIPLE` it is only the rounding."""
    return start_seq_len <= -(-max_len // SEQ_LEN_MULTIPLE) * SEQ_LEN_MULTIPLE


def schedule_table(
    *, warmup_steps: int, start: ProgressiveValues | tuple, end: ProgressiveValues | tuple,
    steps: int | Iterable[int],
) -> list[dict[str, float]]:
    """Rows ``{"step", "seq_len", "batch_size", "dropout"}`` for plotting the ramp.

    `start` / `end` are (seq_len, batch_size, dropout); `steps` is a count or the steps to show.
    """
    start, end = ProgressiveValues(*start), ProgressiveValues(*end)
    rows = []
    for step in range(steps) if isinstance(steps, int) else steps:
        values = progressive_values(step, warmup_steps=warmup_steps, start=start, end=end)
        rows.append({"step": step, **values._asdict()})
    return rows


class ProgressiveLearning(L.Callback):
    """Drives `Ernie3DataModule` sizes and the module's dropout along `progressive_values`.

    Needs ``trainer.datamodule.set_progress_schedule`` and ``pl_module.set_dropout(p)``; the final
    dropout is ``pl_module.config.dropout`` (or ``pl_module.model.config.dropout``).
    """

    def __init__(
        self, warmup_steps: int, start_seq_len: int, start_batch_size: int,
        start_dropout: float = 0.0,
    ):
        """
        Args:
            warmup_steps: Steps over which every factor ramps (10,000 for the 10B model).
            start_seq_len: NLU sequence length at step 0 (rounded to a multiple of 8).
            start_batch_size: NLU micro-batch rows at step 0.
            start_dropout: Dropout at step 0 (ERNIE keeps 0 during the ramp in its analysis).
        """
        for name, value, minimum in (("warmup_steps", warmup_steps, 0),
                                     ("start_seq_len", start_seq_len, SEQ_LEN_MULTIPLE),
                                     ("start_batch_size", start_batch_size, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise ValueError(f"ProgressiveLearning.{name}={value!r} must be an int "
                                 f">= {minimum}")
        if not 0.0 <= start_dropout < 1.0:
            raise ValueError(f"ProgressiveLearning.start_dropout={start_dropout!r} must be "
                             "in [0, 1)")
        self.warmup_steps = warmup_steps
        self.start = ProgressiveValues(start_seq_len, start_batch_size, float(start_dropout))
        self.end: ProgressiveValues | None = None  # known once the data and model are set up
        self._dropout_set: float | None = None

    def values_at(self, step: int) -> ProgressiveValues:
        if self.end is None:
            raise RuntimeError("ProgressiveLearning: the final values are known after setup()")
        return progressive_values(step, warmup_steps=self.warmup_steps, start=self.start,
                                  end=self.end)

    def sizes_at(self, step: int) -> Progress:
        """What the data module builds the batch of optimizer step `step` with."""
        values = self.values_at(step)
        return Progress(values.seq_len, values.batch_size)

    # ---- Lightning hooks ---------------------------------------------------------------------
    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if stage != "fit":
            return
        data = trainer.datamodule
        if data is None or not hasattr(data, "set_progress_schedule"):
            raise TypeError("ProgressiveLearning needs trainer.fit(..., datamodule=...) with an "
                            "Ernie3DataModule (it sizes the batches)")
        if not callable(getattr(pl_module, "set_dropout", None)):
            raise TypeError(f"ProgressiveLearning needs {type(pl_module).__name__}.set_dropout(p)")
        self.end = ProgressiveValues(data.max_len, data.batch_size, _final_dropout(pl_module))
        if self.warmup_steps and not start_fits(self.start.seq_len, data.max_len):
            raise ValueError(f"ProgressiveLearning.start_seq_len={self.start.seq_len} must be "
                             f"<= the data module's max_len={data.max_len} (the ramp ends there)")
        first = self.values_at(0)
        if first.seq_len < data.min_seq_len or self.start.batch_size > data.batch_size:
            raise ValueError(
                f"ProgressiveLearning: start_seq_len={self.start.seq_len} (-> {first.seq_len}) "
                f"must be >= {data.min_seq_len} and start_batch_size={self.start.batch_size} "
                f"<= {data.batch_size} (the data module's min_seq_len and batch_size)")
        data.set_progress_schedule(self.sizes_at)
        self._dropout_set = None  # a new fit (or a resumed one) sets dropout on its first step

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        values = self.values_at(trainer.global_step)
        if values.dropout != self._dropout_set:
            pl_module.set_dropout(values.dropout)
            self._dropout_set = values.dropout
        if not is_logging_step(trainer):
            return
        logged = {f"progressive/{k}": float(v) for k, v in values._asdict().items()}
        if trainer.optimizers:
            logged["progressive/lr"] = float(trainer.optimizers[0].param_groups[0]["lr"])
        pl_module.log_dict(logged, on_step=True, on_epoch=False, batch_size=1)

    def teardown(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if stage == "fit" and trainer.datamodule is not None and self.end is not None:
            trainer.datamodule.set_progress_schedule(None)


def _final_dropout(pl_module: L.LightningModule) -> float:
    for owner in (pl_module, getattr(pl_module, "model", None)):
        config = getattr(owner, "config", None)
        if config is not None and hasattr(config, "dropout"):
            return float(config.dropout)
    raise TypeError(f"ProgressiveLearning: {type(pl_module).__name__} has no config.dropout "
                    "(nor model.config.dropout) to ramp dropout to")
