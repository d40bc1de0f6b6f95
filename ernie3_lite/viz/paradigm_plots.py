"""ERNIE 3.0's two paradigms side by side: who may attend to whom, and where the parameters sit.

ERNIE 3.0 (arXiv 2107.02137 §3.1) puts a bidirectional NLU module and a causal NLG module (with
recurrence memory) on one shared universal module. `plot_visibility` draws attention masks
(True = the query may read the key) next to each other; `group_parameters` and
`plot_parameter_shares` sum `Ernie3Model.parameter_breakdown()` into the paper's parts and draw
each preset's split. Pure functions returning a matplotlib `Figure`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from matplotlib.figure import Figure
from torch import Tensor

#: `Ernie3Model` top-level modules summed into the parts of ERNIE 3.0 §3.1
PARAMETER_GROUPS = {
    "embeddings": ("embeddings",),
    "universal": ("universal",),
    "NLU module": ("nlu_proj", "nlu"),
    "NLG module": ("nlg_proj", "nlg"),
    "heads": ("mlm_head", "lm_head", "sentence_reorder_head", "sentence_distance_head"),
}
GROUP_COLORS = ("0.65", "tab:blue", "tab:orange", "tab:green", "tab:purple")


def group_parameters(breakdown: Mapping[str, int]) -> dict[str, int]:
    """`Ernie3Model.parameter_breakdown()` -> counts per `PARAMETER_GROUPS` part.

    ``position_keys`` (W_{k,R}, already inside the stacks) is not added a second time.
    """
    return {group: sum(breakdown[name] for name in names)
            for group, names in PARAMETER_GROUPS.items()}


def plot_visibility(masks: Mapping[str, Tensor], *,
                    key_labels: Mapping[str, Sequence[str]] | None = None,
                    query_labels: Sequence[str] | None = None) -> Figure:
    """One panel per mask: (Q, K) bool, True = query row may attend to key column.

    key_labels[name] names the K columns of panel `name`; query_labels the Q rows (all panels).
    Call `ernie3_lite.viz.fonts.use_cjk_font()` first when the labels are Chinese.
    """
    fig = Figure(figsize=(3.6 * len(masks) + 0.5, 3.8), layout="constrained")
    axes = fig.subplots(1, len(masks), squeeze=False)[0]
    for ax, (name, mask) in zip(axes, masks.items(), strict=True):
        if mask.dim() != 2:
            raise ValueError(f"mask {name!r} must be (Q, K), got {tuple(mask.shape)}")
        ax.imshow(mask.float().numpy(), cmap="Greens", vmin=0, vmax=1.2,
                  interpolation="nearest")
        q, k = mask.shape
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("key")
        ax.set_xticks(range(k))
        ax.set_yticks(range(q))
        if key_labels and name in key_labels:
            ax.set_xticklabels(key_labels[name], fontsize=7, rotation=90)
        if query_labels is not None:
            ax.set_yticklabels(query_labels, fontsize=7)
    axes[0].set_ylabel("query")
    return fig


def plot_parameter_shares(breakdowns: Mapping[str, Mapping[str, int]]) -> Figure:
    """One horizontal bar per preset, split into the `PARAMETER_GROUPS` shares (sum = 100 %);
    the total parameter count is written at the end of each bar."""
    fig = Figure(figsize=(8.0, 0.6 * len(breakdowns) + 1.4), layout="constrained")
    ax = fig.subplots()
    names = list(breakdowns)
    for row, name in enumerate(names):
        groups = group_parameters(breakdowns[name])
        total = sum(groups.values())
        left = 0.0
        for (group, count), color in zip(groups.items(), GROUP_COLORS, strict=True):
            share = count / total
            ax.barh(row, share, left=left, color=color, label=group if row == 0 else None)
            left += share
        ax.text(1.01, row, f"{total / 1e6:,.1f} M", va="center", fontsize=8)
    ax.set_yticks(range(len(names)))
    ax.set_yticklabels(names)
    ax.invert_yaxis()
    ax.set_xlim(0, 1.15)
    ax.set_xlabel("share of the parameters")
    ax.legend(fontsize=8, ncol=len(PARAMETER_GROUPS), loc="lower center",
              bbox_to_anchor=(0.5, 1.0), frameon=False)
    return fig
