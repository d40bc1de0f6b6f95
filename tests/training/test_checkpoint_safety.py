"""No checkpoint runs code, on any path that loads one (issue 12 §2).

Every crafted checkpoint holds a `Payload` that creates the folder `marker` when unpickled. The
paths: a torch.distributed.checkpoint folder through ``ernie3-lite fit --trainer.strategy
ModelParallelStrategy --ckpt_path FOLDER``, ``ship export`` (last.ckpt a folder) and
`pretrain(ckpt_path=FOLDER)`; a ``.ckpt`` file through `pretrain`, ``ship train --resume``, the
CLI and `finetune.load_checkpoint`, with ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` set (torch's
default then unpickles everything). Also: no ``torch.load`` in the package without
``weights_only=True``.
"""

from __future__ import annotations

import ast
import json
import os
import pickle
from pathlib import Path

import pytest
import torch

from ernie3_lite import DATA_SAMPLES, PACKAGE_ROOT
from ernie3_lite.cli import cli_main
from ernie3_lite.errors import CheckpointError
from ernie3_lite.finetune.api import load_checkpoint
from ernie3_lite.training import ship
from ernie3_lite.training.checkpoint_io import AtomicCheckpointIO
from ernie3_lite.training.run import pretrain

CONFIG = str(Path(__file__).resolve().parents[2] / "configs" / "pretrain_test.yaml")


class Payload:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return os.makedirs, (self.marker,)


def evil_folder(folder: Path, marker: Path) -> Path:
    """A folder that looks like a DCP checkpoint; its .metadata is the payload."""
    folder.mkdir(parents=True)
    (folder / ".metadata").write_bytes(pickle.dumps(Payload(marker)))
    (folder / "__0_0.distcp").write_bytes(b"")
    return folder


def evil_ckpt(path: Path, marker: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": {}, "global_step": 1, "evil": Payload(marker)}, path)
    return path


def test_payload_really_runs_when_unpickled(tmp_path):
    pickle.loads(pickle.dumps(Payload(tmp_path / "live")))
    assert (tmp_path / "live").is_dir()


def test_cli_model_parallel_fit_refuses_the_folder_before_lightning(tmp_path, capsys):
    marker = tmp_path / "pwned"
    folder = evil_folder(tmp_path / "ckpt", marker)
    with pytest.raises(SystemExit) as stop:
        cli_main(["fit", "--config", CONFIG, "--trainer.strategy=ModelParallelStrategy",
                  f"--trainer.default_root_dir={tmp_path / 'run'}", "--ckpt_path", str(folder)])
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "ckpt/.metadata: refused" in err and "makedirs" in err and "\n" not in err
    assert not marker.exists()


def test_ship_export_refuses_a_folder_last_ckpt(tmp_path):
    marker, run = tmp_path / "pwned", tmp_path / "run"
    evil_folder(run / "checkpoints" / "last.ckpt", marker)
    (run / "history.json").write_text(json.dumps({"train": {}, "val": {}, "seconds": 1,
                                                  "steps": 1}))
    with pytest.raises(CheckpointError, match=r"last.ckpt/.metadata: refused"):
        ship.main(["export", "--run", str(run), "--data", str(DATA_SAMPLES),
                   "--out", str(tmp_path / "out")])
    assert not marker.exists() and not (tmp_path / "out").exists()


def test_pretrain_refuses_a_folder_before_reading_data(tmp_path):
    marker = tmp_path / "pwned"
    folder = evil_folder(tmp_path / "ckpt", marker)
    with pytest.raises(CheckpointError, match="refused"):
        pretrain(tmp_path / "no_data_here", ckpt_path=folder, out_dir=tmp_path / "run")
    assert not marker.exists()


@pytest.fixture
def no_weights_only(monkeypatch):
    """torch's default weights_only becomes False: only an explicit True protects."""
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")


def test_pretrain_loads_a_ckpt_weights_only(tmp_path, no_weights_only):
    marker = tmp_path / "pwned"
    ckpt = evil_ckpt(tmp_path / "run" / "checkpoints" / "last.ckpt", marker)
    with pytest.raises(CheckpointError, match=r"last.ckpt: refused by torch.load\(weights_only"):
        pretrain(DATA_SAMPLES, preset="test", max_steps=2, warmup_steps=1, batch_size=2,
                 max_len=32, seg_len=32, progress_bar=False, out_dir=tmp_path / "run",
                 ckpt_path=ckpt)
    assert not marker.exists()


def test_ship_train_resume_loads_weights_only(tmp_path, no_weights_only):
    marker, run = tmp_path / "pwned", tmp_path / "run"
    evil_ckpt(run / "checkpoints" / "last.ckpt", marker)
    with pytest.raises(CheckpointError, match="refused by torch.load"):
        ship.main(["train", "--data", str(DATA_SAMPLES), "--out", str(run), "--steps", "2",
                   "--warmup", "1", "--resume"])
    assert not marker.exists()


def test_cli_fit_loads_weights_only(tmp_path, no_weights_only, capsys):
    marker = tmp_path / "pwned"
    ckpt = evil_ckpt(tmp_path / "evil.ckpt", marker)
    with pytest.raises(SystemExit):
        cli_main(["fit", "--config", CONFIG, f"--trainer.default_root_dir={tmp_path / 'run'}",
                  "--ckpt_path", str(ckpt)])
    err = capsys.readouterr().err.strip()
    assert "evil.ckpt: refused by torch.load(weights_only=True)" in err and "\n" not in err
    assert not marker.exists()


def test_the_cli_trainer_saves_and_loads_through_the_safe_plugin(tmp_path):
    cli = cli_main(["--config", CONFIG, f"--trainer.default_root_dir={tmp_path}"], run=False)
    assert isinstance(cli.trainer.strategy.checkpoint_io, AtomicCheckpointIO)


def test_cli_refuses_weights_only_false(tmp_path, capsys):
    ckpt = evil_ckpt(tmp_path / "evil.ckpt", tmp_path / "pwned")
    with pytest.raises(SystemExit):
        cli_main(["fit", "--config", CONFIG, f"--trainer.default_root_dir={tmp_path / 'run'}",
                  "--ckpt_path", str(ckpt), "--weights_only=false"])
    assert "weights_only=false is refused" in capsys.readouterr().err


def test_finetune_load_checkpoint_is_weights_only(tmp_path, no_weights_only):
    marker = tmp_path / "pwned"
    torch.save({"finetune_task": "sentiment", "state_dict": {}, "evil": Payload(marker)},
               tmp_path / "evil.ckpt")
    with pytest.raises(CheckpointError, match="refused by torch.load"):
        load_checkpoint(tmp_path / "evil.ckpt")
    assert not marker.exists()


def test_the_checkpoint_io_refuses_weights_only_false(tmp_path):
    ckpt = evil_ckpt(tmp_path / "evil.ckpt", tmp_path / "pwned")
    with pytest.raises(CheckpointError, match="weights_only=False would let"):
        AtomicCheckpointIO().load_checkpoint(ckpt, weights_only=False)


def test_every_torch_load_in_the_package_says_weights_only_true():
    unsafe = []
    for path in sorted(PACKAGE_ROOT.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and ast.unparse(node.func) in ("torch.load",
                                                                         "pickle.load"):
                flags = {k.arg: ast.unparse(k.value) for k in node.keywords}
                if flags.get("weights_only") != "True":
                    unsafe.append(f"{path.relative_to(PACKAGE_ROOT)}:{node.lineno}")
    assert not unsafe
