"""Smoke tests: the speed benchmarks run end to end in --quick mode and print their ratios.

No timing is asserted (CI machines are noisy and --quick shapes are too small to mean
anything); a benchmark that crashes, or stops printing a ratio, fails here.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run_quick(script: str) -> str:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # as tests/conftest.py: a smoke run only
    done = subprocess.run([sys.executable, f"benchmarks/{script}", "--quick"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    return done.stdout


@pytest.mark.slow
def test_model_speed_quick_prints_every_ratio():
    out = run_quick("model_speed.py")
    for label in ("S1 fp32", "S1 bf16", "S2", "S3", "S4"):
        assert re.search(rf"^  {label} .*: ratio \d+\.\d+x \(target >= ", out, re.M), label
    assert "identical tokens" in out  # S4 compared the cached and recomputed generations


@pytest.mark.slow
def test_attention_speed_quick_prints_its_ratios():
    out = run_quick("attention_speed.py")
    assert re.search(r"reference fwd\+bwd / fast fwd\+bwd +\d+\.\d+x", out)
    assert re.search(r"^target: core fast fwd\+bwd >= 2\.5x reference: ", out, re.M)


@pytest.mark.slow
def test_finetune_results_quick_runs_every_task(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "benchmarks/finetune_results.py", "--quick",
                           "--out", str(tmp_path)], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    for task, metric in (("sentiment", "acc"), ("ner", "f1"), ("headline", "rouge_l")):
        assert re.search(rf"^{task} +frozen=False +valid {metric} \d\.\d{{4}} test", done.stdout,
                         re.M), task
    assert len(re.findall(r"frozen=True", done.stdout)) == 2  # the two NLU tasks, frozen
    assert (tmp_path / "ner_frozen" / "checkpoints" / "last.ckpt").exists()


@pytest.mark.slow
def test_lightning_overhead_quick_splits_each_step_into_work_and_loop():
    out = run_quick("lightning_overhead.py")
    for name in ("lightning (as shipped)", "lightning, all values every step",
                 "lightning, self.log off", "lightning barebones=True"):
        assert re.search(rf"^  {re.escape(name)} +[\d.]+ +[\d.]+ +[\d.]+ +[+-][\d.]+ +[+-][\d.]+ "
                         r"\([+-][\d.]+\.\.[+-][\d.]+\)  (PASS|NOT MET)$", out, re.M), name
    assert "identical on every side" in out  # the losses matched the raw loop's


@pytest.mark.slow
def test_gpu_check_quick_counts_positions_and_flops_through_the_cli(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "benchmarks/gpu_check.py", "--quick",
                           "--peak-tflops", "0.001", "--out", str(tmp_path / "check.json")],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    assert re.search(r"^  MFU: \d+\.\d % of 0 TFLOP/s dense bf16$", done.stdout, re.M)
    result = json.loads((tmp_path / "check.json").read_text())
    assert result["device"] == "CPU" and result["timed_steps"] == 4
    # every step has the four NLU micro-batches and the DLM rows of the test config
    assert result["positions_per_step"] >= 4 * 2 * 8 + 2 * 8
    # fwd+bwd of a matmul: 6 FLOPs per weight and position; every position runs the universal
    # stack and one task stack, 4 layers of 4·32·32 (attention) + 2·32·64 (FFN) weights
    assert result["flops_per_step"] > 6 * 4 * 8192 * result["positions_per_step"]
    assert 0 < result["mfu"] == pytest.approx(result["achieved_tflops"] / 0.001, rel=0.01)


@pytest.mark.slow
def test_learning_speed_quick_trains_both_models_and_plots(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    runs = []
    for model, ablation in (("gpt", []), ("ernie", ["--ablation", "plain-head"])):
        out = tmp_path / f"{model}.json"
        done = subprocess.run([sys.executable, "benchmarks/learning_speed.py", "--quick",
                               "--model", model, *ablation, "--out", str(out)], cwd=ROOT,
                              env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
        assert re.search(r"tokens per CPU-second; final held-out ppl \d+\.\d$", done.stdout, re.M)
        runs.append(out)
        result = json.loads(out.read_text())
        curve = result["curve"]
        assert [p["step"] for p in curve] == [0, 3, 6] and curve[-1]["tokens"] == 6 * 16 * 128
        assert curve[-1]["ppl"] < curve[0]["ppl"]  # a few steps already beat the random init
    plot = tmp_path / "curves.png"
    done = subprocess.run([sys.executable, "benchmarks/learning_speed.py", "--plot",
                           *map(str, runs), "--plot-out", str(plot)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-4000:]
    assert plot.stat().st_size > 10_000
