"""Warm-up + linear-decay learning-rate factor (ernie3_lite/training/schedule.py)."""

from __future__ import annotations

import pickle

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from ernie3_lite.training.schedule import lr_factor, warmup_linear_decay


@pytest.mark.parametrize(("step", "factor"), [
    (0, 0.1), (4, 0.5), (9, 1.0),  # warm-up: (s + 1) / W, the first update is not wasted
    (10, 1.0), (20, 0.8), (55, 0.1), (59, 0.02),  # decay: (T - s) / (T - W)
    (60, 0.0), (1000, 0.0),  # past max_steps
])
def test_factor_at_specific_steps(step, factor):
    assert lr_factor(step, warmup_steps=10, max_steps=60) == pytest.approx(factor)


def test_paper_schedule_peaks_after_10000_steps():
    f = warmup_linear_decay(warmup_steps=10_000, max_steps=100_000)
    assert f(0) == pytest.approx(1e-4) and f(9_999) == 1.0 and f(10_000) == 1.0
    assert f(55_000) == pytest.approx(0.5)


def test_no_warmup_starts_at_the_peak():
    assert [lr_factor(s, warmup_steps=0, max_steps=4) for s in range(5)] == [1, 0.75, 0.5, 0.25, 0]


@given(warmup=st.integers(0, 50), extra=st.integers(1, 200))
def test_factor_rises_then_falls_and_stays_in_0_1(warmup, extra):
    total = warmup + extra
    values = [lr_factor(s, warmup_steps=warmup, max_steps=total) for s in range(total + 2)]
    assert all(0.0 <= v <= 1.0 for v in values)
    peak = values.index(1.0)
    assert peak == max(warmup - 1, 0)
    assert values[: peak + 1] == sorted(values[: peak + 1])  # non-decreasing warm-up
    assert values[peak:] == sorted(values[peak:], reverse=True)  # non-increasing decay
    assert all(v > 0 for v in values[:total]) and values[total] == 0.0  # every update counts


@pytest.mark.parametrize(("warmup", "total", "match"), [
    (-1, 10, "warmup_steps=-1"), (10, 10, "max_steps=10 must be > warmup_steps=10"),
])
def test_bad_sizes_are_refused(warmup, total, match):
    with pytest.raises(ValueError, match=match):
        warmup_linear_decay(warmup_steps=warmup, max_steps=total)
    with pytest.raises(ValueError, match="step=-1"):
        lr_factor(-1, warmup_steps=1, max_steps=2)


def test_lambda_lr_state_holds_no_code():
    """LambdaLR stores a callable object's __dict__: the partial's is empty, so the scheduler's
    checkpoint state is plain data, and the partial itself pickles (unlike a closure)."""
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, warmup_linear_decay(warmup_steps=2, max_steps=5))
    state = scheduler.state_dict()
    assert state["lr_lambdas"] == [{}]
    assert pickle.loads(pickle.dumps(scheduler.lr_lambdas[0]))(2) == 1.0
