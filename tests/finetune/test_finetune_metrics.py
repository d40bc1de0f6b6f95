"""`ernie3_lite.finetune.metrics` against hand-checked cases.

Entity scores follow seqeval's default mode / conlleval; the first case is seqeval's own README
example (f1 0.50, MISC 0.00, PER 1.00). ROUGE-L is Lin (2004) §3.1 on characters.
"""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ernie3_lite import DATA_SAMPLES
from ernie3_lite.data.formats import read_news
from ernie3_lite.finetune.metrics import (
    SpanCounts,
    accuracy,
    lcs_length,
    mean_rouge_l,
    rouge_l,
    scores_from_counts,
    span_counts,
    span_scores,
)


def test_accuracy():
    assert accuracy([1, 0, 1, 1], [1, 1, 1, 0]) == 0.5
    assert accuracy(["1", "0"], ["1", "0"]) == 1.0
    assert accuracy([], []) == 0.0
    with pytest.raises(ValueError, match="3 predictions for 2 labels"):
        accuracy([1, 1, 1], [1, 1])


# ---- entity spans ------------------------------------------------------------------------------
def test_seqeval_readme_example():
    gold = [["O", "O", "O", "B-MISC", "I-MISC", "I-MISC", "O"], ["B-PER", "I-PER", "O"]]
    pred = [["O", "O", "B-MISC", "I-MISC", "I-MISC", "I-MISC", "O"], ["B-PER", "I-PER", "O"]]
    scores = span_scores(gold, pred)
    assert (scores.precision, scores.recall, scores.f1) == (0.5, 0.5, 0.5)
    assert scores.per_type["MISC"].f1 == 0.0 and scores.per_type["MISC"].support == 1
    assert scores.per_type["PER"].f1 == 1.0 and scores.per_type["PER"].support == 1


def test_tricky_bio_i_without_b_adjacent_types_and_a_span_at_the_end():
    # gold spans: PER [0, 2) (I- without B- starts it), LOC [3, 4), ORG [4, 6) right after the
    # LOC (I-ORG after B-LOC starts a new entity), PER [7, 8) as the last token
    gold = [["I-PER", "I-PER", "O", "B-LOC", "I-ORG", "I-ORG", "O", "B-PER"]]
    # the prediction writes the first PER with B-, gets LOC and ORG, misses the final PER
    pred = [["B-PER", "I-PER", "O", "B-LOC", "B-ORG", "I-ORG", "O", "O"]]
    counts = span_counts(gold, pred)
    assert counts == {"PER": SpanCounts(correct=1, predicted=1, gold=2),
                      "LOC": SpanCounts(1, 1, 1), "ORG": SpanCounts(1, 1, 1)}
    scores = span_scores(gold, pred)
    assert scores.precision == 1.0 and scores.recall == 0.75
    assert scores.f1 == pytest.approx(2 * 0.75 / 1.75)  # 6/7
    person = scores.per_type["PER"]
    assert person.recall == 0.5 and person.f1 == pytest.approx(2 / 3)


def test_i_tag_of_another_type_inside_an_entity_splits_it():
    gold = [["B-PER", "I-PER", "I-PER"]]
    pred = [["B-PER", "I-LOC", "I-PER"]]  # three one-token spans: PER, LOC, PER
    counts = span_counts(gold, pred)
    assert counts["PER"] == SpanCounts(correct=0, predicted=2, gold=1)
    assert counts["LOC"] == SpanCounts(correct=0, predicted=1, gold=0)


def test_a_span_counts_only_with_exact_boundaries_and_type():
    gold = [["B-LOC", "I-LOC", "I-LOC", "O", "B-PER", "I-PER"]]
    pred = [["B-LOC", "I-LOC", "O", "O", "B-ORG", "I-ORG"]]  # short LOC, PER typed as ORG
    scores = span_scores(gold, pred)
    assert (scores.precision, scores.recall, scores.f1) == (0.0, 0.0, 0.0)


def test_zero_divisions_score_zero_as_in_seqeval():
    all_o = [["O", "O"]]
    scores = span_scores([["B-PER", "I-PER"]], all_o)  # nothing predicted
    assert (scores.precision, scores.recall, scores.f1) == (0.0, 0.0, 0.0)
    empty = span_scores(all_o, all_o)
    assert (empty.precision, empty.recall, empty.f1, empty.per_type) == (0.0, 0.0, 0.0, {})


def test_sentences_are_scored_apart_and_counts_add_up():
    # an I-PER opening the second sentence starts a new entity: no span crosses sentences
    gold = [["O", "B-PER"], ["I-PER", "O"]]
    assert span_counts(gold, gold)["PER"] == SpanCounts(2, 2, 2)
    first, second = span_counts(gold[:1], gold[:1]), span_counts(gold[1:], gold[1:])
    assert first["PER"] + second["PER"] == span_counts(gold, gold)["PER"]
    # micro = sum the counts of all types, then divide
    scores = scores_from_counts({"PER": SpanCounts(1, 2, 4), "LOC": SpanCounts(3, 3, 4)})
    assert (scores.precision, scores.recall) == (4 / 5, 4 / 8)


def test_bioes_tags():
    tags = [["S-PER", "B-LOC", "E-LOC", "B-ORG", "I-ORG", "E-ORG"]]
    counts = span_counts(tags, tags)
    assert {k: c.gold for k, c in counts.items()} == {"PER": 1, "LOC": 1, "ORG": 1}


def test_mismatched_lengths_raise():
    with pytest.raises(ValueError, match="sentence 0: 1 predicted tags for 2 gold"):
        span_counts([["O", "O"]], [["O"]])
    with pytest.raises(ValueError, match="1 predicted sentences for 2 gold"):
        span_counts([["O"], ["O"]], [["O"]])


# ---- ROUGE-L -----------------------------------------------------------------------------------
def test_lcs_length_textbook_case():
    assert lcs_length("ABCBDAB", "BDCABA") == 4  # CLRS §15.4: BCBA
    assert lcs_length("", "abc") == 0 and lcs_length("abc", "abc") == 3


def _brute_force_lcs(a: str, b: str) -> int:
    for size in range(min(len(a), len(b)), 0, -1):
        for picked in itertools.combinations(a, size):
            it = iter(b)
            if all(ch in it for ch in picked):  # `in` on an iterator consumes it: subsequence
                return size
    return 0


@settings(max_examples=150, deadline=None)
@given(st.text("abc", max_size=7), st.text("abc", max_size=7))
def test_lcs_length_equals_brute_force(a, b):
    assert lcs_length(a, b) == _brute_force_lcs(a, b)


def test_rouge_l_lin_2004_formula():
    # LCS("ab", "abcd") = 2: R = 2/4, P = 2/2
    assert rouge_l("ab", "abcd") == pytest.approx(2 * 0.5 * 1.0 / 1.5)
    assert rouge_l("ab", "abcd", beta=2.0) == pytest.approx(5 * 0.5 * 1.0 / (0.5 + 4 * 1.0))
    assert rouge_l("abcd", "abcd") == 1.0 and rouge_l("xyz", "abcd") == 0.0
    assert rouge_l("", "abcd") == 0.0 and rouge_l("abcd", "") == 0.0
    with pytest.raises(ValueError, match="beta"):
        rouge_l("a", "a", beta=0)


def test_rouge_l_on_real_headlines():
    headlines = [d.headline for d in read_news(DATA_SAMPLES / "news" / "valid.jsonl")]
    reference = max(headlines, key=len)
    every_other = reference[::2]  # a subsequence: LCS = its length, so P = 1
    recall = len(every_other) / len(reference)
    assert rouge_l(every_other, reference) == pytest.approx(2 * recall / (1 + recall))
    assert rouge_l(reference, reference) == 1.0
    # the candidate is the other way round: precision and recall swap, F1 stays
    assert rouge_l(reference, every_other) == pytest.approx(rouge_l(every_other, reference))
    scores = [rouge_l(h, reference) for h in headlines]
    assert mean_rouge_l(headlines, [reference] * len(headlines)) == pytest.approx(
        sum(scores) / len(scores))
    assert all(0.0 <= s <= 1.0 and math.isfinite(s) for s in scores)


def test_rouge_l_compares_normalised_characters():
    # the tokenizer's normal form: NFKC (full-width -> ASCII), lower case, no whitespace
    assert rouge_l("Ａ Ｂ", "ab") == 1.0
    assert mean_rouge_l([], []) == 0.0
    with pytest.raises(ValueError, match="1 candidates for 2 references"):
        mean_rouge_l(["a"], ["a", "b"])
