"""Attention probabilities of a model over one sentence, and the relative distances behind them.

The pure layer under `AttentionExplorer`. `attention_maps` runs the model once with
``need_weights=True`` (the stacks return each layer's softmax probabilities (B, H, Q, K)) and
keeps every layer and head, so moving a slider costs no forward pass. Inputs are built as
pre-training builds them: NLU = ``[CLS] text [SEP]`` with bidirectional attention, NLG = the bare
text with causal attention (ERNIE 3.0 arXiv 2107.02137 §3.1, §3.2). `distance_matrix` is the
(i, j) -> i - j table that relative attention (Transformer-XL arXiv 1901.02860 §3.3) scores by,
produced with the package's own `relative_positions` and `rel_shift`.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

import torch
from matplotlib import colormaps
from matplotlib.figure import Figure
from torch import Tensor

from ernie3_lite.data.collate import TaskType
from ernie3_lite.model.attention import rel_shift
from ernie3_lite.model.positions import relative_positions
from ernie3_lite.viz.fonts import use_cjk_font

PARADIGMS = ("nlu", "nlg")
#: "universal" = the shared module; "task" = the NLU or NLG module of the chosen paradigm
STACKS = ("universal", "task")


@dataclass
class AttentionMaps:
    """tokens (T labels to plot) and, per stack, probabilities (L, H, T, T) of one sentence."""

    text: str
    paradigm: str
    tokens: list[str]
    weights: dict[str, Tensor]

    def probs(self, *, stack: str, layer: int, head: int) -> Tensor:
        """(T, T) probabilities of `head` in `layer` of `stack`; row i = query i over keys j."""
        if stack not in self.weights:
            raise ValueError(f"stack must be one of {STACKS}, got {stack!r}")
        n_layer, n_head = self.weights[stack].shape[:2]
        if not (0 <= layer < n_layer and 0 <= head < n_head):
            raise IndexError(f"{stack} has {n_layer} layers x {n_head} heads; "
                             f"got layer={layer}, head={head}")
        return self.weights[stack][layer, head]


def display_tokens(text: str, tokenizer, *, paradigm: str) -> tuple[list[int], list[str]]:
    """Model input ids and one tick label per token: the original characters of the text.

    Labels come from the tokenizer's offsets (so [UNK] shows the character it replaced, and
    "Sony" its case); code points with no glyph in any font (private use) are drawn as □.
    """
    ids, offsets = tokenizer.encode_with_offsets(text)
    labels = ["".join(c if unicodedata.category(c) not in ("Co", "Cn", "Cs") else "□"
                      for c in text[start:end]) for start, end in offsets]
    if paradigm == "nlu":
        ids, labels = [tokenizer.cls_id, *ids, tokenizer.sep_id], ["[CLS]", *labels, "[SEP]"]
    return ids, labels


@torch.no_grad()
def attention_maps(model, tokenizer, text: str, *, paradigm: str) -> AttentionMaps:
    """Run `model` once over `text` and keep every layer's attention probabilities.

    The text is cut to the model's `max_seq_len`. NLG runs without memory (mem_len=0), so keys
    are exactly the sentence's own tokens.
    """
    if paradigm not in PARADIGMS:
        raise ValueError(f"paradigm must be one of {PARADIGMS}, got {paradigm!r}")
    ids, labels = display_tokens(text, tokenizer, paradigm=paradigm)
    ids, labels = ids[: model.config.max_seq_len], labels[: model.config.max_seq_len]
    if not ids:
        raise ValueError(f"{text!r} has no tokens to attend over")
    input_ids = torch.tensor([ids])  # (1, T)
    task = TaskType.NLU if paradigm == "nlu" else TaskType.NLG
    task_type_ids = torch.full_like(input_ids, int(task))  # (1, T)
    if paradigm == "nlu":
        out = model.forward_nlu(input_ids, task_type_ids=task_type_ids, need_weights=True)
    else:
        out = model.forward_nlg(input_ids, task_type_ids=task_type_ids, need_weights=True,
                                mem_len=0)
    weights = {"universal": torch.stack([w[0] for w in out.weights["universal"]]),  # (L, H, T, T)
               "task": torch.stack([w[0] for w in out.weights[paradigm]])}  # (L', H', T, T)
    return AttentionMaps(text=text, paradigm=paradigm, tokens=labels,
                         weights={k: w.float() for k, w in weights.items()})


def attention_map(model, tokenizer, text: str, *, paradigm: str, layer: int, head: int,
                  stack: str = "universal") -> tuple[list[str], Tensor]:
    """(tokens, probs (T, T)) of one head: row i is query i's distribution over the keys."""
    maps = attention_maps(model, tokenizer, text, paradigm=paradigm)
    return maps.tokens, maps.probs(stack=stack, layer=layer, head=head)


def distance_matrix(*, qlen: int, mlen: int = 0, causal: bool) -> Tensor:
    """(Q, K) relative distance M + i - j of query i to key j; NaN where causal attention masks.

    Built the way the attention builds its BD term: the (R,) distances of `relative_positions`
    as every query's row, moved into key order by `rel_shift` (Transformer-XL App. B).
    """
    klen = mlen + qlen
    positions = relative_positions(qlen=qlen, klen=klen, bidirectional=not causal)  # (R,)
    per_distance = positions.expand(1, 1, qlen, -1)  # (1, 1, Q, R): row i, column r = distance
    distances = rel_shift(per_distance, klen=klen)[0, 0].clone()  # (Q, K)
    if causal:
        future = torch.ones(qlen, klen, dtype=torch.bool).triu(1 + mlen)  # (Q, K)
        distances[future] = float("nan")  # rel_shift leaves garbage there; the mask hides it
    return distances


def plot_attention(tokens: list[str], probs: Tensor, *, causal: bool, title: str = "") -> Figure:
    """Two panels: the attention probabilities (queries down, keys across), and i - j.

    Returns a `Figure` (no pyplot state). Tick labels are Chinese, so this calls
    `use_cjk_font()` (idempotent) first.
    """
    use_cjk_font()
    n = len(tokens)
    side = max(3.0, 0.2 * n + 1.0)
    fig = Figure(figsize=(2 * side + 1.2, side), layout="constrained")
    attn_ax, dist_ax = fig.subplots(1, 2)
    image = attn_ax.imshow(probs.numpy(), cmap="viridis", vmin=0.0, vmax=float(probs.max()))
    fig.colorbar(image, ax=attn_ax, shrink=0.8, label="probability")
    attn_ax.set_title(title or "attention probabilities", fontsize=10)
    distances = distance_matrix(qlen=n, causal=causal)
    cmap = colormaps["coolwarm"].with_extremes(bad="0.25")  # masked (future) cells dark
    dist_image = dist_ax.imshow(distances.numpy(), cmap=cmap, vmin=-(n - 1), vmax=n - 1)
    fig.colorbar(dist_image, ax=dist_ax, shrink=0.8, label="i - j")
    dist_ax.set_title("relative distance i - j" + (" (future masked)" if causal else ""),
                      fontsize=10)
    fontsize = 9 if n <= 30 else 6
    rotation = 90 if any(len(t) > 1 for t in tokens) else 0  # [CLS], English words
    for ax in (attn_ax, dist_ax):
        ax.set_xticks(range(n), tokens, fontsize=fontsize, rotation=rotation)
        ax.set_yticks(range(n), tokens, fontsize=fontsize)
        ax.set_xlabel("key j")
        ax.set_ylabel("query i")
    return fig
