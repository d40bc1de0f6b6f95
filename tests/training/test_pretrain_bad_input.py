"""Bad pre-training input stops before any data is read or segmented, naming the field or the
file (issue 12 §4): ``--model.lr=-1e-3`` used to fail after data setup with a torch traceback,
``lr 0`` trained silently, a start length above max_len was clamped without a word, and an empty
news split failed with "0 tokens cannot fill 2 rows"."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ernie3_lite import DATA_SAMPLES
from ernie3_lite.cli import Ernie3CLI, cli_main
from ernie3_lite.config import ConfigError
from ernie3_lite.data.corpus import PretrainingCorpus
from ernie3_lite.data.formats import DataFormatError
from ernie3_lite.training.datamodule import Ernie3DataModule
from ernie3_lite.training.module import Ernie3PretrainModule
from ernie3_lite.training.multitask import TaskData

ROOT = Path(__file__).resolve().parents[2]
TEST_CONFIG = str(ROOT / "configs" / "pretrain_test.yaml")
NANO_CONFIG = str(ROOT / "configs" / "pretrain_nano.yaml")


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"lr": -1e-3}, "Ernie3PretrainModule.lr=-0.001 must be a finite number > 0"),
    ({"lr": 0}, "Ernie3PretrainModule.lr=0 must be a finite number > 0"),
    ({"lr": float("nan")}, "Ernie3PretrainModule.lr=nan must be"),
    ({"weight_decay": -0.01}, "Ernie3PretrainModule.weight_decay=-0.01 must be"),
    ({"eps": 0.0}, "Ernie3PretrainModule.eps=0.0 must be"),
    ({"betas": (0.9, 1.0)}, "Ernie3PretrainModule.betas=(0.9, 1.0) must be two numbers"),
    ({"warmup_steps": -1}, "Ernie3PretrainModule.warmup_steps=-1 must be an int >= 0"),
    ({"max_steps": 0}, "Ernie3PretrainModule.max_steps=0 must be an int >= 1"),
])
def test_the_module_refuses_bad_optimizer_numbers_naming_the_field(kwargs, message):
    with pytest.raises(ConfigError) as error:
        Ernie3PretrainModule(preset="test", vocab_size=64, **kwargs)
    assert str(error.value).startswith(message)


@pytest.mark.parametrize(("flag", "message"), [
    ("--model.lr=-1e-3", "model.lr=-0.001 must be a finite number > 0"),
    ("--model.lr=0", "model.lr=0.0 must be a finite number > 0"),
    ("--model.weight_decay=-1", "model.weight_decay=-1.0 must be a finite number >= 0"),
    ("--model.warmup_steps=-5", "model.warmup_steps=-5 must be an int >= 0"),
])
def test_the_cli_stops_in_one_line_before_reading_data(flag, message, capsys, monkeypatch):
    # building the data module is what reads data: it must not be reached
    monkeypatch.setattr(Ernie3CLI, "instantiate_classes", _never)
    with pytest.raises(SystemExit) as stop:
        cli_main(["fit", "--config", TEST_CONFIG, flag])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err == f"ernie3-lite fit: error: {message}\n", err


def test_a_start_seq_len_above_max_len_is_a_config_error(capsys, monkeypatch):
    monkeypatch.setattr(Ernie3CLI, "instantiate_classes", _never)
    with pytest.raises(SystemExit):
        cli_main(["fit", "--config", NANO_CONFIG, "--progressive.start_seq_len=512"])
    assert ("progressive.start_seq_len=512 must be <= data.max_len=128"
            in capsys.readouterr().err)
    # with the ramp off the start values are unused, so they are not an error
    monkeypatch.undo()
    cli_main(["--config", NANO_CONFIG, "--progressive.warmup_steps=0",
              "--model.warmup_steps=0", "--progressive.start_seq_len=512"], run=False,
             instantiate=False)


def _never(*args, **kwargs):
    raise AssertionError("the data module was built: data would have been read")


@pytest.fixture
def data_copy(tmp_path) -> Path:
    folder = tmp_path / "data"
    shutil.copytree(DATA_SAMPLES, folder)
    return folder


@pytest.mark.parametrize("relative", ["news/valid.jsonl", "kg/aligned_train.jsonl"])
def test_an_empty_pretraining_split_names_its_file_when_the_data_module_is_built(
        data_copy, relative):
    (data_copy / relative).write_text("\n\n", encoding="utf-8")  # blank lines: no record
    with pytest.raises(DataFormatError, match=rf"{relative}: no records: the (valid|train) "
                                              "split is empty"):
        Ernie3DataModule(data_dir=str(data_copy))


def test_an_empty_aligned_split_is_fine_when_uktp_is_off(data_copy):
    (data_copy / "kg" / "aligned_train.jsonl").write_text("", encoding="utf-8")
    Ernie3DataModule(data_dir=str(data_copy), task_weights={"uktp": 0})


def test_task_data_names_the_news_file_of_an_empty_or_too_short_split(data_copy):
    news = data_copy / "news" / "train.jsonl"
    news.write_text("", encoding="utf-8")
    corpus = PretrainingCorpus(data_copy, split="train", unit_spans=False)
    with pytest.raises(DataFormatError, match=r"news/train\.jsonl: no records"):
        TaskData.from_corpus(corpus, tasks=("dlm",), max_len=32, dlm_batch_size=2, rank=0,
                             world_size=1)
    first = (DATA_SAMPLES / "news" / "train.jsonl").read_text(encoding="utf-8").splitlines()[0]
    news.write_text(first + "\n", encoding="utf-8")
    corpus = PretrainingCorpus(data_copy, split="train", unit_spans=False)
    with pytest.raises(DataFormatError, match=r"news/train\.jsonl: document LM: .* cannot fill "
                                              "100000 rows"):
        TaskData.from_corpus(corpus, tasks=("dlm",), max_len=32, dlm_batch_size=100_000,
                             rank=0, world_size=1)
