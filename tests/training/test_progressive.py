"""Progressive learning schedule and callback (ernie3_lite/training/progressive.py)."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import lightning as L
import pytest
import torch
from torch import nn

from ernie3_lite import DATA_SAMPLES
from ernie3_lite.training.datamodule import Ernie3DataModule
from ernie3_lite.training.progressive import (
    ProgressiveLearning,
    ProgressiveValues,
    progressive_schedule,
    progressive_values,
    schedule_table,
)

for _name in ("lightning.pytorch", "lightning.fabric"):
    logging.getLogger(_name).setLevel(logging.ERROR)

DATA = dict(data_dir=str(DATA_SAMPLES), batch_size=4, max_len=64, dlm_batch_size=2, seg_len=16,
            val_batches=1)
QUIET = dict(accelerator="cpu", logger=False, enable_checkpointing=False,
             enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
             val_check_interval=3)  # the train stream is endless: validate every 3 steps


# ---- the pure schedule ---------------------------------------------------------------------------
def test_progressive_schedule_is_linear_from_start_to_end_then_constant():
    ramp = [progressive_schedule(s, warmup_steps=10, start=2.0, end=12.0) for s in range(15)]
    assert ramp[0] == 2.0 and ramp[5] == 7.0 and ramp[10:] == [12.0] * 5
    assert all(a < b for a, b in zip(ramp[:10], ramp[1:11], strict=True))
    assert progressive_schedule(-3, warmup_steps=10, start=2.0, end=12.0) == 2.0
    assert progressive_schedule(0, warmup_steps=0, start=2.0, end=12.0) == 12.0
    with pytest.raises(ValueError, match="warmup_steps=-1"):
        progressive_schedule(0, warmup_steps=-1, start=0.0, end=1.0)


def test_progressive_values_round_seq_len_to_8_and_reach_the_end_exactly():
    start, end = ProgressiveValues(16, 1, 0.0), ProgressiveValues(100, 6, 0.1)
    values = [progressive_values(s, warmup_steps=7, start=start, end=end) for s in range(10)]
    assert values[0] == ProgressiveValues(16, 1, 0.0)
    assert values[7:] == [end] * 3  # 100 is no multiple of 8, yet the ramp ends on it
    for earlier, later in zip(values, values[1:], strict=False):
        assert earlier.seq_len <= later.seq_len and earlier.batch_size <= later.batch_size
        assert earlier.dropout < later.dropout or later.dropout == 0.1
    assert all(v.seq_len % 8 == 0 for v in values[:7])
    assert all(1 <= v.batch_size <= 6 for v in values)


def test_schedule_table_gives_one_row_per_step():
    rows = schedule_table(warmup_steps=4, start=(16, 2, 0.0), end=(64, 8, 0.1), steps=6)
    assert [r["step"] for r in rows] == list(range(6))
    assert rows[0] == {"step": 0, "seq_len": 16, "batch_size": 2, "dropout": 0.0}
    assert rows[2] == {"step": 2, "seq_len": 40, "batch_size": 5, "dropout": 0.05}
    assert rows[4] == rows[5] | {"step": 4} == {"step": 4, "seq_len": 64, "batch_size": 8,
                                                 "dropout": 0.1}
    assert [r["step"] for r in schedule_table(warmup_steps=4, start=(16, 2, 0.0),
                                              end=(64, 8, 0.1), steps=[0, 100])] == [0, 100]


@pytest.mark.parametrize("kwargs, fragment", [
    (dict(warmup_steps=-1, start_seq_len=16, start_batch_size=1), "warmup_steps=-1"),
    (dict(warmup_steps=5, start_seq_len=4, start_batch_size=1), "start_seq_len=4"),
    (dict(warmup_steps=5, start_seq_len=16, start_batch_size=0), "start_batch_size=0"),
    (dict(warmup_steps=5, start_seq_len=16, start_batch_size=1, start_dropout=1.0),
     "start_dropout=1.0"),
])
def test_callback_arguments_are_named(kwargs, fragment):
    with pytest.raises(ValueError, match=fragment):
        ProgressiveLearning(**kwargs)


# ---- the callback driving a real Trainer -----------------------------------------------------
class StandIn(L.LightningModule):
    """A tiny module with the hooks the callback needs; it records what each step receives."""

    def __init__(self, dropout: float = 0.2):
        super().__init__()
        self.config = SimpleNamespace(dropout=dropout)
        self.linear, self.dropout = nn.Linear(1, 1), nn.Dropout(0.0)
        self.records: list[dict] = []
        self.validated: list[int] = []

    def set_dropout(self, p: float) -> None:
        for module in self.modules():
            if isinstance(module, nn.Dropout):
                module.p = p

    def training_step(self, batch, batch_idx):
        self.records.append({
            "step": self.trainer.global_step,
            "nlu": {t: tuple(batch[t]["input_ids"].shape) for t in ("kmlm", "uktp", "sr", "sd")},
            "dlm": tuple(batch["dlm"]["input_ids"].shape),
            "dlm_first": batch["dlm"]["input_ids"][:, 0].clone(),
            "dlm_last_label": batch["dlm"]["labels"][:, -1].clone(),
            "dropout": self.dropout.p,
        })
        x = batch["kmlm"]["attention_mask"].float().mean(dim=1, keepdim=True)  # (B, 1)
        return self.dropout(self.linear(x)).pow(2).mean()

    def validation_step(self, batch, batch_idx):
        assert bool(batch["dlm"]["reset"]) == (batch_idx == 0)
        self.validated.append(self.trainer.global_step)

    def configure_optimizers(self):
        optimizer = torch.optim.SGD(self.parameters(), lr=0.1)
        warmup = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, (s + 1) / 4))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": warmup, "interval": "step"}}


@pytest.fixture(scope="module")
def data() -> Ernie3DataModule:
    return Ernie3DataModule(**DATA)


def fit(data, module, callback, *, max_steps, ckpt_path=None, **trainer_kwargs) -> L.Trainer:
    trainer = L.Trainer(max_steps=max_steps, callbacks=[callback], **{**QUIET, **trainer_kwargs})
    trainer.fit(module, datamodule=data, ckpt_path=ckpt_path)
    return trainer


def test_callback_drives_seq_len_batch_size_and_dropout_step_by_step(data):
    callback = ProgressiveLearning(warmup_steps=4, start_seq_len=16, start_batch_size=1)
    module = StandIn(dropout=0.2)
    trainer = fit(data, module, callback, max_steps=6, log_every_n_steps=1)
    assert [r["step"] for r in module.records] == list(range(6))
    for record in module.records:
        want = progressive_values(record["step"], warmup_steps=4,
                                  start=ProgressiveValues(16, 1, 0.0),
                                  end=ProgressiveValues(64, 4, 0.2))
        for rows, length in record["nlu"].values():
            assert rows == want.batch_size and length <= want.seq_len
        assert record["nlu"]["kmlm"][1] == want.seq_len or want.batch_size == 1
        assert record["dlm"] == (2, max(8, round(16 * want.seq_len / 64)))
        assert record["dropout"] == pytest.approx(want.dropout)
    assert [r["dropout"] for r in module.records] == pytest.approx([0.0, 0.05, 0.1, 0.15, 0.2, 0.2])
    assert module.validated == [3, 6]  # one fixed validation batch after steps 3 and 6
    for prev, rec in zip(module.records, module.records[1:], strict=False):
        assert torch.equal(rec["dlm_first"], prev["dlm_last_label"])  # lengths change, rows flow
    logged = trainer.callback_metrics
    assert logged["progressive/seq_len"] == 64 and logged["progressive/batch_size"] == 4
    assert logged["progressive/dropout"] == pytest.approx(0.2)
    assert logged["progressive/lr"] == pytest.approx(0.1)  # warm-up over: the base LR


def test_a_resumed_run_gets_the_same_steps_as_an_uninterrupted_one(data, tmp_path):
    straight = StandIn()
    fit(data, straight, ProgressiveLearning(4, 16, 1), max_steps=6)
    first_half = StandIn()
    trainer = fit(data, first_half, ProgressiveLearning(4, 16, 1), max_steps=3)
    trainer.save_checkpoint(tmp_path / "half.ckpt")
    resumed = StandIn()
    fit(data, resumed, ProgressiveLearning(4, 16, 1), max_steps=6,
        ckpt_path=tmp_path / "half.ckpt")
    assert [r["step"] for r in resumed.records] == [3, 4, 5]
    for want, got in zip(straight.records[3:], resumed.records, strict=True):
        assert got["nlu"] == want["nlu"] and got["dlm"] == want["dlm"]
        assert got["dropout"] == pytest.approx(want["dropout"])
        assert torch.equal(got["dlm_first"], want["dlm_first"])


def test_callback_refuses_a_start_the_data_cannot_build(data):
    with pytest.raises(ValueError, match="start_batch_size=5"):
        fit(data, StandIn(), ProgressiveLearning(4, 16, 5), max_steps=1)


def test_callback_needs_set_dropout(data):
    class NoDropout(StandIn):
        set_dropout = None

    with pytest.raises(TypeError, match="NoDropout.set_dropout"):
        fit(data, NoDropout(), ProgressiveLearning(4, 16, 1), max_steps=1)


def test_schedule_is_logged_only_on_logging_steps(data):
    module = StandIn(dropout=0.2)
    trainer = fit(data, module, ProgressiveLearning(4, 16, 1), max_steps=4, log_every_n_steps=2)
    # steps 0..3 ran, steps 0 and 2 logged: the values of step 2, not of the last step (3)
    at = [progressive_values(step, warmup_steps=4, start=ProgressiveValues(16, 1, 0.0),
                             end=ProgressiveValues(64, 4, 0.2)) for step in (2, 3)]
    assert at[0].seq_len != at[1].seq_len
    assert trainer.callback_metrics["progressive/seq_len"] == at[0].seq_len
