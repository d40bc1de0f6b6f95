"""The knowledge probe: the leak check on the shipped files and on an injected leak, and a
small end-to-end probe with a random model."""

from __future__ import annotations

import pytest

from ernie3_lite import DATA_SAMPLES
from ernie3_lite.data.formats import Triple
from ernie3_lite.evaluation.probe import (
    ProbeLeakError,
    check_no_leak,
    knowledge_probe,
    load_probe_data,
    probe_queries,
    seen_in_pretraining,
)


@pytest.fixture(scope="module")
def data():
    return load_probe_data(DATA_SAMPLES, split="test")


@pytest.mark.parametrize("split", ["valid", "test"])
def test_shipped_probe_splits_pass_the_leak_check(split):
    data = load_probe_data(DATA_SAMPLES, split=split)
    assert check_no_leak(data.triples, data.training_aligned) == len(data.triples) > 0


def test_an_injected_leaked_triple_is_caught_in_either_order(data):
    rec = data.training_aligned[0]
    for leaked in (Triple(rec["head"], rec["relation"], rec["tail"]),
                   Triple(rec["tail"], "隶属", rec["head"])):  # reversed pair, other relation
        with pytest.raises(ProbeLeakError, match="1 probe triple"):
            check_no_leak([*data.triples, leaked], data.training_aligned)


def test_knowledge_probe_refuses_a_leak_before_scoring(data):
    rec = data.training_aligned[0]
    leaked = [Triple(rec["head"], rec["relation"], rec["tail"])]
    with pytest.raises(ProbeLeakError):  # model=None: it must fail before touching a model
        knowledge_probe(None, None, leaked, data.candidates,
                        training_aligned=data.training_aligned)


def test_sentence_queries_come_from_the_held_out_alignment_only(data):
    queries = probe_queries(data.triples, data.candidates, kind="sentence",
                            aligned=data.aligned, max_sentences=2)
    held_out = {r["sentence"] for r in data.aligned}
    training = {r["sentence"] for r in data.training_aligned}
    for q in queries:
        assert any(q.filled(q.gold) in s for s in held_out)
        assert not any(q.filled(q.gold) in s for s in training - held_out)
    per_triple = [probe_queries([t], data.candidates, kind="sentence", aligned=data.aligned,
                                max_sentences=2) for t in data.triples]
    assert all(1 <= len(qs) <= 2 for qs in per_triple)  # every held-out pair has a sentence
    assert 0 < seen_in_pretraining(queries) <= len(queries)
    assert seen_in_pretraining(probe_queries(data.triples, data.candidates)) == 0  # templates


@pytest.mark.parametrize("kind", ["template", "sentence"])
def test_knowledge_probe_end_to_end(random_model, tokenizer, data, kind):
    triples = [t for t in data.triples if t.relation != "隶属"]  # small candidate sets: fast
    result = knowledge_probe(random_model, tokenizer, triples, data.candidates,
                             training_aligned=data.training_aligned, queries=kind,
                             aligned=data.aligned, graph=data.graph, scorer="nlu")
    assert result["triples"] == result["covered"] == len(triples) == result["overall"]["n"]
    assert set(result["per_group"]) == {t.relation for t in triples}
    overall = result["overall"]
    assert 0 <= overall["acc@1"] <= overall["acc@5"] <= 1
    assert overall["random@1"] == pytest.approx(
        sum(1 / len(data.candidates[t.relation]) for t in triples) / len(triples), rel=0.05)
