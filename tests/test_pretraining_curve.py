"""benchmarks/pretraining_curve.py on a made-up run: the curve's steps continue the runs the
exported model names, perplexities are exp(loss), and a missing history is one clear error."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_curve_continues_the_earlier_runs_and_plots(tmp_path):
    run, model = tmp_path / "run", tmp_path / "model"
    run.mkdir(), model.mkdir()
    history = {"command": "ship train", "seconds": 10.0, "steps": 1000, "machine": "cpu",
               "val": {"val/dlm_loss": [[500, 5.0], [1000, 4.0]],
                       "val/kmlm_acc": [[500, 0.01], [1000, 0.02]]},
               "train": {"train/dlm_loss": [[s, 6.0 - s / 500] for s in range(10, 1001, 10)]}}
    (run / "history.json").write_text(json.dumps(history), encoding="utf-8")
    first = {"steps": 300, "command": "first", "final_losses": {"val/dlm_loss": 6.0}}
    (model / "training.json").write_text(json.dumps({"started_from": first}), encoding="utf-8")
    out = tmp_path / "curve.json"
    done = subprocess.run([sys.executable, "benchmarks/pretraining_curve.py", "--run", str(run),
                           "--model", str(model), "--quality", str(tmp_path / "none.json"),
                           "--out", str(out)], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    payload = json.loads(out.read_text(encoding="utf-8"))
    assert [r["step"] for r in payload["run"]["val"]] == [800, 1300]
    assert math.isclose(payload["run"]["val"][1]["val_dlm_ppl"], math.exp(4.0))
    assert payload["earlier"] == [{"total_steps": 300, "val_dlm_ppl": math.exp(6.0),
                                   "command": "first"}]
    train = payload["run"]["train"]
    assert train[0]["step"] >= 300 and train[0]["train_dlm_ppl"] > train[-1]["train_dlm_ppl"]
    assert out.with_suffix(".png").stat().st_size > 1000


def test_a_run_without_history_is_one_clear_error(tmp_path):
    done = subprocess.run([sys.executable, "benchmarks/pretraining_curve.py", "--run",
                           str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "no history.json" in done.stderr
