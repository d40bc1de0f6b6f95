"""Tuned kernels of Transformer-XL relative attention: ``attention_impl`` "fast" and "sdpa".

They compute what `ernie3_lite.model.attention.relative_attention` computes (the paper's path,
Transformer-XL arXiv 1901.02860 §3.3, App. B; tests/model/test_attention.py checks outputs and
gradients of both against a per-cell loop and against each other) and take the same inputs:
q (B, H, Q, Dh), k, v (B, H, K, Dh) and pos_keys (H, R, Dh) = W_{k,R}R per head. They differ only
in how much memory traffic they spend, which is what costs on CPU once the GEMMs are done
(benchmarks/README.md, S2 and S4):

* heads come first inside ((H, B, ...) as one batch of H·B): pos_keys is shared by the batch,
  so BD is one GEMM per head over all B·Q queries;
* `strided_rel_shift` is a view (no copy); a causal call gets its spare column from a zero row
  padded into pos_keys instead of a padded copy of the scores;
* the mask is *added* in the pass that copies the shifted BD out, and ``baddbmm_`` adds AC onto
  it in place with the scale folded into alpha; nothing re-masks the gradient (masked cells
  get probability exactly 0, fully masked rows a zeroed output);
* "sdpa" hands s·(q+u), k, v and the scaled, masked BD (as a float mask) to
  ``F.scaled_dot_product_attention`` (fused kernels on GPU);
* `one_query_attention`: one unmasked query with causal positions (decoding) needs no shift and
  no mask, so it takes half the ops.

This module imports nothing from ``attention.py``: that file imports this one to dispatch.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def mask_value(dtype: torch.dtype) -> float:
    """The score given to masked cells: the dtype's most negative finite value, not -inf, so
    that a fully masked row gives no NaN (the readable path and these kernels alike)."""
    return torch.finfo(dtype).min


def strided_rel_shift(x: Tensor, *, klen: int) -> Tensor:
    """`attention.rel_shift` as a view: (..., Q, R) per distance -> (..., Q, K) per key.

    ``out[..., i, j] = x[..., i, j + Q - 1 - i]``. In memory the wanted cells of row i start at
    flat offset (Q-1) + i·(R-1), so the result is the flat scores read from offset Q-1 with row
    stride R-1: one slice and two views, no gather, no copy (the padding column of the paper's
    pad-and-reshape becomes the one-shorter row stride). With causal positions (R = K) row i
    would run past the end for the masked keys j > M+i, so one zero column is padded (a copy);
    `fast_relative_attention` avoids that copy by padding a zero row into pos_keys instead.
    """
    *lead, qlen, rlen = x.shape
    if rlen < klen:
        raise ValueError(f"rel_shift needs R >= klen, got R={rlen}, klen={klen}")
    if rlen == klen:  # causal: make room for the (masked) cells j > M+i
        x = F.pad(x, (0, 1))  # (..., Q, K+1)
        rlen += 1
    flat = x.reshape(*lead, qlen * rlen)  # (..., Q*R)
    rows = flat[..., qlen - 1 : qlen - 1 + qlen * (rlen - 1)]  # (..., Q*(R-1)), starts at Q-1
    rows = rows.view(*lead, qlen, rlen - 1)  # (..., Q, R-1)
    return rows if rlen - 1 == klen else rows[..., :klen]  # (..., Q, K); a full slice would
    # still cost a zero-fill pass in backward


def fast_relative_attention(q: Tensor, k: Tensor, v: Tensor, pos_keys: Tensor, *,
                            r_w_bias: Tensor, r_r_bias: Tensor, scale: float,
                            attn_mask: Tensor | None = None, dropout_p: float = 0.0,
                            use_sdpa: bool = False,
                            need_weights: bool = False) -> tuple[Tensor, Tensor | None]:
    """q (B, H, Q, Dh), k, v (B, H, K, Dh), pos_keys (H, R, Dh) -> (B, H, Q, Dh) values and,
    if ``need_weights`` (not with ``use_sdpa``, where SDPA keeps them), the softmax weights
    (B, H, Q, K) before dropout. Same contract as `attention.relative_attention`."""
    bsz, n_head, qlen, d_head = q.shape
    klen, hb = k.shape[2], n_head * bsz
    if qlen == 1 and pos_keys.shape[1] == klen and attn_mask is None:
        return one_query_attention(q, k, v, pos_keys, r_w_bias=r_w_bias, r_r_bias=r_r_bias,
                                   scale=scale, dropout_p=dropout_p, need_weights=need_weights)
    q = q.transpose(0, 1).contiguous()  # (H, B, Q, Dh): the one copy of the queries
    # (b)+(d): BD = ((q+v)·s)·W_{k,R}R for all R distances, then shifted into key order
    q_v = torch.add(r_r_bias.to(q.dtype)[:, None, None] * scale, q, alpha=scale)  # (H, B, Q, Dh)
    if pos_keys.shape[1] == klen:  # causal: the shift needs a spare column; a zero row in
        pos_keys = F.pad(pos_keys, (0, 0, 0, 1))  # pos_keys (H, K+1, Dh) gives it, no copy
    bd = torch.bmm(q_v.view(n_head, bsz * qlen, d_head), pos_keys.transpose(1, 2))  # (H, BQ, R)
    bd = strided_rel_shift(bd.view(n_head, bsz, qlen, -1), klen=klen).flatten(0, 1)  # (HB,Q,K)
    dead = None
    if attn_mask is None:  # baddbmm_ below writes into scores: it must own its memory
        scores = bd.clone(memory_format=torch.contiguous_format)  # (H*B, Q, K)
    else:
        mask = attn_mask[(None,) * (4 - attn_mask.dim())].transpose(0, 1)  # (H|1, B|1, Q|1, K)
        dead = mask.all(dim=-1, keepdim=True)  # (H|1, B|1, Q|1, 1): rows with no visible key
        scores = bd + _additive_mask(mask, n_head=n_head, bsz=bsz, dtype=bd.dtype)  # (HB, Q, K)
    # (a)+(c): AC = (q+u)·k, computed in place on top: scores += s·(q+u)·k^T
    q_u = (q + r_w_bias.to(q.dtype)[:, None, None]).view(hb, qlen, d_head)  # (H*B, Q, Dh)
    k = k.transpose(0, 1).reshape(hb, klen, d_head)  # (H*B, K, Dh)
    v = v.transpose(0, 1).reshape(hb, klen, d_head)  # (H*B, K, Dh)
    if use_sdpa:  # BD + mask as a float attn_mask; SDPA adds it to s·(q+u)·k
        vec = F.scaled_dot_product_attention(
            q_u.view(n_head, bsz, qlen, d_head), k.view(n_head, bsz, klen, d_head),
            v.view(n_head, bsz, klen, d_head), attn_mask=scores.view(n_head, bsz, qlen, klen),
            dropout_p=dropout_p, scale=scale)  # (H, B, Q, Dh)
        vec = vec if dead is None else vec.masked_fill(dead, 0.0)
        return vec.transpose(0, 1), None  # (B, H, Q, Dh)
    scores = scores.baddbmm_(q_u.to(scores.dtype), k.to(scores.dtype).transpose(1, 2),
                             alpha=scale)  # (H*B, Q, K)
    softmax_dtype = torch.promote_types(scores.dtype, torch.float32)  # bf16/fp16 -> fp32
    weights = torch.softmax(scores, dim=-1, dtype=softmax_dtype).to(v.dtype)  # (H*B, Q, K)
    dropped = F.dropout(weights, dropout_p, training=True) if dropout_p > 0 else weights
    vec = torch.bmm(dropped, v).view(n_head, bsz, qlen, d_head)  # (H, B, Q, Dh)
    if dead is not None:  # zero the (Q, Dh) rows, cheaper than the (Q, K) weights
        vec = vec.masked_fill(dead, 0.0)
    if not need_weights:
        return vec.transpose(0, 1), None  # (B, H, Q, Dh)
    weights = weights.view(n_head, bsz, qlen, klen)  # (H, B, Q, K)
    weights = weights if dead is None else weights.masked_fill(dead, 0.0)
    return vec.transpose(0, 1), weights.transpose(0, 1)  # (B, H, Q, Dh), (B, H, Q, K)


def one_query_attention(q: Tensor, k: Tensor, v: Tensor, pos_keys: Tensor, *,
                        r_w_bias: Tensor, r_r_bias: Tensor, scale: float,
                        dropout_p: float = 0.0,
                        need_weights: bool = False) -> tuple[Tensor, Tensor | None]:
    """Decoding, one unmasked query: q (B, H, 1, Dh), k, v (B, H, K, Dh), pos_keys (H, K, Dh).

    The query sits at key index K-1, so distances K-1..0 are already in key order (the shift
    is the identity) and there is nothing to mask: half the ops of the general path, which
    matters when a generated token costs more in op dispatch and weight reads than in FLOPs.
    The scale is folded into the query and AC is added onto BD by ``baddbmm``.
    Returns (B, H, 1, Dh) and, if ``need_weights``, the weights (B, H, 1, K).
    """
    bsz, n_head, _, d_head = q.shape
    klen = k.size(2)
    q_v = torch.add(r_r_bias.to(q.dtype)[:, None] * scale, q, alpha=scale)  # s·(q+v) (B,H,1,Dh)
    q_u = torch.add(r_w_bias.to(q.dtype)[:, None] * scale, q, alpha=scale)  # s·(q+u)
    scores = torch.baddbmm((q_v @ pos_keys.transpose(-1, -2)).view(bsz * n_head, 1, klen),  # BD·s
                           q_u.reshape(bsz * n_head, 1, d_head),  # + AC·s
                           k.reshape(bsz * n_head, klen, d_head).transpose(1, 2))  # (B*H, 1, K)
    weights = torch.softmax(scores, dim=-1,
                            dtype=torch.promote_types(scores.dtype, torch.float32)).to(v.dtype)
    dropped = F.dropout(weights, dropout_p, training=True) if dropout_p > 0 else weights
    vec = torch.bmm(dropped, v.reshape(bsz * n_head, klen, d_head))  # (B*H, 1, Dh)
    weights = weights.view(bsz, n_head, 1, klen) if need_weights else None
    return vec.view(bsz, n_head, 1, d_head), weights


def _additive_mask(mask: Tensor, *, n_head: int, bsz: int, dtype: torch.dtype) -> Tensor:
    """Head-major bool mask (H|1, B|1, Q|1, K) -> float bias (1 or H*B, Q|1, K): 0 or the min.

    A 2-D (Q, K) mask stays (1, Q, K) and broadcasts; one with batch or head dims is expanded
    to H*B rows (a copy, but masks with batch dims are key padding, usually (B, 1, 1, K)).
    """
    bias = torch.zeros(mask.shape, dtype=dtype, device=mask.device)
    bias.masked_fill_(mask, mask_value(dtype))
    if mask.shape[0] * mask.shape[1] == 1:
        return bias.flatten(0, 1)  # (1, Q|1, K)
    return bias.expand(n_head, bsz, *mask.shape[2:]).reshape(n_head * bsz, *mask.shape[2:])
