"""Cloze ranking: scores against the batched scorer, ranks against the scores."""

from __future__ import annotations

import pytest
import torch

from ernie3_lite import DATA_SAMPLES
from ernie3_lite.data.formats import read_jsonl
from ernie3_lite.evaluation.cloze import ClozeQuery, evaluate_cloze, rank_queries, score_cloze
from ernie3_lite.evaluation.scoring import continuation_log_likelihood


def real_query() -> ClozeQuery:
    """The first held-out aligned sentence (a 货币 pair), tail mention blanked, 5 currencies."""
    rec = read_jsonl(DATA_SAMPLES / "kg" / "aligned_test.jsonl")[0]
    start, end = rec["tail_span"]
    sentence = rec["sentence"]
    candidates = ("日元", rec["tail"], "欧元", "英镑", "卢布")
    return ClozeQuery(left=sentence[max(0, start - 20):start], right=sentence[end:end + 8],
                      candidates=candidates, gold=1, group=rec["relation"], source=rec["doc_id"])


def test_nlg_cloze_score_is_the_mean_log_prob_of_candidate_and_right_context(random_model,
                                                                             tokenizer):
    query = real_query()
    scores = score_cloze(random_model, tokenizer, query, scorer="nlg", score="continuation")
    conts = [tokenizer.encode(c + query.right) for c in query.candidates]
    generic = continuation_log_likelihood(random_model, [tokenizer.encode(query.left)] * 5, conts,
                                          bos_id=tokenizer.sep_id)
    torch.testing.assert_close(scores, generic.mean(), rtol=0, atol=1e-4)
    sums = score_cloze(random_model, tokenizer, query, scorer="nlg", normalize=False,
                       score="continuation")
    torch.testing.assert_close(sums, generic.log_likelihood, rtol=0, atol=1e-4)


def test_nlu_cloze_mean_is_the_sum_over_candidate_characters(random_model, tokenizer):
    query = real_query()
    mean = score_cloze(random_model, tokenizer, query, scorer="nlu")
    total = score_cloze(random_model, tokenizer, query, scorer="nlu", normalize=False)
    lengths = torch.tensor([len(tokenizer.encode(c)) for c in query.candidates], dtype=torch.float)
    torch.testing.assert_close(mean, total / lengths)
    with pytest.raises(ValueError, match="scorer"):
        score_cloze(random_model, tokenizer, query, scorer="gpt")


@pytest.mark.parametrize("scorer", ["nlg", "nlu"])
def test_ranks_follow_the_scores(random_model, tokenizer, scorer):
    base = real_query()
    queries = [ClozeQuery(base.left, base.right, base.candidates, gold=g, group=base.group)
               for g in range(len(base.candidates))]
    scores = score_cloze(random_model, tokenizer, base, scorer=scorer)
    ranked = rank_queries(random_model, tokenizer, queries, scorer=scorer)
    order = scores.argsort(descending=True).tolist()
    assert [r.rank for r in ranked] == [order.index(g) + 1 for g in range(len(queries))]
    result = evaluate_cloze(random_model, tokenizer, queries, scorer=scorer, ks=(1, 5))
    assert result["overall"]["acc@1"] == pytest.approx(1 / 5)  # exactly one gold is the argmax
    assert result["overall"]["acc@5"] == 1.0 and result["overall"]["random@1"] == 0.2
    assert set(result["per_group"]) == {base.group}


def test_cloze_query_validation():
    query = real_query()
    assert query.filled(1) == query.left + "美元" + query.right
    with pytest.raises(ValueError, match="distinct"):
        ClozeQuery("a", "b", ("x", "x"), gold=0)
    with pytest.raises(ValueError, match="gold"):
        ClozeQuery("a", "b", ("x", "y"), gold=2)
