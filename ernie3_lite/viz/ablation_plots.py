"""Plots of the lite-scale ablations next to the paper's claims, on a given matplotlib Axes.

The records, claims and verdicts come from `ablation_results` (one place for the numbers); the
`draw_*` functions only draw them, and the notebook owns the figure: `draw_comparison` (the
claim's metric per variant, one dot per seed), `draw_curves` (training curves per seed) and
`draw_overview` (our relative gain per claim beside the paper's).
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence

from matplotlib.axes import Axes
from matplotlib.ticker import FuncFormatter, NullFormatter

from ernie3_lite.viz.ablation_results import NOISE_STDS, Ablation, Claim, Comparison, Summary

TREATMENT_COLOR, BASELINE_COLOR, OTHER_COLOR = "tab:orange", "tab:blue", "0.6"


def draw_comparison(ax: Axes, ablation: Ablation, claim: Claim, *,
                    variants: Sequence[str] | None = None) -> None:
    """Bars: the claim's metric per variant (default: all of them), mean ± std over seeds, one
    dot per seed."""
    variants = list(variants if variants is not None else ablation.variants)
    for x, variant in enumerate(variants):
        summary = Summary(tuple(ablation.values(variant, claim.metric)))
        color = (TREATMENT_COLOR if variant == claim.treatment else
                 BASELINE_COLOR if variant == claim.baseline else OTHER_COLOR)
        if summary.n:
            ax.bar(x, summary.mean, 0.6, color=color, alpha=0.75,
                   yerr=0.0 if math.isnan(summary.std) else summary.std, capsize=4)
            ax.plot([x] * summary.n, summary.values, "o", color="black", markersize=3)
    ax.set_xticks(range(len(variants)), [_wrap(v) for v in variants], fontsize=7)
    better = "higher" if claim.higher_is_better else "lower"
    ax.set_ylabel(f"{claim.metric} ({better} is better)")
    ax.set_title(claim.title, fontsize=10)


def draw_curves(ax: Axes, ablation: Ablation, claim: Claim) -> None:
    """The treatment's and baseline's training curves, one line per seed: validation loss vs
    training seconds (`claim.curve == "val"`) or a training loss vs step."""
    for variant, color in ((claim.treatment, TREATMENT_COLOR), (claim.baseline, BASELINE_COLOR)):
        for i, run in enumerate(ablation.runs(variant)):
            if claim.curve == "val":
                points = [(seconds, loss) for _, seconds, loss in run.get("val_curve", [])]
            else:
                points = [tuple(p) for p in run.get("train_losses", {}).get(claim.curve, [])]
            if points:
                xs, ys = zip(*points, strict=True)
                ax.plot(xs, ys, color=color, alpha=0.8, marker="o", markersize=2,
                        label=_wrap(variant) if i == 0 else None)
    ax.set_xlabel("training seconds (validation excluded)" if claim.curve == "val" else "step")
    ax.set_ylabel("validation loss" if claim.curve == "val"
                  else f"training {str(claim.curve).removesuffix('_loss')} loss")
    ax.set_title("training curves, one line per seed", fontsize=10)
    if ax.get_legend_handles_labels()[0]:  # no curve recorded: no (warning about a) legend
        ax.legend(fontsize=7)


def draw_overview(ax: Axes, comparisons: Sequence[Comparison]) -> None:
    """Our relative gain per claim (± the noise band) beside the paper's, where it gives one, on
    a symmetric log axis (gains of 2% and 900% side by side); a zero baseline has no bar."""
    labelled: set[str] = set()

    def label(text: str) -> str | None:  # one legend entry per kind of bar
        return None if text in labelled or labelled.add(text) else text

    for y, comparison in enumerate(comparisons):
        ours = comparison.relative_gain
        band = NOISE_STDS * comparison.noise / abs(comparison.baseline.mean or math.nan) * 100
        bars = [(y + 0.2, ours, TREATMENT_COLOR, f"ours (± {NOISE_STDS:g} std)")]
        if comparison.claim.paper_gain is not None:
            bars.append((y - 0.2, comparison.claim.paper_gain, BASELINE_COLOR, "paper"))
        for position, gain, color, kind in bars:
            if math.isnan(gain):
                ax.text(0.0, position, " n/a (baseline 0)", va="center", fontsize=7)
                continue
            error = band if kind != "paper" and not math.isnan(band) else None
            ax.barh(position, gain, 0.4, color=color, xerr=error, capsize=3, label=label(kind))
            ax.text(gain, position, f" {gain:+.1f}%", va="center", fontsize=7,
                    ha="left" if gain >= 0 else "right")
    ax.axvline(0.0, color="black", linewidth=0.8)
    ax.set_xscale("symlog", linthresh=1.0)
    # plain "-10%" labels: the default mathtext ones need a minus glyph the CJK font lacks
    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}%"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_yticks(range(len(comparisons)), [c.claim.title for c in comparisons], fontsize=8)
    ax.set_ylim(len(comparisons) - 0.3, -0.7)  # first claim on top; room for the n/a notes
    ax.set_xlabel("gain in the paper's direction, % of the baseline (symmetric log scale)")
    ax.legend(fontsize=8)


def _wrap(text: str) -> str:
    # variant names are long sentences: break them so tick labels do not overlap
    return textwrap.fill(text, width=24)
