"""Beam rows and the context window on `NLGCache`."""

from __future__ import annotations

import pytest
import torch

from ernie3_lite.generation import keep_last, select_rows
from ernie3_lite.model.decoding import decode_step, prefill


def test_selected_rows_decode_like_the_rows_they_came_from(model):
    ids = torch.randint(5, 100, (2, 7), generator=torch.Generator().manual_seed(0))  # (2, 7)
    _, cache = prefill(model, ids)
    picked = select_rows(cache, [1, 1, 0])
    assert picked.universal[0][0].shape[0] == 3 and picked.length == cache.length
    nxt = torch.tensor([11, 12, 13])
    logits, _ = decode_step(model, nxt, picked)
    reference, _ = decode_step(model, torch.tensor([13, 11]), cache)  # rows 0 and 1, own tokens
    torch.testing.assert_close(logits[2], reference[0], rtol=0, atol=1e-6)
    torch.testing.assert_close(logits[0], reference[1], rtol=0, atol=1e-6)
    assert not torch.allclose(logits[0], logits[1])  # same past, different token


def test_keep_last_keeps_the_newest_positions(model):
    ids = torch.randint(5, 100, (1, 10), generator=torch.Generator().manual_seed(1))
    _, cache = prefill(model, ids)
    short = keep_last(cache, 4)
    assert short.length == 4
    for (k, v), (k_all, v_all) in zip(short.nlg, cache.nlg, strict=True):
        torch.testing.assert_close(k, k_all[:, :, -4:])
        torch.testing.assert_close(v, v_all[:, :, -4:])
    assert keep_last(cache, 10) is cache
    with pytest.raises(ValueError, match="length"):
        keep_last(cache, 0)
