"""Ranks, accuracy@k and the random-ranking expectation, checked by hand."""

from __future__ import annotations

import pytest
import torch

from ernie3_lite.evaluation.ranking import RankedQuery, gold_rank, random_hit_rate, summarize


def test_gold_rank_counts_better_candidates_and_ties_against_the_gold():
    scores = torch.tensor([0.1, 0.9, 0.5, 0.5, -1.0])
    assert gold_rank(scores, 1) == 1
    assert gold_rank(scores, 0) == 4
    assert gold_rank(scores, 2) == 3  # tied with index 3: pessimistic
    assert gold_rank(torch.zeros(7), 3) == 7  # a constant scorer never gets a hit
    assert gold_rank(torch.tensor([2.0]), 0) == 1


def test_rank_one_is_the_argmax():
    scores = torch.randn(50, generator=torch.Generator().manual_seed(0))
    best = int(scores.argmax())
    assert gold_rank(scores, best) == 1
    assert all(gold_rank(scores, i) > 1 for i in range(50) if i != best)


def test_random_hit_rate():
    assert random_hit_rate(4, k=1) == 0.25
    assert random_hit_rate(4, k=5) == 1.0
    assert random_hit_rate(20, k=5) == 0.25
    with pytest.raises(ValueError):
        random_hit_rate(0, k=1)


def test_summarize_by_hand():
    queries = [RankedQuery(1, 4, "a"), RankedQuery(3, 4, "a"), RankedQuery(6, 10, "b"),
               RankedQuery(2, 10, "b")]
    out = summarize(queries, ks=(1, 5))
    assert out["overall"]["n"] == 4
    assert out["overall"]["acc@1"] == 0.25
    assert out["overall"]["acc@5"] == 0.75
    assert out["overall"]["random@1"] == pytest.approx((0.25 + 0.25 + 0.1 + 0.1) / 4)
    assert out["overall"]["random@5"] == pytest.approx((1 + 1 + 0.5 + 0.5) / 4)
    assert out["overall"]["mrr"] == pytest.approx((1 + 1 / 3 + 1 / 6 + 1 / 2) / 4)
    assert out["per_group"]["a"]["acc@1"] == 0.5 and out["per_group"]["a"]["acc@5"] == 1.0
    assert out["per_group"]["b"]["acc@1"] == 0.0 and out["per_group"]["b"]["acc@5"] == 0.5
    assert out["per_group"]["b"]["candidates"] == 10
