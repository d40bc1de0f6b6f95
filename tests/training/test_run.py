"""`pretrain()` trains all five tasks and records the history the demo prints and plots; its
switches for the ablations (task weights, extra callbacks, no ramp, character-only masking)."""

from __future__ import annotations

import math

import lightning as L
import pytest
import torch

from ernie3_lite import DATA_SAMPLES
from ernie3_lite.model.ernie3 import Ernie3Model
from ernie3_lite.training.datamodule import Ernie3DataModule
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



class CrashAt(L.Callback):
    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if trainer.global_step == self.step:
            raise RuntimeError("killed")


def test_a_killed_run_resumes_from_its_periodic_checkpoint_and_ends_as_the_uninterrupted_one(
        run, tmp_path):
    kwargs = dict(preset="test", max_steps=4, warmup_steps=2, val_every=2, max_len=32, seg_len=32,
                  progress_bar=False, log_every=2, out_dir=tmp_path, checkpoint_every=2)
    with pytest.raises(RuntimeError, match="killed"):
        pretrain(DATA_SAMPLES, callbacks=[CrashAt(3)], **kwargs)
    last = tmp_path / "checkpoints" / "last.ckpt"
    assert torch.load(last, map_location="cpu", weights_only=True)["global_step"] == 2
    resumed = pretrain(DATA_SAMPLES, ckpt_path=last, **kwargs)
    assert resumed.trainer.global_step == 4
    # the history came back with the checkpoint: the whole run's, as the uninterrupted one's
    assert resumed.history.train["train/kmlm_loss"] == run.history.train["train/kmlm_loss"]
    assert resumed.history.seconds_before > 0 and resumed.history.seconds > \
        resumed.history.seconds_before
    for name, want in run.module.model.state_dict().items():
        torch.testing.assert_close(resumed.module.model.state_dict()[name], want, msg=name)

# ---- the ablation switches: task weights, extra callbacks, no ramp, character-only masking ----
class StepCounter(L.Callback):
    def __init__(self) -> None:
        self.steps = 0

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.steps += 1


@pytest.fixture(scope="module")
def plain_run(tmp_path_factory):
    """Two tasks, a counting callback, no progressive ramp, characters-only masking."""
    counter = StepCounter()
    run = pretrain(DATA_SAMPLES, preset="test", max_steps=3, warmup_steps=2, val_every=3,
                   max_len=32, seg_len=32, progress_bar=False, log_every=1,
                   out_dir=tmp_path_factory.mktemp("plain_run"),
                   task_weights={"kmlm": 1.0, "dlm": 0.5, "sr": 0.0, "sd": 0.0, "uktp": 0.0},
                   callbacks=[counter], progressive=False, masking_units="char",
                   config_overrides={"dropout": 0.1})
    return run, counter


def test_task_weights_reach_the_data_and_the_loss(plain_run):
    run, _ = plain_run
    assert run.datamodule.tasks == ("kmlm", "dlm")
    assert run.module.task_weights == {"kmlm": 1.0, "dlm": 0.5, "sr": 0.0, "sd": 0.0,
                                       "uktp": 0.0}
    trained = {key for key in run.history.train if key.endswith("_loss")}
    assert {"train/kmlm_loss", "train/dlm_loss"} <= trained
    assert not trained & {"train/sr_loss", "train/sd_loss", "train/uktp_loss"}


def test_extra_callbacks_are_called(plain_run):
    run, counter = plain_run
    assert counter.steps == run.trainer.global_step == 3


def test_progressive_false_trains_at_full_size_from_the_first_step(plain_run):
    plain, _ = plain_run
    logged = plain.history.train
    assert [v for _, v in logged["progressive/seq_len"]] == [32.0] * 3
    assert [v for _, v in logged["progressive/batch_size"]] == [8.0] * 3
    # the ramp would start dropout at 0 (`ProgressiveLearning.start_dropout`)
    assert [v for _, v in logged["progressive/dropout"]] == pytest.approx([0.1] * 3)
    lr = [v for _, v in logged["progressive/lr"]]
    assert lr[0] < lr[-1]  # the learning rate still warms up


def _masked_units(data: Ernie3DataModule, task: str, count: int) -> list:
    """Units the data module's own KMLM / UKTP builders mask in `count` training items."""
    nlu = data._train.nlu
    builder = nlu._builder(task, data.max_len)
    if task == "kmlm":
        return [u for chunk in nlu.data.chunks[:count] for u in builder.mask(chunk).masked.units]
    return [u for h, r, t, s in nlu.data.triples[:count]
            for u in builder.mask(head=h, relation=r, tail=t, sentence=s).masked.units]


def test_char_masking_never_masks_a_multi_character_unit(plain_run):
    run, _ = plain_run
    assert run.datamodule.masking_units == "char"
    char_data = Ernie3DataModule(batch_size=4, max_len=64, masking_units="char")
    mixed_data = Ernie3DataModule(batch_size=4, max_len=64)
    for data in (char_data, mixed_data):
        data.setup("fit")
    chars = _masked_units(char_data, "kmlm", 200)
    assert len(chars) > 200 and all(u.end - u.start == 1 and u.level == "char" for u in chars)
    mixed = _masked_units(mixed_data, "kmlm", 200)
    assert any(u.end - u.start > 1 for u in mixed)  # the default does mask whole units
    uktp = _masked_units(char_data, "uktp", 100)  # the masked relation is UKTP's task itself
    assert all(u.level == "relation" or u.end - u.start == 1 for u in uktp)
    assert {u.level for u in uktp} == {"char", "relation"}
    # the same token ids either way: only the candidate units differ
    assert [c.ids for c in char_data._train.nlu.data.chunks[:50]] == \
        [c.ids for c in mixed_data._train.nlu.data.chunks[:50]]
    with pytest.raises(ValueError, match="masking_units"):
        Ernie3DataModule(masking_units="word")
