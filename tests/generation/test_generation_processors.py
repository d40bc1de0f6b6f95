"""Logits processors on hand-checked numbers."""

from __future__ import annotations

import math

import pytest
import torch

from ernie3_lite.generation import (
    GenerationConfig,
    apply_repetition_penalty,
    apply_temperature,
    mask_tokens,
    process_logits,
    top_k_filter,
    top_p_filter,
)

INF = float("inf")


def test_repetition_penalty_divides_positive_and_multiplies_negative_logits():
    logits = torch.tensor([[2.0, -1.0, 0.5, 3.0], [1.0, 1.0, -4.0, 0.0]])
    seen = torch.tensor([[0, 1, 1], [2, 3, 0]])  # row 0 saw token 1 twice: penalised once
    out = apply_repetition_penalty(logits, seen, penalty=2.0)
    expected = torch.tensor([[1.0, -2.0, 0.5, 3.0], [0.5, 1.0, -8.0, 0.0]])
    torch.testing.assert_close(out, expected)
    assert logits[0, 0] == 2.0  # not in place
    assert apply_repetition_penalty(logits, seen, penalty=1.0) is logits


def test_temperature_scales_and_rejects_zero():
    logits = torch.tensor([1.0, -2.0])
    torch.testing.assert_close(apply_temperature(logits, temperature=0.5),
                               torch.tensor([2.0, -4.0]))
    with pytest.raises(ValueError, match="temperature"):
        apply_temperature(logits, temperature=0.0)


def test_top_k_keeps_the_k_largest():
    logits = torch.tensor([[0.1, 3.0, -1.0, 2.0, 0.5]])
    out = top_k_filter(logits, k=2)
    assert torch.isfinite(out).tolist() == [[False, True, False, True, False]]
    assert top_k_filter(logits, k=0) is logits


def _logits(probs: list[float]) -> torch.Tensor:
    return torch.tensor([math.log(p) for p in probs])


@pytest.mark.parametrize(("p", "kept"), [
    (0.01, [1]),  # the argmax alone (mass 0.5) already exceeds p
    (0.45, [1]),  # 0.5 >= 0.45: one token is enough
    (0.7, [1, 3]),  # 0.5 < 0.7 <= 0.5 + 0.25 (exact boundaries are left to float rounding)
    (0.8, [1, 3, 0]),  # 0.75 < 0.8 <= 0.875
    (0.9, [1, 3, 0, 2]),
    (1.0, [1, 3, 0, 2]),
])
def test_top_p_keeps_the_smallest_set_with_mass_at_least_p(p, kept):
    logits = _logits([0.125, 0.5, 0.125, 0.25])  # order by probability: 1, 3, then 0 / 2
    out = top_p_filter(logits, p=p)
    kept_ids = torch.isfinite(out).nonzero().flatten().tolist()
    if len(kept) == 3:  # tokens 0 and 2 tie at 0.125: either may be the third
        assert len(kept_ids) == 3 and {1, 3} <= set(kept_ids)
    else:
        assert sorted(kept_ids) == sorted(kept)
    torch.testing.assert_close(out[torch.isfinite(out)], logits[torch.isfinite(out)])


def test_top_p_works_per_row():
    logits = torch.stack([_logits([0.7, 0.2, 0.1]), _logits([0.1, 0.2, 0.7])])  # (2, 3)
    assert torch.isfinite(top_p_filter(logits, p=0.85)).tolist() == [[True, True, False],
                                                                    [False, True, True]]


def test_mask_tokens_and_the_processing_order():
    logits = torch.tensor([[4.0, 3.0, 1.0, -1.0]])
    assert torch.isinf(mask_tokens(logits, [0, 2])).tolist() == [[True, False, True, False]]
    seen = torch.tensor([[1]])
    greedy = GenerationConfig(repetition_penalty=2.0, temperature=0.5, top_k=1)
    out = process_logits(logits, previous_ids=seen, config=greedy, banned_ids=[0])
    # greedy: banned and penalty only (temperature and top-k never change an argmax)
    torch.testing.assert_close(out, torch.tensor([[-INF, 1.5, 1.0, -1.0]]))
    sample = GenerationConfig(strategy="sample", repetition_penalty=2.0, temperature=0.5,
                              top_k=2)
    out = process_logits(logits, previous_ids=seen, config=sample, banned_ids=[0])
    torch.testing.assert_close(out, torch.tensor([[-INF, 3.0, 2.0, -INF]]))
