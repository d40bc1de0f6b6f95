"""`pretrain()` trains all five tasks and records the history the demo prints and plots."""

from __future__ import annotations

import math

import pytest
import torch

from ernie3_lite import DATA_SAMPLES
from ernie3_lite.model.ernie3 import Ernie3Model
from ernie3_lite.training.run import pretrain


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return pretrain(DATA_SAMPLES, preset="test", max_steps=4, warmup_steps=2, val_every=2,
                    max_len=32, seg_len=32, progress_bar=False, log_every=2,
                    out_dir=tmp_path_factory.mktemp("run"))


def test_pretrain_records_every_task_and_writes_a_resumable_checkpoint(run):
    assert run.trainer.global_step == 4
    for task in ("kmlm", "dlm", "sr", "sd", "uktp"):
        series = run.history.train[f"train/{task}_loss"]
        # per-task values are logged on every 2nd step (0 and 2), recorded after the step
        assert [step for step, _ in series] == [1, 3]
        assert all(math.isfinite(v) for _, v in series)
        assert run.history.val[f"val/{task}_loss"]
    # progressive learning grew the sequence length over the warm-up
    seq = [v for _, v in run.history.train["progressive/seq_len"]]
    assert seq[0] < seq[-1] == 32
    assert run.checkpoint is not None and run.checkpoint.exists()
    state = torch.load(run.checkpoint, map_location="cpu", weights_only=True)
    assert state["global_step"] == 4


def test_demo_export_loads_back(run, tmp_path):
    model = run.module.model.eval()
    model.save_pretrained(tmp_path / "model", tokenizer=run.datamodule.tokenizer)
    loaded = Ernie3Model.from_pretrained(tmp_path / "model")
    ids = torch.tensor([run.datamodule.tokenizer.encode("中国人民")])
    torch.testing.assert_close(loaded.forward_nlu(ids).hidden, model.forward_nlu(ids).hidden)
