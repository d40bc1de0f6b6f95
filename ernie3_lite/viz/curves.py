"""Loss curves of a pre-training run: one panel per task, the progressive schedule beside them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from matplotlib.figure import Figure

TASK_TITLES = {
    "kmlm": "knowledge masked LM",
    "dlm": "document LM",
    "sr": "sentence reordering",
    "sd": "sentence distance",
    "uktp": "knowledge-text prediction",
}


def smooth(values: Sequence[float], *, window: int) -> list[float]:
    """Trailing moving average (the first points average what exists so far)."""
    out, total = [], 0.0
    for i, value in enumerate(values):
        total += value
        if i >= window:
            total -= values[i - window]
        out.append(total / min(i + 1, window))
    return out


def plot_loss_curves(
    train: Mapping[str, Sequence[tuple[int, float]]],
    val: Mapping[str, Sequence[tuple[int, float]]] | None = None,
    *,
    window: int = 10,
) -> Figure:
    """`train`/`val` map "train/<task>_loss" (and "val/...") to [(step, value), ...]."""
    tasks = [t for t in TASK_TITLES if f"train/{t}_loss" in train]
    fig = Figure(figsize=(3.2 * (len(tasks) + 1), 3.0), layout="constrained")
    axes = fig.subplots(1, len(tasks) + 1, squeeze=False)[0]
    for ax, task in zip(axes, tasks, strict=False):
        steps, values = zip(*train[f"train/{task}_loss"], strict=True)
        ax.plot(steps, values, color="0.8", linewidth=0.8)
        ax.plot(steps, smooth(values, window=window), label="train")
        if val and f"val/{task}_loss" in val:
            v_steps, v_values = zip(*val[f"val/{task}_loss"], strict=True)
            ax.plot(v_steps, v_values, "o-", label="valid")
        ax.set_title(TASK_TITLES[task], fontsize=9)
        ax.set_xlabel("step")
    axes[0].set_ylabel("loss")
    axes[0].legend(fontsize=8)
    schedule = axes[-1]
    for key, label in (("progressive/seq_len", "seq len"), ("progressive/batch_size", "batch")):
        if key in train:
            steps, values = zip(*train[key], strict=True)
            top = max(values)
            schedule.plot(steps, [v / top for v in values], label=f"{label} (max {top:g})")
    schedule.set_title("progressive learning", fontsize=9)
    schedule.set_xlabel("step")
    schedule.legend(fontsize=8)
    return fig
