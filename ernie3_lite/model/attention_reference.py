"""The readable reference: Transformer-XL attention in kimiyoung's time-major einsum layout.

This mirrors the data flow of ``RelPartialLearnableMultiHeadAttn._forward`` in the original
Transformer-XL code (arXiv 1901.02860 §3.3, App. B): tensors are ``[len, batch, head, d_head]``,
scores are ``[qlen, klen, batch, head]`` and the softmax runs over dim 1. It is written for
reading next to the paper, and tested equal to the fast batch-first path in ``attention.py``,
which is what training uses (the strided softmax and einsum permutes here cost ~3x on CPU).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import Tensor

from ernie3_lite.model.attention import AttentionOutput, check_inputs, mask_value

if TYPE_CHECKING:
    from ernie3_lite.model.attention import RelMultiHeadAttention


def rel_shift_time_major(x: Tensor, *, klen: int) -> Tensor:
    """[qlen, rlen, B, H] -> [qlen, klen, B, H]; out[i, j] = x[i, j + qlen - 1 - i] (App. B).

    The classic trick: put a zero column in front of every row, read the (qlen, rlen+1) block
    as (rlen+1, qlen), drop its first "row" (qlen cells) and read the rest as (qlen, rlen). Cell
    (i, j) then lands on padded cell (i, j + qlen - i), i.e. on x[i, j + qlen - 1 - i]: row i
    has moved left by qlen-1-i. With rlen = klen (causal) cells j > mlen + i wrap into the next
    row (garbage that the causal mask hides); with rlen = klen + qlen - 1 (bidirectional) all
    cells are valid and the extra columns are sliced away, as ERNIE-Doc does.
    """
    qlen, rlen = x.shape[0], x.shape[1]
    zero_pad = x.new_zeros(qlen, 1, *x.shape[2:])  # [qlen, 1, B, H]
    x_padded = torch.cat([zero_pad, x], dim=1)  # [qlen, rlen+1, B, H]
    x_padded = x_padded.view(rlen + 1, qlen, *x.shape[2:])  # [rlen+1, qlen, B, H] reinterpret
    return x_padded[1:].reshape_as(x)[:, :klen]  # [qlen, klen, B, H]


def reference_attention(attn: RelMultiHeadAttention, h: Tensor, *, pos_emb: Tensor,
                        r_w_bias: Tensor, r_r_bias: Tensor, memory: Tensor | None,
                        attn_mask: Tensor | None, kv_cache: tuple[Tensor, Tensor] | None,
                        need_weights: bool) -> AttentionOutput:
    """Same contract as ``RelMultiHeadAttention.forward``; computed the kimiyoung way."""
    if memory is not None and kv_cache is not None:
        raise ValueError("pass either memory (hidden states) or kv_cache, not both")
    n_head, d_head = attn.n_head, attn.d_head
    w = h.transpose(0, 1)  # [qlen, B, d_model]: time-major like the original code
    qlen, bsz = w.shape[0], w.shape[1]
    if memory is not None:
        cat = torch.cat([memory.transpose(0, 1), w], dim=0)  # [mlen+qlen, B, d_model]
        w_heads = attn.qkv_net(cat)  # [klen, B, 3*H*Dh] (queries of memory rows are dropped)
    else:
        w_heads = attn.qkv_net(w)  # [qlen, B, 3*H*Dh]
    r_head_k = attn.r_net(pos_emb.to(attn.r_net.weight.dtype))  # [rlen, H*Dh]
    w_head_q, w_head_k, w_head_v = torch.chunk(w_heads, 3, dim=-1)
    w_head_q = w_head_q[-qlen:].view(qlen, bsz, n_head, d_head)  # [qlen, B, H, Dh]
    w_head_k = w_head_k.view(-1, bsz, n_head, d_head)  # [klen, B, H, Dh]
    w_head_v = w_head_v.view(-1, bsz, n_head, d_head)  # [klen, B, H, Dh]
    if kv_cache is not None:
        w_head_k = torch.cat([kv_cache[0].permute(2, 0, 1, 3), w_head_k], 0)  # [klen, B, H, Dh]
        w_head_v = torch.cat([kv_cache[1].permute(2, 0, 1, 3), w_head_v], 0)  # [klen, B, H, Dh]
    klen, rlen = w_head_k.shape[0], r_head_k.shape[0]
    check_inputs(qlen=qlen, klen=klen, rlen=rlen, attn_mask=attn_mask)
    r_head_k = r_head_k.view(rlen, n_head, d_head)  # [rlen, H, Dh]
    attn_vec, attn_prob = reference_relative_attention(
        w_head_q, w_head_k, w_head_v, r_head_k, r_w_bias=r_w_bias, r_r_bias=r_r_bias,
        scale=attn.scale, attn_mask=attn_mask, dropout_p=attn.dropatt if attn.training else 0.0)
    attn_vec = attn_vec.reshape(qlen, bsz, n_head * d_head)  # [qlen, B, H*Dh]
    output = attn.o_net(attn_vec).transpose(0, 1)  # (B, Q, d_model)
    weights = attn_prob.permute(2, 3, 0, 1) if need_weights else None  # (B, H, Q, K)
    key_value = (w_head_k.permute(1, 2, 0, 3), w_head_v.permute(1, 2, 0, 3))  # (B, H, K, Dh)
    return AttentionOutput(output, weights, key_value)


def reference_relative_attention(
        w_head_q: Tensor, w_head_k: Tensor, w_head_v: Tensor, r_head_k: Tensor, *,
        r_w_bias: Tensor, r_r_bias: Tensor, scale: float, attn_mask: Tensor | None = None,
        dropout_p: float = 0.0) -> tuple[Tensor, Tensor]:
    """Time-major core: q [qlen, B, H, Dh], k, v [klen, B, H, Dh], r_head_k [rlen, H, Dh].

    Returns attn_vec [qlen, B, H, Dh] and attn_prob [qlen, klen, B, H] (before dropout).
    """
    qlen, bsz, n_head = w_head_q.shape[:3]
    klen = w_head_k.shape[0]
    # (a) + (c): content score with the global content bias u
    rw_head_q = w_head_q + r_w_bias.to(w_head_q.dtype)  # [qlen, B, H, Dh]
    ac = torch.einsum("ibnd,jbnd->ijbn", rw_head_q, w_head_k)  # [qlen, klen, B, H]
    # (b) + (d): position score with the global position bias v, then shifted into key order
    rr_head_q = w_head_q + r_r_bias.to(w_head_q.dtype)  # [qlen, B, H, Dh]
    bd = torch.einsum("ibnd,jnd->ijbn", rr_head_q, r_head_k)  # [qlen, rlen, B, H]
    bd = rel_shift_time_major(bd, klen=klen)  # [qlen, klen, B, H]
    attn_score = (ac + bd) * scale  # [qlen, klen, B, H]

    mask = dead = None
    if attn_mask is not None:  # (B, H, Q, K)-broadcastable -> [qlen, klen, B, H]
        mask = attn_mask.expand(bsz, n_head, qlen, klen).permute(2, 3, 0, 1)
        dead = mask.all(dim=1, keepdim=True)  # [qlen, 1, B, H]: rows with no visible key
    attn_prob = masked_softmax(attn_score, mask, dead, dim=1).to(w_head_v.dtype)  # softmax over j
    dropped = torch.nn.functional.dropout(attn_prob, dropout_p, dropout_p > 0)
    attn_vec = torch.einsum("ijbn,jbnd->ibnd", dropped, w_head_v)  # [qlen, B, H, Dh]
    return attn_vec, attn_prob


def masked_softmax(scores: Tensor, attn_mask: Tensor | None, dead: Tensor | None,
                   dim: int = -1) -> Tensor:
    """Softmax over keys (float32 at least); masked cells get 0; ``dead`` rows are all 0."""
    if scores.dtype in (torch.float16, torch.bfloat16):
        scores = scores.float()
    if attn_mask is not None:
        scores = scores.masked_fill(attn_mask, mask_value(scores.dtype))
    probs = torch.softmax(scores, dim=dim)
    return probs if dead is None else probs.masked_fill(dead, 0.0)
