"""One Transformer-XL layer: relative attention + GeLU position-wise feed-forward, pre-LayerNorm.

Transformer-XL (arXiv 1901.02860 §3.3, "full procedure") and ERNIE 3.0 (arXiv 2107.02137 §3.1)
use post-LN layers: ``o = LN(Linear(attn) + h)``, ``h' = FFN(o)``. I use **pre-LN** instead:

    h = h + Dropout(Attn(LN(h), memory=LN(memory)))
    h = h + Dropout(FFN(LN(h)))

a deliberate design choice (not the paper's): pre-LN trains stably without a long learning-rate
warm-up, which matters for the tiny CPU runs of the notebooks, and the residual stream of every
layer stays un-normalised, so the stack applies one final LayerNorm. Memory holds raw residual
states, and the layer normalises it with the same LayerNorm as its input, so a token sees the
same keys whether it is in memory or in the current segment (that is what makes the
"segment A then B" equals "[A; B]" test exact).
"""

from __future__ import annotations

from typing import NamedTuple

from torch import Tensor, nn

from ernie3_lite.model.attention import RelMultiHeadAttention


class LayerOutput(NamedTuple):
    """hidden (B, Q, d); weights (B, H, Q, K) or None; key_value (k, v) each (B, H, K, Dh)."""

    hidden: Tensor
    weights: Tensor | None
    key_value: tuple[Tensor, Tensor]


class PositionwiseFF(nn.Module):
    """FFN(x) = W_2 Dropout(GeLU(W_1 x + b_1)) + b_2 (GeLU as in ERNIE 3.0 §3.3.3)."""

    def __init__(self, *, d_model: int, d_inner: int, dropout: float) -> None:
        super().__init__()
        self.fc_in = nn.Linear(d_model, d_inner)
        self.act = nn.GELU()
        self.drop = nn.Dropout(dropout)
        self.fc_out = nn.Linear(d_inner, d_model)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc_out(self.drop(self.act(self.fc_in(x))))  # (B, Q, d)


class RelTransformerLayer(nn.Module):
    """Pre-LN Transformer-XL layer (TXL §3.3; kimiyoung's ``RelPartialLearnableDecoderLayer``).

    u (``r_w_bias``) and v (``r_r_bias``) belong to the stack and are passed in, as are the
    sinusoid position embeddings, which all layers of a stack share.
    """

    def __init__(self, *, d_model: int, n_head: int, d_inner: int, dropout: float = 0.0,
                 dropatt: float = 0.0, layer_norm_eps: float = 1e-5,
                 attention_impl: str = "fast") -> None:
        super().__init__()
        self.attn_norm = nn.LayerNorm(d_model, eps=layer_norm_eps)
        self.attn = RelMultiHeadAttention(d_model=d_model, n_head=n_head, d_head=d_model // n_head,
                                          dropatt=dropatt, impl=attention_impl)
        self.ff_norm = nn.LayerNorm(d_model, eps=layer_norm_eps)
        self.ff = PositionwiseFF(d_model=d_model, d_inner=d_inner, dropout=dropout)
        self.drop = nn.Dropout(dropout)

    def forward(self, h: Tensor, *, pos_emb: Tensor, r_w_bias: Tensor, r_r_bias: Tensor,
                memory: Tensor | None = None, kv_cache: tuple[Tensor, Tensor] | None = None,
                attn_mask: Tensor | None = None, need_weights: bool = False,
                pos_keys: Tensor | None = None) -> LayerOutput:
        """h (B, Q, d) -> LayerOutput; memory (B, M, d) raw residual states or kv_cache (k, v).

        pos_emb (R, d); attn_mask bool broadcastable to (B, H, Q, K), True = masked; pos_keys
        (R, H*Dh) this layer's ``attn.pos_keys_of(pos_emb)``, if computed earlier (decoding).
        """
        normed_memory = None if memory is None else self.attn_norm(memory)  # (B, M, d)
        attended = self.attn(self.attn_norm(h), pos_emb=pos_emb, r_w_bias=r_w_bias,
                             r_r_bias=r_r_bias, memory=normed_memory, attn_mask=attn_mask,
                             kv_cache=kv_cache, need_weights=need_weights, pos_keys=pos_keys)
        h = h + self.drop(attended.output)  # (B, Q, d)
        h = h + self.drop(self.ff(self.ff_norm(h)))  # (B, Q, d)
        return LayerOutput(h, attended.weights, attended.key_value)
