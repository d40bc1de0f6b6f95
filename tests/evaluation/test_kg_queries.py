"""Cloze queries built from the real knowledge graph and aligned news sentences."""

from __future__ import annotations

import pytest

from ernie3_lite import DATA_SAMPLES
from ernie3_lite.data.formats import Triple, read_jsonl, read_triples
from ernie3_lite.evaluation.kg_queries import (
    TEMPLATES,
    _ethnic_groups,
    aligned_cloze_queries,
    candidate_forms,
    pair_sentences,
    sentence_query,
    surface_form,
    tails_by_relation,
    template_query,
    true_tails,
)

KG = DATA_SAMPLES / "kg"
GRAPH = read_triples(KG / "triples.tsv")
CANDIDATES = tails_by_relation(GRAPH)
KNOWN = true_tails(GRAPH)
ALIGNED_TEST = read_jsonl(KG / "aligned_test.jsonl")


def test_candidate_sets_are_the_tails_of_each_relation():
    assert set(CANDIDATES) == set(TEMPLATES)
    for relation, tails in CANDIDATES.items():
        assert set(tails) == {t.tail for t in GRAPH if t.relation == relation}


def test_template_query_masks_the_tail():
    triple = Triple("石家庄市", "隶属", "河北省")
    query = template_query(triple, CANDIDATES["隶属"], known=KNOWN)
    assert query.filled(query.gold) == "石家庄市隶属于河北省。"
    assert query.candidates == CANDIDATES["隶属"] and query.source == "template"


def test_other_true_tails_are_filtered_out():
    beijing, changchun = Triple("朝阳区", "隶属", "北京市"), Triple("朝阳区", "隶属", "长春市")
    assert {beijing.tail, changchun.tail} <= KNOWN[("朝阳区", "隶属")]
    query = template_query(beijing, CANDIDATES["隶属"], known=KNOWN)
    assert "长春市" not in query.candidates and query.candidates[query.gold] == "北京市"
    assert len(query.candidates) == len(CANDIDATES["隶属"]) - len(KNOWN[("朝阳区", "隶属")]) + 1
    unfiltered = template_query(beijing, CANDIDATES["隶属"])
    assert "长春市" in unfiltered.candidates
    with pytest.raises(ValueError, match="not a candidate"):
        candidate_forms(beijing, ("上海市",))


def test_short_form_blanks_get_short_form_candidates():
    rec = next(r for r in ALIGNED_TEST
               if r["tail"] == "石家庄市" and r["sentence"][slice(*r["tail_span"])] == "石家庄")
    query = sentence_query(rec, Triple(rec["head"], rec["relation"], rec["tail"]),
                           CANDIDATES[rec["relation"]], known=KNOWN)
    assert query.candidates[query.gold] == "石家庄"
    assert query.filled(query.gold) in rec["sentence"]
    assert all(c == surface_form(t, short=True)
               for c, t in zip(query.candidates, CANDIDATES["省会"], strict=True))
    forms, _ = candidate_forms(Triple("x", "隶属", "吉林省"), CANDIDATES["隶属"], short=True)
    assert forms.count("吉林") == 1 and len(forms) < len(CANDIDATES["隶属"])  # 吉林省 / 吉林市


def test_reversed_record_masks_the_triples_tail_and_keeps_the_other_mention():
    rec = next(r for r in ALIGNED_TEST if r["relation"] == "省会")
    flipped = Triple(rec["tail"], "隶属", rec["head"])  # the same pair read the other way
    query = sentence_query(rec, flipped, CANDIDATES["隶属"], known=KNOWN)
    start, end = rec["head_span"]
    assert query.candidates[query.gold] == rec["sentence"][start:end]
    other = rec["sentence"][slice(*rec["tail_span"])]
    assert other in query.left + query.right
    with pytest.raises(ValueError, match="not about"):
        sentence_query(rec, Triple("北京市", "隶属", "河北省"), CANDIDATES["隶属"])


def test_every_held_out_sentence_becomes_a_query_that_refills_to_the_sentence():
    queries = aligned_cloze_queries(ALIGNED_TEST, GRAPH, window=(10, 5))
    if _ethnic_groups():  # with cpca installed every short form is reproducible
        assert len(queries) == len(ALIGNED_TEST)
    assert len(queries) >= 0.9 * len(ALIGNED_TEST)
    sentences = {r["sentence"] for r in ALIGNED_TEST}
    for q in queries:
        assert any(q.filled(q.gold) in s for s in sentences)


def test_pair_sentences_prefers_the_exact_triple():
    triple = Triple("石家庄市", "隶属", "河北省")
    records = pair_sentences(triple, ALIGNED_TEST)
    assert records and all((r["head"], r["relation"], r["tail"]) == ("石家庄市", "隶属", "河北省")
                           for r in records)
    assert pair_sentences(Triple("北京市", "隶属", "河北省"), ALIGNED_TEST) == []
