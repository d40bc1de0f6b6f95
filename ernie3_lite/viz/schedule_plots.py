"""Progressive learning drawn: sequence length, batch size, learning rate and dropout per step.

ERNIE 3.0 (arXiv 2107.02137 §3.3.1) grows "the input sequence length, the batch size, the learning
rate and the dropout rate" together at the start of pre-training. The planned values come from
the callback's own pure functions (`training.progressive.schedule_table` and
`training.schedule.lr_factor`); `plot_progressive_schedule` draws them, and optionally what a run
actually logged on top, so the plan and the run can be compared by eye.
A pure function returning a matplotlib `Figure`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from matplotlib.figure import Figure

FACTORS = {
    "seq_len": "sequence length (NLU tokens)",
    "batch_size": "batch size (NLU rows)",
    "lr": "learning rate",
    "dropout": "dropout",
}


def plot_progressive_schedule(
    rows: Sequence[Mapping[str, float]],
    *,
    logged: Mapping[str, Sequence[tuple[int, float]]] | None = None,
    warmup_steps: int | None = None,
) -> Figure:
    """One panel per factor of `FACTORS` found in `rows` (dicts with "step" and the factors).

    logged: a run's history, ``{"progressive/seq_len": [(step, value), ...], ...}``, drawn as
    dots; warmup_steps: a dashed line where the ramp ends.
    """
    factors = [f for f in FACTORS if rows and f in rows[0]]
    if not factors:
        raise ValueError(f"rows must hold 'step' and at least one of {tuple(FACTORS)}")
    fig = Figure(figsize=(3.0 * len(factors), 2.8), layout="constrained")
    axes = fig.subplots(1, len(factors), squeeze=False)[0]
    steps = [row["step"] for row in rows]
    for ax, factor in zip(axes, factors, strict=True):
        ax.plot(steps, [row[factor] for row in rows], drawstyle="steps-post", label="schedule")
        series = (logged or {}).get(f"progressive/{factor}")
        if series:
            logged_steps, values = zip(*series, strict=True)
            ax.plot(logged_steps, values, "o", markersize=3, label="logged by the run")
        if warmup_steps is not None:
            ax.axvline(warmup_steps, color="0.5", linestyle="--", linewidth=0.8)
        ax.set_title(FACTORS[factor], fontsize=9)
        ax.set_xlabel("step")
    if logged:
        axes[0].legend(fontsize=7)
    return fig
