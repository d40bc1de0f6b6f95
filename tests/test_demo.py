"""`python -m ernie3_lite demo` runs the data pipeline end to end on data_samples/."""

from __future__ import annotations

import subprocess
import sys

TASKS = ("knowledge masked LM", "document LM", "sentence reordering", "sentence distance",
         "universal knowledge-text prediction")


def test_demo_prints_statistics_and_one_example_per_task():
    result = subprocess.run([sys.executable, "-m", "ernie3_lite", "demo", "--no-train"],
                            capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for needle in ("documents", "triples", "vocab.txt", *TASKS):
        assert needle in out, needle
    assert "[MASK]" in out  # the masked LM shows what the model sees
    assert "[关系:" in out  # UKTP masks a relation
    assert "labels are the inputs shifted by one: True" in out


def test_unknown_command_fails_cleanly():
    result = subprocess.run([sys.executable, "-m", "ernie3_lite", "nope"], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 2
    assert "invalid choice" in result.stderr


def test_demo_training_half_trains_plots_exports_and_shows_the_shipped_model(tmp_path, capsys):
    from ernie3_lite import DATA_SAMPLES
    from ernie3_lite.demo_training import train_and_show

    train_and_show(DATA_SAMPLES, seed=0, max_steps=2, max_minutes=1, out_dir=tmp_path)
    out = capsys.readouterr().out
    assert "per-task loss after 2 steps" in out
    assert out.count("predicted:") == 2 and out.count("continuation:") == 2  # demo, shipped
    assert "the same two by the shipped nano (" in out
    assert (tmp_path / "loss_curves.png").stat().st_size > 0
    assert (tmp_path / "model" / "model.safetensors").exists()
    assert (tmp_path / "checkpoints" / "last.ckpt").exists()
