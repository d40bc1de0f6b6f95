"""Loss-curve plotting over a run's history (ernie3_lite/viz/curves.py)."""

from __future__ import annotations

import pytest

from ernie3_lite.viz.curves import TASK_TITLES, plot_loss_curves, smooth


def test_smooth_is_a_trailing_mean():
    assert smooth([1.0, 3.0, 5.0, 7.0], window=2) == [1.0, 2.0, 4.0, 6.0]
    assert smooth([2.0], window=5) == [2.0]


@pytest.mark.parametrize("tasks", [("kmlm", "dlm"), tuple(TASK_TITLES)])
def test_one_panel_per_task_plus_the_schedule(tasks):
    train = {f"train/{t}_loss": [(s, 10.0 - s) for s in range(5)] for t in tasks}
    train["progressive/seq_len"] = [(s, 32.0 + 24 * s) for s in range(5)]
    val = {f"val/{tasks[0]}_loss": [(4, 5.5)]}
    fig = plot_loss_curves(train, val, window=2)
    axes = fig.axes
    assert len(axes) == len(tasks) + 1
    assert [ax.get_title() for ax in axes[:-1]] == [TASK_TITLES[t] for t in tasks]
    raw, smoothed, valid = axes[0].lines
    assert list(raw.get_ydata()) == [10.0, 9.0, 8.0, 7.0, 6.0]
    assert list(smoothed.get_ydata()) == [10.0, 9.5, 8.5, 7.5, 6.5]
    assert list(valid.get_xdata()) == [4] and list(valid.get_ydata()) == [5.5]
    (schedule,) = axes[-1].lines
    assert max(schedule.get_ydata()) == 1.0  # normalised to its maximum
