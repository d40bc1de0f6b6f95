"""Operations on `NLGCache` that generation needs: pick rows (beam search) and keep a window.

Both are exact for relative attention: a cached key/value carries no absolute position
(Transformer-XL arXiv 1901.02860 §3.3; positions enter through R_{i-j} at the query), so rows
can be reordered and the oldest positions dropped without touching the rest. The position
tables are shared: they depend only on the distances, not on the batch.
"""

from __future__ import annotations

from dataclasses import replace

import torch
from torch import Tensor

from ernie3_lite.model.decoding import NLGCache
from ernie3_lite.model.stack import KeyValue


def _select(key_values: list[KeyValue], rows: Tensor) -> list[KeyValue]:
    return [(k.index_select(0, rows), v.index_select(0, rows)) for k, v in key_values]


def select_rows(cache: NLGCache, rows: Tensor | list[int]) -> NLGCache:
    """A cache whose row b is row ``rows[b]`` of `cache`: (B, H, K, Dh) -> (len(rows), H, K, Dh).

    Beam search calls this after each step with the beam each survivor came from (rows may
    repeat: two survivors of one beam share its past), and once after the prompt to copy the
    single prompt row into ``num_beams`` rows.
    """
    rows = torch.as_tensor(rows, dtype=torch.long, device=cache.token_type_ids.device)
    return replace(
        cache,
        universal=_select(cache.universal, rows),
        nlg=_select(cache.nlg, rows),
        token_type_ids=cache.token_type_ids.index_select(0, rows),  # (len(rows),)
        task_type_ids=cache.task_type_ids.index_select(0, rows),
    )


def _keep_last(key_values: list[KeyValue], length: int) -> list[KeyValue]:
    return [(k[:, :, -length:], v[:, :, -length:]) for k, v in key_values]  # (B, H, K', Dh)


def keep_last(cache: NLGCache, length: int) -> NLGCache:
    """The cache cut to its newest `length` positions (unchanged if it is not longer).

    Generation keeps at most ``mem_len + max_seq_len`` positions by default: the longest
    context (memory + segment) the model attended to in pre-training; further back, relative
    distances were never trained.
    """
    if length < 1:
        raise ValueError(f"length={length} must be >= 1")
    if cache.length <= length:
        return cache
    return replace(cache, universal=_keep_last(cache.universal, length),
                   nlg=_keep_last(cache.nlg, length))
