"""Relative positions of Transformer-XL attention (Transformer-XL arXiv 1901.02860 §3.3).

Keys and values carry no absolute position; a score learns the distance between query and key
from sinusoid embeddings R of that distance. These helpers give the distances a segment needs
(causal NLG: K-1..0; bidirectional NLU, as ERNIE 3.0's NLU network needs: also -1..-(Q-1)),
their embeddings, and the causal mask. B batch, Q query length, M memory length, K = M + Q.
"""

from __future__ import annotations

import torch
from torch import Tensor


def relative_positions(*, qlen: int, klen: int, bidirectional: bool, clamp_len: int | None = None,
                       device: torch.device | str | None = None,
                       dtype: torch.dtype = torch.float32) -> Tensor:
    """(R,) float distances in descending order: klen-1, ..., 0 [, -1, ..., -(qlen-1)].

    Causal attention only needs the K non-negative distances (TXL's ``pos_seq``); bidirectional
    attention also needs the Q-1 negative ones, for keys to the right of the query (as XLNet's
    ``attn_type="bi"``). ``clamp_len`` caps |distance| (TXL's ``clamp_len``). ``dtype`` should be
    the model's, promoted to at least float32 (`position_dtype`): the sinusoid of a float32
    distance of a few thousand is only ~1e-4 accurate, which a float64 truth test would see.
    """
    end = -qlen if bidirectional else -1
    pos = torch.arange(klen - 1, end, -1, device=device, dtype=dtype)  # (R,)
    if clamp_len is not None:
        pos = pos.clamp(min=-clamp_len, max=clamp_len)
    return pos


def position_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype to build a position table in for a model in `dtype`: float64 stays float64,
    bf16/fp16 (and anything narrower) are promoted to float32, as the table is cast afterwards."""
    return torch.promote_types(dtype, torch.float32)


def sinusoid_embedding(positions: Tensor, d_model: int) -> Tensor:
    """(R,) distances -> (R, d_model) = [sin(p·ω) | cos(p·ω)], ω_k = 1/10000^(2k/d) (TXL §3.3).

    Halves are concatenated, not interleaved, as in the Transformer-XL code. Computed in the
    positions' dtype when it is floating (float64 in tests), float32 otherwise.
    """
    if d_model % 2:
        raise ValueError(f"d_model must be even for sinusoid positions, got {d_model}")
    dtype = positions.dtype if positions.is_floating_point() else torch.float32
    steps = torch.arange(0, d_model, 2, device=positions.device, dtype=dtype)  # (d/2,)
    inv_freq = 1.0 / (10000 ** (steps / d_model))
    angles = torch.outer(positions.to(dtype), inv_freq)  # (R, d/2)
    return torch.cat([angles.sin(), angles.cos()], dim=-1)  # (R, d_model)


def causal_mask(*, qlen: int, mlen: int, device: torch.device | str | None = None) -> Tensor:
    """(Q, K) bool, True = masked: query i may see all M memory keys and current keys j <= i."""
    ones = torch.ones(qlen, mlen + qlen, dtype=torch.bool, device=device)
    return torch.triu(ones, diagonal=1 + mlen)  # (Q, K), TXL's dec_attn_mask
