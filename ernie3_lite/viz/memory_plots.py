"""Which past tokens can a layer see? The receptive field of segment recurrence, computed and drawn.

Transformer-XL (arXiv 1901.02860 §3.2) reads a stream segment by segment and lets layer n of the
current segment attend to a memory of the previous segment's states. Which states are remembered
decides how far back information can travel (`Ernie3Config.recurrence`):

* ``xl``: layer n remembers its *inputs* (the previous segment's layer n-1 outputs), so every
  layer adds at most one segment of reach: the dependency length grows with depth, O(N x L);
* ``same_layer`` (ERNIE-Doc arXiv 2012.15688 §3.2, used by ERNIE 3.0's NLG network §3.2.1):
  layer n remembers its *outputs*, which already saw their own memory, so the reach grows with
  the number of segments read, whatever the depth.

`receptive_field` derives the reach by propagating sets of token positions through the same rules
`RelTransformerStack` follows (causal attention inside a segment, the newest `mem_len` positions
as memory); tests and notebook 04 check it against the real model by perturbing one token.
The plots are pure functions returning a matplotlib `Figure`.
"""

from __future__ import annotations

import torch
from matplotlib.figure import Figure
from torch import Tensor

from ernie3_lite.config import RECURRENCE_KINDS

TITLES = {
    "xl": "Transformer-XL: layer n remembers layer n-1 (recurrence='xl')",
    "same_layer": "ERNIE-Doc: layer n remembers layer n (recurrence='same_layer')",
}


def receptive_field(*, recurrence: str, n_layer: int, seg_len: int, mem_len: int,
                    n_segments: int) -> Tensor:
    """(n_layer + 1, T, T) bool, T = seg_len * n_segments: ``reach[l, i, j]`` is True when the
    state after layer l (0 = the embeddings) at stream position i depends on the token at j.

    Causal (NLG) attention: a query sees the current segment up to itself plus the memory, the
    newest `mem_len` positions before the segment (`update_memory` keeps exactly those).
    """
    if recurrence not in RECURRENCE_KINDS:
        raise ValueError(f"recurrence={recurrence!r} must be one of {RECURRENCE_KINDS}")
    for name, value, minimum in (("n_layer", n_layer, 1), ("seg_len", seg_len, 1),
                                 ("mem_len", mem_len, 0), ("n_segments", n_segments, 1)):
        if value < minimum:
            raise ValueError(f"{name}={value} must be >= {minimum}")
    total = seg_len * n_segments
    reach = torch.zeros(n_layer + 1, total, total, dtype=torch.bool)  # (L+1, T, T)
    reach[0] = torch.eye(total, dtype=torch.bool)  # an embedding depends on its own token only
    for segment in range(n_segments):
        lo, hi = segment * seg_len, (segment + 1) * seg_len
        mem_lo = max(0, lo - mem_len)  # memory: positions [mem_lo, lo)
        for layer in range(1, n_layer + 1):
            # xl remembers the layer's inputs, same_layer its outputs (of earlier segments)
            remembered = reach[layer - 1] if recurrence == "xl" else reach[layer]
            from_memory = remembered[mem_lo:lo].any(dim=0)  # (T,): every memory key is visible
            current = reach[layer - 1, lo:hi].int()  # (Q, T)
            causal = current.cumsum(dim=0) > 0  # (Q, T): query i sees current keys lo..i
            reach[layer, lo:hi] = causal | from_memory
    return reach


def context_lengths(reach: Tensor) -> Tensor:
    """(L+1, T) long: how many positions each state depends on (itself included).

    Every reach set is an interval ending at the position itself, so this is also how far back
    the state looks: position i depends on tokens ``i - length + 1 .. i``.
    """
    return reach.sum(dim=-1)  # (L+1, T)


def _boundaries(ax, *, seg_len: int, total: int) -> None:
    for start in range(seg_len, total, seg_len):
        ax.axvline(start - 0.5, color="black", linewidth=0.8)


def plot_receptive_field(*, n_layer: int, seg_len: int, mem_len: int, n_segments: int,
                         position: int | None = None) -> Figure:
    """One panel per recurrence kind: rows = layers (0 = embeddings), columns = stream positions;
    a filled cell means the state of that layer at `position` (default: the last) depends on
    that token. Vertical lines separate segments."""
    total = seg_len * n_segments
    position = total - 1 if position is None else position
    if not 0 <= position < total:
        raise ValueError(f"position={position} must be in [0, {total})")
    fig = Figure(figsize=(max(6.0, 0.28 * total + 2), 1.2 + 0.45 * (n_layer + 1) * 2),
                 layout="constrained")
    axes = fig.subplots(len(RECURRENCE_KINDS), 1, squeeze=False)[:, 0]
    for ax, kind in zip(axes, RECURRENCE_KINDS, strict=True):
        reach = receptive_field(recurrence=kind, n_layer=n_layer, seg_len=seg_len,
                                mem_len=mem_len, n_segments=n_segments)
        image = reach[:, position, :].float().numpy()  # (L+1, T)
        ax.imshow(image, cmap="Blues", vmin=0, vmax=1.4, aspect="auto", origin="lower",
                  interpolation="nearest")
        ax.plot([position], [n_layer], marker="*", color="crimson", markersize=10)
        _boundaries(ax, seg_len=seg_len, total=total)
        ax.set_title(TITLES[kind], fontsize=9)
        ax.set_ylabel("layer")
        ax.set_yticks(range(n_layer + 1))
    axes[-1].set_xlabel(f"token position (segments of {seg_len}, mem_len={mem_len}); "
                        f"star = query position {position}")
    return fig


def plot_segment_reach(*, layer: int, segment: int, n_layer: int, seg_len: int, mem_len: int,
                       n_segments: int) -> Figure:
    """One panel per recurrence kind: for each query of `segment` (rows), the tokens (columns)
    its state after `layer` depends on. The current segment is outlined."""
    if not 0 <= layer <= n_layer:
        raise ValueError(f"layer={layer} must be in [0, n_layer={n_layer}]")
    if not 0 <= segment < n_segments:
        raise ValueError(f"segment={segment} must be in [0, n_segments={n_segments})")
    total = seg_len * n_segments
    lo, hi = segment * seg_len, (segment + 1) * seg_len
    fig = Figure(figsize=(max(6.0, 0.28 * total + 2), 1.6 + 0.35 * seg_len * 2),
                 layout="constrained")
    axes = fig.subplots(len(RECURRENCE_KINDS), 1, squeeze=False)[:, 0]
    for ax, kind in zip(axes, RECURRENCE_KINDS, strict=True):
        reach = receptive_field(recurrence=kind, n_layer=n_layer, seg_len=seg_len,
                                mem_len=mem_len, n_segments=n_segments)
        ax.imshow(reach[layer, lo:hi, :].float().numpy(), cmap="Blues", vmin=0, vmax=1.4,
                  aspect="auto", interpolation="nearest",
                  extent=(-0.5, total - 0.5, hi - 0.5, lo - 0.5))
        ax.add_patch(_outline(lo, hi))
        _boundaries(ax, seg_len=seg_len, total=total)
        ax.set_title(f"{TITLES[kind]}, after layer {layer}", fontsize=9)
        ax.set_ylabel("query position")
    axes[-1].set_xlabel("token position")
    return fig


def _outline(lo: int, hi: int):
    from matplotlib.patches import Rectangle

    return Rectangle((lo - 0.5, lo - 0.5), hi - lo, hi - lo, fill=False, edgecolor="crimson",
                     linewidth=1.5)
