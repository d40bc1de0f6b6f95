"""An independent reference for the attention tests: kimiyoung's time-major layout.

This mirrors the data flow of ``RelPartialLearnableMultiHeadAttn._forward`` in the original
Transformer-XL code (arXiv 1901.02860 §3.3, App. B): tensors are ``[len, batch, head, d_head]``,
scores ``[qlen, klen, batch, head]``, the softmax runs over dim 1, and ``rel_shift`` is the
classic pad-and-reshape on the first two dims. The package's batch-first path
(`ernie3_lite.model.attention`) and its kernels are tested equal to it.
"""

from __future__ import annotations

import torch
from torch import Tensor


def rel_shift_time_major(x: Tensor, *, klen: int) -> Tensor:
    """[qlen, rlen, B, H] -> [qlen, klen, B, H]; out[i, j] = x[i, j + qlen - 1 - i] (App. B).

    Put a zero column in front of every row, read the (qlen, rlen+1) block as (rlen+1, qlen),
    drop its first "row" (qlen cells) and read the rest as (qlen, rlen): cell (i, j) lands on
    padded cell (i, j + qlen - i), i.e. on x[i, j + qlen - 1 - i].
    """
    qlen, rlen = x.shape[0], x.shape[1]
    zero_pad = x.new_zeros(qlen, 1, *x.shape[2:])  # [qlen, 1, B, H]
    x_padded = torch.cat([zero_pad, x], dim=1)  # [qlen, rlen+1, B, H]
    x_padded = x_padded.view(rlen + 1, qlen, *x.shape[2:])  # [rlen+1, qlen, B, H] reinterpret
    return x_padded[1:].reshape_as(x)[:, :klen]  # [qlen, klen, B, H]


def time_major_attention(w_head_q: Tensor, w_head_k: Tensor, w_head_v: Tensor,
                         pos_keys: Tensor, *, r_w_bias: Tensor, r_r_bias: Tensor, scale: float,
                         attn_mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """q [qlen, B, H, Dh], k, v [klen, B, H, Dh], pos_keys W_{k,R}R [rlen, H, Dh] (what
    kimiyoung's code calls r_head_k).

    Returns attn_vec [qlen, B, H, Dh] and attn_prob [qlen, klen, B, H]; fully masked rows get
    probability 0 (as the package does).
    """
    qlen, bsz, n_head = w_head_q.shape[:3]
    klen = w_head_k.shape[0]
    ac = torch.einsum("ibnd,jbnd->ijbn", w_head_q + r_w_bias, w_head_k)  # [qlen, klen, B, H]
    bd = torch.einsum("ibnd,jnd->ijbn", w_head_q + r_r_bias, pos_keys)  # [qlen, rlen, B, H]
    attn_score = (ac + rel_shift_time_major(bd, klen=klen)) * scale  # [qlen, klen, B, H]
    if attn_score.dtype in (torch.float16, torch.bfloat16):
        attn_score = attn_score.float()
    dead = None
    if attn_mask is not None:  # (B, H, Q, K)-broadcastable -> [qlen, klen, B, H]
        mask = attn_mask.expand(bsz, n_head, qlen, klen).permute(2, 3, 0, 1)
        dead = mask.all(dim=1, keepdim=True)  # [qlen, 1, B, H]: rows with no visible key
        attn_score = attn_score.masked_fill(mask, torch.finfo(attn_score.dtype).min)
    attn_prob = torch.softmax(attn_score, dim=1)  # over j
    attn_prob = attn_prob if dead is None else attn_prob.masked_fill(dead, 0.0)
    attn_prob = attn_prob.to(w_head_v.dtype)
    attn_vec = torch.einsum("ijbn,jbnd->ibnd", attn_prob, w_head_v)  # [qlen, B, H, Dh]
    return attn_vec, attn_prob
