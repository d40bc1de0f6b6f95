"""`python -m ernie3_lite evaluate` on bad input: one line, exit status 2, no model loaded.

It used to print a traceback for bad data or a missing vocab.txt, fail with "stack expects a
non-empty TensorList" on an empty split or ``--limit 0``, and drop the last example silently on
``--limit -1`` (issue 12 §4).
"""

from __future__ import annotations

import shutil

import pytest

from ernie3_lite import DATA_SAMPLES, PRETRAINED_NANO
from ernie3_lite.evaluation import cli


@pytest.fixture
def data(tmp_path):
    folder = tmp_path / "data"
    shutil.copytree(DATA_SAMPLES, folder)
    return folder


@pytest.fixture
def no_model(monkeypatch):
    """Loading the model is the expensive part: bad input must stop before it."""
    def refuse(path):
        raise AssertionError("the model was loaded")
    monkeypatch.setattr(cli, "load_model", refuse)


def run(argv, capsys) -> str:
    with pytest.raises(SystemExit) as stop:
        cli.main(argv)
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err  # one line, no traceback, no usage
    return err


@pytest.mark.parametrize("limit", ["0", "-1"])
@pytest.mark.parametrize("command", ["zeroshot", "probe"])
def test_a_limit_below_one_is_refused(command, limit, capsys, no_model):
    err = run([command, "--limit", limit], capsys)
    assert f"evaluation {command}: error: --limit {limit} must be >= 1" in err


def test_an_empty_review_split_names_its_file(data, capsys, no_model):
    (data / "reviews" / "test.tsv").write_text("label\ttext_a\n", encoding="utf-8")
    err = run(["zeroshot", "--data", str(data)], capsys)
    assert "reviews/test.tsv: no reviews to evaluate" in err


def test_an_empty_aligned_split_names_its_file(data, capsys, no_model):
    (data / "kg" / "aligned_valid.jsonl").write_text("", encoding="utf-8")
    err = run(["zeroshot", "--data", str(data), "--split", "valid"], capsys)
    assert "kg/aligned_valid.jsonl: no cloze sentences to evaluate" in err


def test_an_empty_probe_split_names_its_file(data, capsys, no_model):
    (data / "kg" / "probe_test.tsv").write_text("head\trelation\ttail\n", encoding="utf-8")
    err = run(["probe", "--data", str(data)], capsys)
    assert "kg/probe_test.tsv: no triples to evaluate" in err


def test_a_malformed_line_names_file_and_line(data, capsys, no_model):
    path = data / "reviews" / "test.tsv"
    lines = path.read_text(encoding="utf-8").splitlines()
    path.write_text("\n".join([*lines[:3], "only one field", *lines[3:]]) + "\n",
                    encoding="utf-8")
    err = run(["zeroshot", "--data", str(data)], capsys)
    assert "reviews/test.tsv:4: expected 2 tab-separated fields" in err


def test_a_model_folder_without_vocab_is_one_line(tmp_path, capsys):
    model = tmp_path / "model"
    shutil.copytree(PRETRAINED_NANO, model)
    (model / "vocab.txt").unlink()
    err = run(["probe", "--model", str(model), "--limit", "1"], capsys)
    assert f"--model {model}: no vocab.txt there" in err


def test_a_missing_data_folder_is_one_line(tmp_path, capsys, no_model):
    err = run(["zeroshot", "--data", str(tmp_path / "nowhere")], capsys)
    assert "nowhere" in err
