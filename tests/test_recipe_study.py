"""Smoke test of benchmarks/recipe_study.py: one recipe, a few CPU-seconds, on data_samples.

It checks the machinery a CPU-hour study relies on: the CPU budget stops training, the held-out
evaluations run at fractions of it, and a curve point carries the measured metrics.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_recipe_study_quick_evaluates_along_the_budget():
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "benchmarks/recipe_study.py", "--quick"], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    last = json.loads(done.stdout.strip().splitlines()[-1])
    assert last["cpu_s"] >= 0.05 * 60 and last["step"] > 2
    assert 1 < last["dlm_ppl"] < 1e5 and 0 <= last["mlm_acc"] <= 1
    assert done.stdout.count(" cpu-s ") == 4  # evaluated at 1/4, 1/2, 3/4 and all of the budget


def test_recipe_list_names_the_shipped_baseline_first():
    done = subprocess.run([sys.executable, "benchmarks/recipe_study.py", "--list"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.splitlines()[0].startswith("baseline ")
