"""`ernie3-lite fit` (ernie3_lite/cli.py) and every YAML in configs/.

Bad values are tried in-process (`cli_main` stops before any data is read); one end-to-end run
and one error go through `python -m ernie3_lite` in a subprocess, as a user would type them.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from jsonargparse import Namespace
from lightning.pytorch.callbacks import ModelCheckpoint

from ernie3_lite.cli import StepSeed, cli_main, expand_dotted_overrides
from ernie3_lite.training import ProgressiveLearning

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = sorted((ROOT / "configs").glob("pretrain_*.yaml"))
TEST_CONFIG = str(ROOT / "configs" / "pretrain_test.yaml")
GPU_CONFIGS = {"pretrain_small", "pretrain_base"}  # built on the CPU here, from data_samples


def test_there_are_the_four_configs():
    assert {c.stem for c in CONFIGS} >= {"pretrain_test", "pretrain_nano", "pretrain_small",
                                         "pretrain_base"}


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_every_config_parses_and_passes_the_checks(path):
    config = cli_main(["--config", str(path)], run=False, instantiate=False).config
    assert config.trainer.max_steps > 0 and isinstance(config.trainer.val_check_interval, int)
    assert config.model.warmup_steps < config.trainer.max_steps
    assert config.trainer.default_root_dir == str(Path("runs") / path.stem)
    assert config.checkpoint.dirpath == str(Path("runs") / path.stem / "checkpoints")
    assert config.checkpoint.save_last is True
    if path.stem in GPU_CONFIGS:  # the GPU path: bf16 autocast (auto) and fused attention
        assert config.trainer.precision == "auto"
        assert config.model.config_overrides["attention_impl"] == "sdpa"
        assert config.compile is False


@pytest.mark.parametrize("path", [pytest.param(c, marks=pytest.mark.slow)
                                  if c.stem == "pretrain_base" else c for c in CONFIGS],
                         ids=lambda p: p.stem)
def test_every_config_builds_linked_objects(path, tmp_path):
    cpu = ["--trainer.accelerator=cpu", "--data.data_dir=data_samples", "--data.num_workers=0",
           f"--trainer.default_root_dir={tmp_path}"]
    cli = cli_main(["--config", str(path), *cpu], run=False)
    model, data = cli.model, cli.datamodule
    assert model.config.vocab_size == data.vocab_size == data.tokenizer.vocab_size
    assert model.config.sr_max_segments == data.max_segments
    assert model.task_weights == data.task_weights
    assert data.max_len <= model.config.max_seq_len and data.seg_len <= model.config.max_seq_len
    kinds = {type(c): c for c in cli.trainer.callbacks}
    assert ProgressiveLearning in kinds and StepSeed in kinds
    assert kinds[ModelCheckpoint].save_last and kinds[ModelCheckpoint].dirpath == str(
        tmp_path / "checkpoints")


# ---- bad values stop before training, naming the field ---------------------------------------
BAD = {
    "--model.config_overrides.universal.n_head=5":
        "Ernie3Config.universal.d_model=32 must be divisible by n_head=5",
    "--model.config_overrides={universal: {d_model: 100, n_head: 3}}":
        "Ernie3Config.universal.d_model=100 must be divisible by n_head=3",
    "--data.batch_size=0": "Ernie3DataModule.batch_size=0 must be >= 1",
    "--model.preset=huge": "model.preset='huge' is not a preset",
    "--trainer.max_steps=-1": "trainer.max_steps=-1 must be > 0",
    "--model.warmup_steps=10000": "model.warmup_steps=10000 must be < the trainer.max_steps=6",
    "--trainer.val_check_interval=0.5": "trainer.val_check_interval=0.5 must be an int",
    "--data.max_len=64": "data.max_len=64 exceeds the model's max_seq_len=32",
    "--data.task_weights.kmlm=-1": "Ernie3DataModule.task_weights['kmlm']=-1.0 must be",
    "--progressive.start_batch_size=0": "ProgressiveLearning.start_batch_size=0 must be",
    "--data.data_dir=no_such_dir": "Ernie3DataModule.data_dir='no_such_dir': no vocab.txt",
    "--compile=true": "set progressive.start_dropout=0.1 (or compile=false)",
}


@pytest.mark.parametrize("flag", BAD)
def test_a_bad_value_stops_before_training_and_names_the_field(flag, tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        cli_main(["fit", "--config", TEST_CONFIG, f"--trainer.default_root_dir={tmp_path}", flag])
    assert stop.value.code == 2
    assert BAD[flag] in capsys.readouterr().err
    assert not (tmp_path / "checkpoints").exists()  # nothing trained


def test_dotted_overrides_are_nested_and_typed():
    model = Namespace(config_overrides={"universal.d_model": 64, "nlg": {"n_head": "2"},
                                        "dropout": 0.2})
    expand_dotted_overrides(model)
    assert model.config_overrides == {"universal": {"d_model": 64}, "nlg": {"n_head": 2},
                                      "dropout": 0.2}


def test_step_seed_makes_dropout_a_function_of_the_step():
    callback = StepSeed(seed=7)

    class At:  # the parts of a Trainer that StepSeed reads
        global_rank, world_size, strategy = 0, 1, None

        def __init__(self, step):
            self.global_step = step

    def mask(step):
        torch.manual_seed(1234 + step)  # whatever came before must not matter
        callback.on_train_batch_start(At(step), None, None, 0)
        return torch.nn.functional.dropout(torch.ones(64), 0.5)

    assert torch.equal(mask(3), mask(3)) and not torch.equal(mask(3), mask(4))


# ---- end to end, as typed in a shell ----------------------------------------------------------
def run(*args: str, cwd: Path, timeout: float = 180) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


def test_python_m_ernie3_lite_fit_trains_quietly_into_runs(tmp_path):
    done = run("ernie3_lite", "fit", "--config", TEST_CONFIG, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    root = tmp_path / "runs" / "pretrain_test"  # named after the config file
    assert (root / "checkpoints" / "last.ckpt").is_file()
    logs = root / "lightning_logs" / "version_0"
    assert (logs / "config.yaml").is_file()
    with open(logs / "metrics.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["train/loss"]]
    assert [int(r["step"]) for r in rows] == list(range(6))
    assert {f"train/{t}_loss" for t in ("kmlm", "dlm", "sr", "sd", "uktp")} <= set(rows[0])
    assert "GPU available" not in done.stderr and "Seed set" not in done.stderr
    ckpt = torch.load(root / "checkpoints" / "last.ckpt", weights_only=True)
    assert ckpt["global_step"] == 6 and ckpt["dlm_memory"]["data_parallel_size"] == 1


def test_cli_module_reports_an_error_with_status_2(tmp_path):
    done = run("ernie3_lite.cli", "fit", "--config", TEST_CONFIG, "--data.batch_size=0",
               cwd=tmp_path, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == (
        "ernie3-lite fit: error: ConfigError: Ernie3DataModule.batch_size=0 must be >= 1")

