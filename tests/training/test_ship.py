"""`python -m ernie3_lite.training.ship`: train, export, continue from the export, export again;
training.json keeps the chain of runs and the totals (what notebooks 07 and 10 print)."""

from __future__ import annotations

import json

import pytest

from ernie3_lite import DATA_SAMPLES
from ernie3_lite.model.ernie3 import Ernie3Model
from ernie3_lite.training import ship


def train_and_export(tmp_path, name: str, *extra: str):
    run, out = tmp_path / f"run_{name}", tmp_path / name
    ship.main(["train", "--data", str(DATA_SAMPLES), "--out", str(run), "--steps", "2",
               "--warmup", "1", "--val-every", "2", "--checkpoint-every", "1", *extra])
    ship.main(["export", "--run", str(run), "--data", str(DATA_SAMPLES), "--out", str(out)])
    return json.loads((out / "training.json").read_text(encoding="utf-8")), out


@pytest.mark.slow
def test_a_continued_run_records_where_it_started_and_the_totals(tmp_path):
    first, first_dir = train_and_export(tmp_path, "first")
    assert first["steps"] == first["total_steps"] == 2 and first["started_from"] is None
    second, second_dir = train_and_export(tmp_path, "second", "--init-from", str(first_dir),
                                          "--precision", "bf16-mixed")
    assert second["steps"] == 2 and second["total_steps"] == 4
    assert second["started_from"]["command"] == first["command"]
    assert second["precision"] == "bf16-mixed"
    assert second["total_train_seconds"] == first["train_seconds"] + second["train_seconds"]
    assert set(second["final_losses"]) >= {"train/kmlm_loss", "val/uktp_acc"}
    Ernie3Model.from_pretrained(second_dir)  # safetensors + config, nothing unpickled


@pytest.mark.slow
def test_a_poetry_run_exports_the_poetry_vocabulary_and_its_recipe(tmp_path):
    """With --poetry-share the run trains on vocab_poetry.txt; export must ship that file (not
    the data folder's vocab.txt, whose [UNK] id is a poetry character in the model)."""
    info, out = train_and_export(tmp_path, "poetry", "--poetry-share", "0.3",
                                 "--dlm-batch-size", "2", "--seg-len", "32", "--batch-size", "2",
                                 "--max-len", "64")
    assert info["vocab"] == "vocab_poetry.txt"
    assert (out / "vocab.txt").read_bytes() == (DATA_SAMPLES / "vocab_poetry.txt").read_bytes()
    model = Ernie3Model.from_pretrained(out)
    assert model.config.vocab_size == 8000
    assert "--poetry-share 0.3" in info["command"] and "cores" in info["machine"]
