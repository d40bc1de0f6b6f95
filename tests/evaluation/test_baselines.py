"""The classical baselines of the quality report, each on tiny data (needs the baselines extra)."""

from __future__ import annotations

import pytest

from ernie3_lite import DATA_SAMPLES
from ernie3_lite.data.corpus import PretrainingCorpus
from ernie3_lite.data.formats import ClassificationExample, NerSentence, NewsDocument, Triple
from ernie3_lite.evaluation import baselines
from ernie3_lite.evaluation.probe_baselines import cooccurrence, cooccurring_pairs, tail_prior


def reviews(n):
    good, bad = "质量很好非常满意", "太差了很失望退货"
    return [ClassificationExample(good if i % 2 else bad, str(i % 2)) for i in range(n)]


def test_majority_class():
    train = [ClassificationExample("a", "1")] * 3 + [ClassificationExample("b", "0")]
    test = [ClassificationExample("c", "1"), ClassificationExample("d", "0")]
    assert baselines.majority_class(train, test) == {"test": 0.5, "label": "1"}


def test_tfidf_logistic_regression_separates_words():
    pytest.importorskip("sklearn")
    result = baselines.tfidf_logistic_regression(reviews(20), reviews(6), reviews(8))
    assert result["test"] == 1.0 and result["C"] in (0.3, 1.0, 3.0, 10.0)


def ner_sentences(n):
    out = []
    for i in range(n):
        text = "我在北京工作" if i % 2 else "他去上海旅游"
        tags = ("O", "O", "B-LOC", "I-LOC", "O", "O")
        out.append(NerSentence(tuple(text), tags))
    return out


def test_crf_learns_the_locations_and_all_o_is_zero():
    pytest.importorskip("sklearn_crfsuite")
    data = ner_sentences(20)
    assert baselines.all_outside(data)["test"] == 0.0
    result = baselines.crf_tagger(data, data[:4], data[:6], max_iterations=30)
    assert result["test"] == 1.0


def test_char_features_window():
    feats = baselines.char_features(list("北京"))
    assert feats[0]["c[-1]"] == "<s>" and feats[0]["c[1]"] == "京"
    assert feats[1]["c[0:1]"] == "京</s>" and feats[1]["c[-1:0]"] == "北京"


def test_lead_baselines():
    doc = NewsDocument("d1", "北京下雪", ("北京下雪了。明天转晴。",), ())
    out = baselines.lead_baselines([doc], [doc], ks=(4, 8))
    assert out["lead_k"]["k"] == 4 and out["lead_k"]["test"] == 1.0
    assert baselines.first_sentence("北京下雪了。明天转晴。") == "北京下雪了。"
    assert 0 < out["first_sentence"]["test"] < 1


def test_require_names_the_extra():
    with pytest.raises(ImportError, match=r"\.\[baselines\]"):
        baselines.require("no_such_module_for_baselines")


def test_probe_baselines_rank_by_counts():
    graph = [Triple("甲市", "隶属", "子省"), Triple("乙市", "隶属", "丑省"),
             Triple("丙市", "隶属", "丑省"), Triple("丁县", "隶属", "甲市")]
    candidates = {"隶属": ("丑省", "子省", "甲市")}
    probe = [Triple("甲市", "隶属", "子省")]
    sentences = ["甲市是子省的城市", "甲市和丑省", "甲市、子省", "甲市甲市"]
    co = cooccurrence(probe, candidates, graph, sentences)
    assert co["acc@1"] == 1.0  # 子省 2 sentences, 丑省 1, the head itself last
    aligned = [{"relation": "隶属", "tail": "丑省"}] * 2 + [{"relation": "隶属", "tail": "子省"}]
    assert tail_prior(probe, candidates, graph, aligned)["acc@1"] == 0.0
    assert cooccurring_pairs(probe, sentences) == 1
    assert cooccurring_pairs([Triple("乙市", "隶属", "丑省")], sentences) == 0


def test_probe_baselines_on_data_samples():
    from ernie3_lite.evaluation.probe import load_probe_data

    p = load_probe_data(DATA_SAMPLES, split="valid")
    sentences = PretrainingCorpus(DATA_SAMPLES, split="train").sentences()
    row = cooccurrence(p.triples[:5], p.candidates, p.graph, sentences)
    assert row["n"] == 5 and 0 <= row["acc@1"] <= row["acc@5"] <= 1
