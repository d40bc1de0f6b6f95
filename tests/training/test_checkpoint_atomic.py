"""Nothing is lost when a run dies or the disk fills (issue 12 §3).

* `AtomicCheckpointIO` writes a checkpoint beside its target (never in $TMPDIR) and renames it;
  a save that dies half-way leaves the previous ``last.ckpt`` whole and no temporary file;
* resuming from an unreadable ``last.ckpt`` (0 bytes, truncated) says so in one line and goes
  on from the newest readable step checkpoint; with none, a one-line error;
* a pretrained export that fails after the weights were written leaves the previous folder
  (here a copy of the shipped nano model, the default ``ship export --out``) intact.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
from pathlib import Path

import pytest
import torch

from ernie3_lite import DATA_SAMPLES, PRETRAINED_NANO
from ernie3_lite.cli import cli_main
from ernie3_lite.config import Ernie3Config
from ernie3_lite.errors import CheckpointError
from ernie3_lite.model.ernie3 import Ernie3Model
from ernie3_lite.tokenization import CharTokenizer
from ernie3_lite.training import checkpoint_io, ship
from ernie3_lite.training.checkpoint_io import AtomicCheckpointIO
from ernie3_lite.training.resume import resolve_resume
from ernie3_lite.training.run import pretrain

CONFIG = str(Path(__file__).resolve().parents[2] / "configs" / "pretrain_test.yaml")
pytestmark = pytest.mark.filterwarnings("ignore:Checkpoint directory .* exists and is not empty")


class Killed(RuntimeError):
    pass


@pytest.fixture
def other_tmpdir(tmp_path, monkeypatch):
    """$TMPDIR somewhere else (on a real machine: another filesystem); must stay empty."""
    elsewhere = tmp_path / "tmpdir"
    elsewhere.mkdir()
    monkeypatch.setenv("TMPDIR", str(elsewhere))
    monkeypatch.setattr("tempfile.tempdir", None)  # re-read $TMPDIR
    return elsewhere


def test_a_checkpoint_is_written_beside_its_target_not_in_tmpdir(tmp_path, other_tmpdir,
                                                                 monkeypatch):
    target, seen = tmp_path / "ckpts" / "last.ckpt", []

    def spying_save(obj, f):
        seen.append(sorted(os.listdir(target.parent)))
        torch.save.__wrapped__(obj, f)

    spying_save.__wrapped__ = torch.save
    monkeypatch.setattr(checkpoint_io.torch, "save", spying_save)
    old = os.umask(0o027)
    try:
        AtomicCheckpointIO().save_checkpoint({"step": torch.tensor(1)}, target)
    finally:
        os.umask(old)
    assert len(seen[0]) == 1 and seen[0][0].startswith(".last.ckpt.")  # the temporary, beside
    assert os.listdir(target.parent) == ["last.ckpt"] and not os.listdir(other_tmpdir)
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert torch.load(target, weights_only=True)["step"] == 1


def test_a_save_killed_half_way_keeps_the_old_checkpoint(tmp_path, monkeypatch):
    target = tmp_path / "last.ckpt"
    AtomicCheckpointIO().save_checkpoint({"step": torch.tensor(1)}, target)

    def dies_while_writing(obj, f):
        f.write(b"PK\x03\x04 half a zip")
        raise Killed

    monkeypatch.setattr(checkpoint_io.torch, "save", dies_while_writing)
    with pytest.raises(Killed):
        AtomicCheckpointIO().save_checkpoint({"step": torch.tensor(2)}, target)
    assert torch.load(target, weights_only=True)["step"] == 1
    assert os.listdir(tmp_path) == ["last.ckpt"]


def step_ckpts(folder: Path, *steps: int) -> None:
    for step in steps:
        AtomicCheckpointIO().save_checkpoint({"global_step": step}, folder / f"step{step}.ckpt")


@pytest.mark.parametrize("damage", ["empty", "truncated"])
def test_an_unreadable_last_falls_back_to_the_newest_readable_step(tmp_path, damage, capsys):
    step_ckpts(tmp_path, 3, 6, 9)
    AtomicCheckpointIO().save_checkpoint({"global_step": 9}, tmp_path / "last.ckpt")
    (tmp_path / "step9.ckpt").write_bytes(b"")  # the newest step is broken too
    data = (tmp_path / "last.ckpt").read_bytes()
    (tmp_path / "last.ckpt").write_bytes(b"" if damage == "empty" else data[: len(data) // 2])
    assert resolve_resume("last", folder=tmp_path) == str(tmp_path / "step6.ckpt")
    assert resolve_resume(tmp_path / "last.ckpt") == str(tmp_path / "step6.ckpt")
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 2 and "last.ckpt is" in lines[0] and "step6.ckpt instead" in lines[0]


def test_no_readable_checkpoint_is_one_clear_error(tmp_path):
    (tmp_path / "last.ckpt").write_bytes(b"")
    (tmp_path / "step3.ckpt").write_bytes(b"junk")
    with pytest.raises(CheckpointError, match=r"last.ckpt: is empty \(0 bytes\), and no "
                                              "readable checkpoint is beside it"):
        resolve_resume(tmp_path / "last.ckpt")


def test_cli_resumes_past_a_zero_byte_last_ckpt(tmp_path, capsys):
    root = tmp_path / "run"
    cli_main(["fit", "--config", CONFIG, f"--trainer.default_root_dir={root}",
              "--trainer.max_steps=3", "--checkpoint.every_n_train_steps=3"])
    (root / "checkpoints" / "last.ckpt").write_bytes(b"")  # killed while it was written
    capsys.readouterr()
    cli_main(["fit", "--config", CONFIG, f"--trainer.default_root_dir={root}",
              "--trainer.max_steps=4", "--checkpoint.every_n_train_steps=3",
              "--ckpt_path", "last"])
    assert "last.ckpt is empty (0 bytes); resuming from" in capsys.readouterr().err
    # Lightning writes last-v1.ckpt beside the broken last.ckpt; "last" now means that one
    assert resolve_resume("last", folder=root / "checkpoints").endswith("last-v1.ckpt")
    newest = resolve_resume("last", folder=root / "checkpoints")
    assert torch.load(newest, weights_only=True)["global_step"] == 4


def test_cli_with_nothing_readable_stops_with_one_line(tmp_path, capsys):
    folder = tmp_path / "run" / "checkpoints"
    folder.mkdir(parents=True)
    (folder / "last.ckpt").write_bytes(b"")
    with pytest.raises(SystemExit) as stop:
        cli_main(["fit", "--config", CONFIG, f"--trainer.default_root_dir={tmp_path / 'run'}",
                  "--ckpt_path", "last"])
    err = capsys.readouterr().err.strip()
    assert stop.value.code == 2 and err.count("\n") == 0 and "is empty (0 bytes)" in err


def test_pretrain_and_ship_resume_refuse_an_empty_last_in_one_line(tmp_path):
    last = tmp_path / "run" / "checkpoints" / "last.ckpt"
    last.parent.mkdir(parents=True)
    last.write_bytes(b"")
    with pytest.raises(CheckpointError, match="is empty"):
        pretrain(DATA_SAMPLES, ckpt_path=last, out_dir=tmp_path / "run")
    with pytest.raises(CheckpointError, match="is empty"):
        ship.main(["train", "--data", str(DATA_SAMPLES), "--out", str(tmp_path / "run"),
                   "--resume"])


def digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_ship_export_failing_after_the_weights_leaves_the_old_export(tmp_path, monkeypatch):
    shipped = tmp_path / "pretrained" / "nano"  # a copy: the package's own is never touched
    shutil.copytree(PRETRAINED_NANO, shipped)
    before = digest(shipped)
    run = tmp_path / "run"
    model = Ernie3Model(Ernie3Config.from_file(shipped / "config.json"))
    (run / "checkpoints").mkdir(parents=True)
    torch.save({"state_dict": {f"model.{k}": v for k, v in model.state_dict().items()},
                "hyper_parameters": {"config": model.config.to_dict()}, "global_step": 1},
               run / "checkpoints" / "last.ckpt")
    (run / "history.json").write_text(json.dumps({"train": {}, "val": {}, "seconds": 1,
                                                  "steps": 1}))

    real_save = CharTokenizer.save

    def full_disk(self, path):
        if Path(path).parent.parent != shipped.parent:  # ship's first export, into $TMPDIR
            return real_save(self, path)
        assert (Path(path).parent / "model.safetensors").is_file()  # the weights are written
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(CharTokenizer, "save", full_disk)
    with pytest.raises(OSError, match="No space left"):
        ship.main(["export", "--run", str(run), "--data", str(DATA_SAMPLES),
                   "--out", str(shipped)])
    assert digest(shipped) == before
    assert sorted(p.name for p in shipped.parent.iterdir()) == ["nano"]
    Ernie3Model.from_pretrained(shipped)  # still loads


def test_an_export_gets_the_umask_mode(tmp_path):
    old = os.umask(0o022)
    try:
        Ernie3Model(Ernie3Config.from_name("test")).save_pretrained(tmp_path / "m")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "m" / "model.safetensors").stat().st_mode) == 0o644
