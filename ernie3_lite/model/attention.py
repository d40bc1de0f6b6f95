"""Transformer-XL relative multi-head attention, as the paper writes it (arXiv 1901.02860 §3.3).

ERNIE 3.0 (arXiv 2107.02137 §3.1) builds its universal and task networks from Transformer-XL
layers; this is the attention of one layer. B batch, Q queries (the segment), M memory, K = M+Q
keys, H heads, Dh head width, R distances (R = K causal, K+Q-1 bidirectional; `positions.py`
gives them, their sinusoids R and the causal mask). Query i sits at key index M+i, so its
distance to key j is M+i-j, and the score is the sum of four terms::

    A_ij = q_i·k_j  (a)  +  q_i·W_{k,R}R_{M+i-j}  (b)  +  u·k_j  (c)  +  v·W_{k,R}R_{M+i-j}  (d)
         = (q_i + u)·k_j  [AC]          +  (q_i + v)·W_{k,R}R_{M+i-j}  [BD]

AC is one matmul against the keys; BD one matmul against the position keys W_{k,R}R of all R
distances (``pos_keys``), whose columns `rel_shift` moves into key order (App. B). The sum is
scaled by 1/sqrt(Dh), masked and soft-maxed, and the weights average the values.
``attention_impl`` "reference" runs `relative_attention` below; "fast" and "sdpa" run the tuned
kernels of `attention_kernels.py`, which the tests hold equal to it.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ernie3_lite.config import ATTENTION_IMPLS as IMPLS
from ernie3_lite.model.attention_kernels import fast_relative_attention, mask_value
from ernie3_lite.model.kv_store import append_key_value


def rel_shift(x: Tensor, *, klen: int) -> Tensor:
    """(..., Q, R) scores per distance -> (..., Q, K) scores per key (TXL App. B).

    Column r holds distance K-1-r (`relative_positions` counts down) and key j is at distance
    M+i-j from query i, i.e. in column j+Q-1-i: ``out[..., i, j] = x[..., i, j + Q - 1 - i]``.
    App. B needs no gather: put a zero column in front of every row, reread the Q·(R+1) cells as
    R+1 rows of Q, drop the first and reread the rest as Q rows of R; cell (i, j) then lands on
    padded cell (i, j+Q-i), which holds x[i, j+Q-1-i]. With causal positions (R = K) the cells
    of keys j > M+i (the future) wrap into the next row: garbage that the causal mask hides.
    Bidirectional attention sees those keys, so it gets Q-1 negative distances (R = K+Q-1).
    """
    *lead, qlen, rlen = x.shape
    if rlen < klen:
        raise ValueError(f"rel_shift needs R >= klen, got R={rlen}, klen={klen}")
    padded = F.pad(x, (1, 0))  # (..., Q, R+1): a zero column in front of every row
    padded = padded.reshape(*lead, rlen + 1, qlen)  # (..., R+1, Q): the same cells, reread
    shifted = padded[..., 1:, :].reshape(*lead, qlen, rlen)  # (..., Q, R): first Q cells gone
    return shifted[..., :klen]  # (..., Q, K): the distances no key needs are cut off


def relative_attention(q: Tensor, k: Tensor, v: Tensor, pos_keys: Tensor, *, r_w_bias: Tensor,
                       r_r_bias: Tensor, scale: float, attn_mask: Tensor | None = None,
                       dropout_p: float = 0.0) -> tuple[Tensor, Tensor]:
    """q (B, H, Q, Dh), k, v (B, H, K, Dh), pos_keys (H, R, Dh), u = r_w_bias, v = r_r_bias
    (H, Dh) -> values (B, H, Q, Dh) and weights (B, H, Q, K), before dropout.

    attn_mask: bool broadcastable to (B, H, Q, K), True = masked. A row that sees no key (a
    padding query) gets weights 0, so its output is 0 and its gradients are finite.
    """
    # (a)+(c): the query plus the global content bias u, against every key
    ac = (q + r_w_bias[:, None, :]) @ k.transpose(-1, -2)  # (B, H, Q, K)
    # (b)+(d): the query plus the global position bias v, against every distance's position key
    bd = (q + r_r_bias[:, None, :]) @ pos_keys.transpose(-1, -2)  # (B, H, Q, R)
    bd = rel_shift(bd, klen=k.shape[2])  # (B, H, Q, K): from distance order into key order
    scores = (ac + bd) * scale  # (B, H, Q, K): A^rel / sqrt(Dh)
    scores = scores.to(torch.promote_types(scores.dtype, torch.float32))  # softmax in >= fp32
    if attn_mask is not None:  # the most negative finite value, not -inf: no NaN below
        scores = scores.masked_fill(attn_mask, mask_value(scores.dtype))
    weights = torch.softmax(scores, dim=-1)  # (B, H, Q, K): a distribution over the keys
    if attn_mask is not None:  # rows with no visible key attend to nothing
        weights = weights.masked_fill(attn_mask.all(dim=-1, keepdim=True), 0.0)
    weights = weights.to(v.dtype)
    dropped = F.dropout(weights, dropout_p, training=dropout_p > 0)  # TXL's dropatt
    return dropped @ v, weights  # (B, H, Q, Dh), (B, H, Q, K)


class AttentionOutput(NamedTuple):
    """output (B, Q, d_model) = o_net(attention), before dropout and the residual; weights
    (B, H, Q, K) if requested; key_value (k, v), each (B, H, K, Dh), of memory or cache plus the
    segment: pass it back as ``kv_cache`` to decode the next tokens."""

    output: Tensor
    weights: Tensor | None
    key_value: tuple[Tensor, Tensor]


class RelMultiHeadAttention(nn.Module):
    """Transformer-XL's ``RelPartialLearnableMultiHeadAttn`` (TXL §3.3), batch-first.

    ``qkv_net`` stacks W_q, W_{k,E}, W_v (d_model -> 3·H·Dh), ``r_net`` is W_{k,R} (d_model ->
    H·Dh), ``o_net`` maps H·Dh -> d_model; no biases, as in TXL. u (``r_w_bias``) and v
    (``r_r_bias``) are passed in: one pair per stack. No LayerNorm or residual here (the pre-LN
    block normalises h and memory). "sdpa" runs "fast" for ``need_weights=True``: SDPA does not
    return its probabilities.
    """

    def __init__(self, *, d_model: int, n_head: int, d_head: int, dropatt: float = 0.0,
                 impl: str = "fast") -> None:
        super().__init__()
        if impl not in IMPLS:
            raise ValueError(f"impl must be one of {IMPLS}, got {impl!r}")
        self.d_model, self.n_head, self.d_head, self.impl = d_model, n_head, d_head, impl
        self.dropatt, self.scale = dropatt, 1.0 / math.sqrt(d_head)
        self.qkv_net = nn.Linear(d_model, 3 * n_head * d_head, bias=False)
        self.r_net = nn.Linear(d_model, n_head * d_head, bias=False)
        self.o_net = nn.Linear(n_head * d_head, d_model, bias=False)

    def forward(self, h: Tensor, *, pos_emb: Tensor, r_w_bias: Tensor, r_r_bias: Tensor,
                memory: Tensor | None = None, attn_mask: Tensor | None = None,
                kv_cache: tuple[Tensor, Tensor] | None = None, need_weights: bool = False,
                pos_keys: Tensor | None = None) -> AttentionOutput:
        """h (B, Q, d_model); pos_emb (R, d_model), the sinusoids of ``relative_positions``.

        memory (B, M, d_model): the previous segment's hidden states (TXL §3.2), or kv_cache
        (k, v) each (B, H, M, Dh): an earlier call's ``key_value`` (exact: keys and values carry
        no absolute position). attn_mask: bool broadcastable to (B, H, Q, K), True = masked.
        pos_keys (R, H*Dh): ``pos_keys_of(pos_emb)`` computed earlier (decoding reuses them).
        """
        if memory is not None and kv_cache is not None:
            raise ValueError("pass either memory (hidden states) or kv_cache, not both")
        bsz, qlen = h.shape[0], h.shape[1]
        q, k, v = (self._heads(x) for x in self._project(h, memory))  # (B, H, Q|K, Dh)
        key_value = (k, v) if kv_cache is None else append_key_value(kv_cache, k, v)
        k, v = key_value  # (B, H, K, Dh) each, cached keys first
        check_inputs(qlen=qlen, klen=k.shape[2], rlen=pos_emb.shape[0], attn_mask=attn_mask)
        if pos_keys is None:
            pos_keys = self.pos_keys_of(pos_emb)  # (R, H*Dh)
        elif pos_keys.shape != (pos_emb.shape[0], self.n_head * self.d_head):
            raise ValueError(f"pos_keys must be (R, H*Dh) = ({pos_emb.shape[0]}, "
                             f"{self.n_head * self.d_head}), got {tuple(pos_keys.shape)}")
        pos_keys = pos_keys.view(-1, self.n_head, self.d_head).transpose(0, 1)  # (H, R, Dh)
        core = dict(r_w_bias=r_w_bias, r_r_bias=r_r_bias, scale=self.scale, attn_mask=attn_mask,
                    dropout_p=self.dropatt if self.training else 0.0)
        if self.impl == "reference":
            vec, weights = relative_attention(q, k, v, pos_keys, **core)
        else:  # the same function with less memory traffic
            vec, weights = fast_relative_attention(
                q, k, v, pos_keys, **core, use_sdpa=self.impl == "sdpa" and not need_weights,
                need_weights=need_weights)
        vec = vec.transpose(1, 2).reshape(bsz, qlen, -1)  # (B, Q, H*Dh): heads side by side
        return AttentionOutput(self.o_net(vec), weights if need_weights else None, key_value)

    def pos_keys_of(self, pos_emb: Tensor) -> Tensor:
        """(R, d_model) sinusoids R -> (R, H*Dh) position keys W_{k,R}R, a row per distance."""
        return self.r_net(pos_emb.to(self.r_net.weight.dtype))  # sinusoids come as float32

    def _project(self, h: Tensor, memory: Tensor | None) -> tuple[Tensor, Tensor, Tensor]:
        """q = W_q h from the segment; k = W_{k,E} [m; h] and v = W_v [m; h] from every key."""
        keys_in = h if memory is None else torch.cat([memory, h], dim=1)  # (B, M+Q, d): [m; h]
        if "q_net" in self._modules:  # after split_projections: one Linear each (tensor parallel)
            return self.q_net(h), self.k_net(keys_in), self.v_net(keys_in)
        if memory is None:  # all three from h: one matmul with the stacked W_q, W_{k,E}, W_v
            return self.qkv_net(h).chunk(3, dim=-1)  # 3 x (B, Q, H*Dh)
        w_q, w_kv = self.qkv_net.weight.split([self.n_head * self.d_head, 2 * self.n_head *
                                               self.d_head])  # W_q; W_{k,E} and W_v stacked
        return F.linear(h, w_q), *F.linear(keys_in, w_kv).chunk(2, dim=-1)  # (B, Q|K, H*Dh)

    def _heads(self, x: Tensor) -> Tensor:
        b, length = x.shape[0], x.shape[1]
        return x.view(b, length, self.n_head, self.d_head).transpose(1, 2)  # (B, H, L, Dh)

    def split_projections(self) -> None:
        """Replace ``qkv_net`` by Linears ``q_net``, ``k_net``, ``v_net`` holding its rows (the
        same function), so that tensor parallel can split each by heads (Megatron-LM, arXiv
        1909.08053 §3); `pretrained.fuse_split_projections` maps the state back."""
        rows = self.qkv_net.weight.detach().chunk(3)  # W_q, W_{k,E}, W_v: (H·Dh, d_model) each
        for name, weight in zip(("q_net", "k_net", "v_net"), rows, strict=True):
            linear = nn.Linear(self.d_model, weight.shape[0], bias=False,
                               device=weight.device, dtype=weight.dtype)
            linear.weight = nn.Parameter(weight.clone(),
                                         requires_grad=self.qkv_net.weight.requires_grad)
            setattr(self, name, linear)
        del self.qkv_net


def check_inputs(*, qlen: int, klen: int, rlen: int, attn_mask: Tensor | None) -> None:
    """Shape/dtype checks on Python ints only (no host sync)."""
    if rlen not in (klen, klen + qlen - 1):
        raise ValueError(f"pos_emb has {rlen} rows; expected klen={klen} (causal) "
                         f"or klen+qlen-1={klen + qlen - 1} (bidirectional)")
    if attn_mask is not None and attn_mask.dtype != torch.bool:
        raise TypeError(f"attn_mask must be bool (True = masked), got {attn_mask.dtype}")
    if rlen == klen and qlen > 1 and attn_mask is None:
        raise ValueError("causal positions (R = K) leave garbage for keys j > M+i: pass the "
                         "causal_mask, or use bidirectional positions (R = K+Q-1)")
