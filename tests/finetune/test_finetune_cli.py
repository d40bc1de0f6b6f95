"""`python -m ernie3_lite.finetune` (ernie3_lite/finetune/cli.py) and configs/finetune_*.yaml.

Bad values are tried in-process (`cli_main` stops before anything is trained); one end-to-end
run goes through ``python -m ernie3_lite.finetune fit`` in a subprocess, as a user types it.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest
from lightning.pytorch.callbacks import ModelCheckpoint

from ernie3_lite import PRETRAINED_NANO
from ernie3_lite.finetune import (
    HeadlineGenerationModule,
    SequenceClassificationModule,
    TokenClassificationModule,
)
from ernie3_lite.finetune.cli import cli_main

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = {p.stem: p for p in sorted((ROOT / "configs").glob("finetune_*.yaml"))}
CLASSES = {"finetune_sentiment": SequenceClassificationModule,
           "finetune_ner": TokenClassificationModule,
           "finetune_headline": HeadlineGenerationModule}
SCRATCH = ["--model.init_args.pretrained=null", "--model.init_args.preset=test",
           "--data.max_len=32", "--trainer.precision=32-true", "--trainer.accelerator=cpu"]


def test_there_is_a_config_per_task():
    assert set(CONFIGS) == set(CLASSES)


@pytest.mark.parametrize("name", sorted(CLASSES))
def test_every_config_parses_and_passes_the_checks(name):
    config = cli_main(["--config", str(CONFIGS[name])], run=False, instantiate=False).config
    assert config.model.class_path == f"ernie3_lite.finetune.{CLASSES[name].__name__}"
    assert config.data.task == CLASSES[name].task
    assert config.trainer.max_epochs >= 1 and config.data.data_dir == "data_samples"
    assert config.trainer.default_root_dir == str(Path("runs") / name)
    assert config.checkpoint.dirpath == str(Path("runs") / name / "checkpoints")
    # filled in before anything is built: the shipped model's vocabulary for model and data
    vocab = str(PRETRAINED_NANO / "vocab.txt")
    assert config.data.vocab_file == config.model.init_args.vocab_file == vocab


@pytest.mark.parametrize("name", sorted(CLASSES))
def test_every_config_builds_the_linked_objects(name, tmp_path):
    cli = cli_main(["--config", str(CONFIGS[name]), f"--trainer.default_root_dir={tmp_path}"],
                   run=False)
    model, data = cli.model, cli.datamodule
    assert type(model) is CLASSES[name] and data.task == model.task
    assert model.config.vocab_size == model.tokenizer.vocab_size == data.vocab_size
    assert data.max_len <= model.config.max_seq_len
    if name != "finetune_headline":
        assert model.labels == data.labels  # read off the training split
    else:
        assert model.max_target_len == data.max_target_len
    checkpoint = next(c for c in cli.trainer.callbacks if isinstance(c, ModelCheckpoint))
    assert checkpoint.save_last and checkpoint.dirpath == str(tmp_path / "checkpoints")


def test_from_scratch_takes_max_seq_len_and_vocabulary_from_the_data(tmp_path):
    cli = cli_main(["--config", str(CONFIGS["finetune_ner"]), *SCRATCH,
                    f"--trainer.default_root_dir={tmp_path}"], run=False)
    assert cli.model.config.max_seq_len == 32 and cli.model.config.name == "test"
    assert cli.model.config.vocab_size == cli.datamodule.vocab_size


BAD = {
    "--data.task=ner": "data.task='ner' does not match the model SequenceClassificationModule",
    "--data.max_len=256": "data.max_len=256 exceeds the model's max_seq_len=128",
    "--data.batch_size=0": "FinetuneDataModule.batch_size=0 must be an int >= 1",
    "--data.data_dir=no_such_dir": "data.data_dir='no_such_dir': no such folder",
    "--model.init_args.pretrained=no_such_model": "model.init_args.pretrained='no_such_model': "
                                                  "no config.json",
    "--model.init_args.lr=-1": "model.init_args.lr=-1.0 must be a finite number > 0",
    "--model.init_args.warmup_ratio=1.5": "SequenceClassificationModule.warmup_ratio=1.5",
    "--model.init_args.freeze_universal=maybe": 'Parser key "freeze_universal"',
    "--trainer.max_epochs=null": "trainer.max_epochs or trainer.max_steps must be set",
    "--model=ernie3_lite.config.Ernie3Config": "does not correspond to a subclass of "
                                               "FinetuneModule",
}


@pytest.mark.parametrize("flag", sorted(BAD))
def test_a_bad_value_stops_before_training_naming_the_field(flag, capsys):
    with pytest.raises(SystemExit) as stop:
        cli_main(["--config", str(CONFIGS["finetune_sentiment"]), flag], run=False)
    assert stop.value.code == 2
    assert BAD[flag] in capsys.readouterr().err


def test_scratch_with_an_unknown_preset_and_mismatched_headline_lengths(capsys):
    for flags, message in (
            (["--model.init_args.pretrained=null", "--model.init_args.preset=huge"],
             "model.init_args.preset='huge' is not a preset"),
            (["--data.max_target_len=16"],
             "data.max_target_len=16 must equal model.init_args.max_target_len=32")):
        config = CONFIGS["finetune_headline"]
        with pytest.raises(SystemExit):
            cli_main(["--config", str(config), *flags], run=False, instantiate=False)
        assert message in capsys.readouterr().err


@pytest.mark.slow
def test_fit_then_test_from_a_shell(tmp_path):
    """`fit` writes last.ckpt and per-epoch val/f1; `test --ckpt_path` scores it."""
    run = tmp_path / "run"
    common = ["--config", str(CONFIGS["finetune_ner"]), *SCRATCH,
              f"--trainer.default_root_dir={run}", "--trainer.enable_progress_bar=false"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    fit = subprocess.run(
        [sys.executable, "-m", "ernie3_lite.finetune", "fit", *common, "--trainer.max_epochs=1",
         "--trainer.limit_train_batches=3", "--trainer.limit_val_batches=2"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert fit.returncode == 0, fit.stderr[-3000:]
    assert fit.stderr.count("\n") < 5, fit.stderr  # quiet: no banners, no known warnings
    last = run / "checkpoints" / "last.ckpt"
    assert last.is_file()
    rows = list(csv.DictReader(open(next(run.glob("**/metrics.csv")))))
    f1 = [float(r["val/f1"]) for r in rows if r.get("val/f1")]
    assert len(f1) == 1 and 0.0 <= f1[0] <= 1.0
    cli_main(["test", *common, f"--ckpt_path={last}", "--trainer.limit_test_batches=2"])
    tested = [row for path in run.glob("**/metrics.csv") for row in csv.DictReader(open(path))
              if row.get("test/f1")]
    assert len(tested) == 1 and 0.0 <= float(tested[0]["test/f1"]) <= 1.0
