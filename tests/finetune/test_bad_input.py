"""Bad fine-tuning input stops before training, in one line that names the file (issue 12 §4).

Each case used to cost a whole run or pass silently: an empty test split trained fully and then
crashed with IndexError (the CLI's ``test`` exited 0 with no metrics), one training class trained
to loss 0, a label typo became a class, ``lr=-1`` failed only when the optimizer was built.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from ernie3_lite import DATA_SAMPLES
from ernie3_lite.config import ConfigError
from ernie3_lite.data.formats import ClassificationExample, DataFormatError, read_bio
from ernie3_lite.data.writers import write_bio, write_classification
from ernie3_lite.finetune import finetune
from ernie3_lite.finetune.cli import cli_main
from ernie3_lite.finetune.datamodule import FinetuneDataModule

ROOT = Path(__file__).resolve().parents[2]
SENTIMENT = ROOT / "configs" / "finetune_sentiment.yaml"
SCRATCH = ["--model.init_args.pretrained=null", "--model.init_args.preset=test",
           "--data.max_len=32", "--trainer.accelerator=cpu"]
TEXTS = ["这本书很好看", "质量太差了", "物流很快", "不推荐购买", "包装完好", "内容空洞"]


def reviews(folder: Path, **splits: list[tuple[str, str]]) -> Path:
    """A data folder with the shipped vocabulary and reviews/<split>.tsv of (label, text)."""
    (folder / "reviews").mkdir(parents=True, exist_ok=True)
    shutil.copy(DATA_SAMPLES / "vocab.txt", folder / "vocab.txt")
    for split, rows in splits.items():
        write_classification(folder / "reviews" / f"{split}.tsv",
                             [ClassificationExample(text, label) for label, text in rows])
    return folder


def balanced(n: int = 6) -> list[tuple[str, str]]:
    return [(str(i % 2), TEXTS[i % len(TEXTS)]) for i in range(n)]


def test_an_empty_test_split_is_refused_before_training(tmp_path):
    data = reviews(tmp_path / "data", train=balanced(), valid=balanced(), test=[])
    out = tmp_path / "run"
    with pytest.raises(DataFormatError, match=r"reviews/test\.tsv: no records: the split is "
                                              "empty"):
        finetune("sentiment", pretrained=None, preset="test", data_dir=data, max_len=32,
                 out_dir=out)
    assert not out.exists()  # nothing was trained, nothing written


@pytest.mark.parametrize("split", ["train", "valid"])
def test_an_empty_train_or_valid_split_names_its_file(split, tmp_path):
    splits = {"train": balanced(), "valid": balanced(), "test": balanced(), split: []}
    data = reviews(tmp_path, **splits)
    with pytest.raises(DataFormatError, match=rf"reviews/{split}\.tsv: no records"):
        finetune("sentiment", pretrained=None, preset="test", data_dir=data, max_len=32,
                 out_dir=tmp_path / "run")


def test_cli_test_with_an_empty_test_split_exits_2_in_one_line(tmp_path, capsys):
    data = reviews(tmp_path / "data", train=balanced(), valid=balanced(), test=[])
    with pytest.raises(SystemExit) as stop:
        cli_main(["test", "--config", str(SENTIMENT), *SCRATCH, f"--data.data_dir={data}",
                  f"--trainer.default_root_dir={tmp_path / 'run'}"])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "reviews/test.tsv: no records" in err, err


def test_one_training_class_is_refused(tmp_path, capsys):
    one = [("1", t) for t in TEXTS]
    data = reviews(tmp_path, train=one, valid=balanced(), test=balanced())
    with pytest.raises(DataFormatError, match=r"train\.tsv: the training split has 1 class"):
        FinetuneDataModule("sentiment", data_dir=str(data))
    with pytest.raises(SystemExit):
        cli_main(["--config", str(SENTIMENT), *SCRATCH, f"--data.data_dir={data}"], run=False,
                 instantiate=False)
    assert "a classification task needs at least 2" in capsys.readouterr().err


def test_a_valid_or_test_label_missing_from_train_names_file_and_line(tmp_path, capsys):
    test = [*balanced(4), ("2", "还行吧")]  # line 6: header, then 4 rows, then this one
    data = reviews(tmp_path, train=balanced(), valid=balanced(), test=test)
    with pytest.raises(DataFormatError, match=r"test\.tsv:6: label '2' never occurs in the "
                                              r"training split"):
        finetune("sentiment", pretrained=None, preset="test", data_dir=data, max_len=32,
                 out_dir=tmp_path / "run")
    with pytest.raises(SystemExit):
        cli_main(["test", "--config", str(SENTIMENT), *SCRATCH, f"--data.data_dir={data}",
                  f"--trainer.default_root_dir={tmp_path / 'run'}"])
    assert "test.tsv:6: label '2' never occurs" in capsys.readouterr().err


def test_a_rare_training_label_seen_nowhere_else_is_taken_for_a_typo(tmp_path):
    train = [*balanced(), ("l", "字母l不是1")]  # line 8
    data = reviews(tmp_path, train=train, valid=balanced(), test=balanced())
    with pytest.raises(DataFormatError, match=r"train\.tsv:8: label 'l' occurs only 1 "
                                              r"time\(s\) here and in no valid/test record"):
        FinetuneDataModule("sentiment", data_dir=str(data)).check_splits()


def test_ner_tags_are_checked_with_the_line_of_the_token(tmp_path):
    (tmp_path / "ner").mkdir()
    shutil.copy(DATA_SAMPLES / "vocab.txt", tmp_path / "vocab.txt")
    sentences = read_bio(DATA_SAMPLES / "ner" / "valid.bio")[:20]
    for split in ("train", "valid"):
        write_bio(tmp_path / "ner" / f"{split}.bio", sentences)
    typo = sentences[0].__class__(("北", "京"), ("B-LOC", "I-LCO"))
    write_bio(tmp_path / "ner" / "test.bio", [typo])
    data = FinetuneDataModule("ner", data_dir=str(tmp_path))
    with pytest.raises(DataFormatError, match=r"ner/test\.bio:2: label 'I-LCO' never occurs"):
        data.check_splits()


@pytest.mark.parametrize("lr", [-1e-3, 0.0, float("nan"), float("inf")])
def test_a_bad_learning_rate_is_refused_before_any_data_is_read(lr):
    started = time.perf_counter()
    with pytest.raises(ConfigError, match=r"finetune\.lr=.* must be a finite number > 0"):
        finetune("sentiment", data_dir="no/such/folder", lr=lr)  # the folder is never opened
    assert time.perf_counter() - started < 5


@pytest.mark.parametrize(("flag", "message"), [
    ("--model.init_args.lr=0", "model.init_args.lr=0.0 must be a finite number > 0"),
    ("--model.init_args.weight_decay=-0.1", "model.init_args.weight_decay=-0.1 must be"),
    ("--model.init_args.eps=0", "model.init_args.eps=0.0 must be a finite number > 0"),
])
def test_cli_optimizer_numbers_name_the_field(flag, message, capsys):
    with pytest.raises(SystemExit) as stop:
        cli_main(["--config", str(SENTIMENT), flag], run=False, instantiate=False)
    assert stop.value.code == 2 and message in capsys.readouterr().err


def test_a_malformed_pretrained_config_names_file_and_line(tmp_path, capsys):
    folder = tmp_path / "pretrained"
    shutil.copytree(ROOT / "ernie3_lite" / "pretrained" / "nano", folder)
    (folder / "config.json").write_text('{"max_seq_len": 128,\n', encoding="utf-8")
    with pytest.raises(SystemExit) as stop:
        cli_main(["--config", str(SENTIMENT), f"--model.init_args.pretrained={folder}"],
                 run=False, instantiate=False)
    err = capsys.readouterr().err
    assert stop.value.code == 2 and err.count("\n") == 1, err
    assert f"{folder / 'config.json'}:2:" in err and "not valid JSON" in err
