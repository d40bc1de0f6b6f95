"""Progressive-learning schedule plot (ernie3_lite/viz/schedule_plots.py)."""

from __future__ import annotations

import pytest

from ernie3_lite.training.progressive import schedule_table
from ernie3_lite.viz.schedule_plots import FACTORS, plot_progressive_schedule


def test_one_panel_per_factor_with_the_schedule_and_the_logged_points():
    rows = schedule_table(warmup_steps=4, start=(16, 1, 0.0), end=(32, 4, 0.1), steps=8)
    for row in rows:
        row["lr"] = 1e-3 * min(1.0, (row["step"] + 1) / 4)
    logged = {"progressive/seq_len": [(0, 16.0), (4, 32.0)]}
    fig = plot_progressive_schedule(rows, logged=logged, warmup_steps=4)
    assert [ax.get_title() for ax in fig.axes] == list(FACTORS.values())
    schedule, dots = fig.axes[0].lines[:2]
    assert list(schedule.get_ydata()) == [r["seq_len"] for r in rows]
    assert list(dots.get_xdata()) == [0, 4]
    assert list(fig.axes[3].lines[0].get_ydata()) == [r["dropout"] for r in rows]


def test_only_the_factors_present_are_drawn():
    rows = [{"step": 0, "seq_len": 8}, {"step": 1, "seq_len": 16}]
    fig = plot_progressive_schedule(rows)
    assert len(fig.axes) == 1 and len(fig.axes[0].lines) == 1
    with pytest.raises(ValueError, match="at least one"):
        plot_progressive_schedule([{"step": 0}])
