"""Sentence reordering and distance on real documents (ernie3_lite/data/sentence_tasks.py)."""

from __future__ import annotations

import itertools
from collections import Counter
from functools import cache

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from ernie3_lite import DATA_SAMPLES
from ernie3_lite.data.formats import read_news
from ernie3_lite.data.peoples_daily import split_sentences
from ernie3_lite.data.sentence_tasks import (
    ADJACENT,
    OTHER_DOCUMENT,
    SAME_DOCUMENT,
    SentenceDistance,
    SentenceReordering,
    num_reorder_classes,
    permutation_from_index,
    permutation_index,
)
from ernie3_lite.tokenization import CharTokenizer


# ---- real data: the People's Daily slice in data_samples/ -------------------------------------
@cache
def documents() -> list[list[str]]:
    """Each news document as its list of sentences."""
    docs = read_news(DATA_SAMPLES / "news" / "train.jsonl")
    return [[par[a:b] for par in d.paragraphs for a, b in split_sentences(par)] for d in docs]


@cache
def tokenizer() -> CharTokenizer:
    return CharTokenizer.from_file(DATA_SAMPLES / "vocab.txt")


@cache
def paragraphs_of_sentences() -> list[list[str]]:
    """Runs of up to 6 consecutive sentences: what the reordering task splits and shuffles."""
    return [doc[k : k + 6] for doc in documents() for k in range(0, len(doc), 6)]


def split_at_sep(ids: list[int]) -> list[list[int]]:
    """[CLS] a [SEP] b [SEP] ... -> [a, b, ...]."""
    assert ids[0] == tokenizer().cls_id and ids[-1] == tokenizer().sep_id
    parts, current = [], []
    for i in ids[1:]:
        if i == tokenizer().sep_id:
            parts.append(current)
            current = []
        else:
            current.append(i)
    return parts


# ---- permutation classes ---------------------------------------------------------------------
@pytest.mark.parametrize("m, k", [(1, 1), (2, 3), (3, 9), (4, 33), (5, 153)])
def test_num_reorder_classes(m, k):
    assert num_reorder_classes(m) == k


@pytest.mark.parametrize("m", [3, 5])
def test_permutation_index_is_a_bijection_in_the_documented_order(m):
    # brute-force reference: n = 1..m, each n in itertools (lexicographic) order
    reference = [p for n in range(1, m + 1) for p in itertools.permutations(range(n))]
    assert len(reference) == num_reorder_classes(m)
    assert [permutation_from_index(i, m=m) for i in range(len(reference))] == reference
    assert [permutation_index(p) for p in reference] == list(range(len(reference)))


def test_permutation_index_rejects_non_permutations():
    with pytest.raises(ValueError):
        permutation_index([0, 2])
    with pytest.raises(ValueError):
        permutation_from_index(9, m=3)


# ---- sentence reordering ---------------------------------------------------------------------
@settings(max_examples=80, deadline=None)
@given(k=st.integers(0, 10_000), seed=st.integers(0, 1000), m=st.sampled_from([3, 5]))
def test_reordering_label_unshuffles_to_the_original_text(k, seed, m):
    tok = tokenizer()
    sentences = paragraphs_of_sentences()[k % len(paragraphs_of_sentences())]
    builder = SentenceReordering(tok, max_len=256, max_segments=m, seed=seed)
    ex = builder(sentences)
    ids = ex["input_ids"].tolist()
    assert len(ids) <= 256
    label = int(ex["labels"])
    assert 0 <= label < num_reorder_classes(m)
    perm = permutation_from_index(label, m=m)
    shown = split_at_sep(ids)
    assert len(shown) == len(perm)
    original = [None] * len(perm)
    for i, p in enumerate(perm):  # the i-th segment shown is original segment p[i]
        original[p] = shown[i]
    restored = [t for seg in original for t in seg]
    full = [t for s in sentences for t in tok.encode(s)]
    assert restored == full[: len(restored)]  # the paragraph (or its head), in order
    assert all(shown)  # no empty segment


def test_reordering_token_types_alternate_by_segment():
    builder = SentenceReordering(tokenizer(), max_len=512, max_segments=5, seed=0)
    for sentences in paragraphs_of_sentences()[:100]:
        ex = builder(sentences)
        ids, types = ex["input_ids"].tolist(), ex["token_type_ids"].tolist()
        k = 0
        for i, (t, ty) in enumerate(zip(ids, types, strict=True)):
            assert ty == (0 if i == 0 else k % 2)
            if t == tokenizer().sep_id:
                k += 1


def test_reordering_uses_every_segment_count_and_permutation():
    builder = SentenceReordering(tokenizer(), max_len=512, max_segments=3, seed=1)
    long_runs = [s for s in paragraphs_of_sentences() if len(s) >= 3]
    labels = Counter(int(builder(s)["labels"]) for s in long_runs * 3)
    assert set(labels) == set(range(9))


def test_reordering_truncates_to_max_len():
    builder = SentenceReordering(tokenizer(), max_len=24, max_segments=3, seed=2)
    for sentences in paragraphs_of_sentences()[:200]:
        ex = builder(sentences)
        assert ex["input_ids"].numel() <= 24
        assert all(split_at_sep(ex["input_ids"].tolist()))


# ---- sentence distance -----------------------------------------------------------------------
def test_distance_labels_match_the_source_documents():
    tok, docs = tokenizer(), documents()
    builder = SentenceDistance(tok, docs, max_len=512, seed=0)
    for _ in range(600):
        pair = builder.sample_pair()
        (da, i), (db, j) = pair.a, pair.b
        if pair.label == ADJACENT:
            assert da == db and j == i + 1
        elif pair.label == SAME_DOCUMENT:
            assert da == db and abs(i - j) >= 2
        else:
            assert pair.label == OTHER_DOCUMENT and da != db
        ex = builder.encode(pair)
        a, b = split_at_sep(ex["input_ids"].tolist())
        assert a == tok.encode(docs[da][i]) and b == tok.encode(docs[db][j])
        assert int(ex["labels"]) == pair.label
        assert ex["token_type_ids"].tolist() == [0] * (len(a) + 2) + [1] * (len(b) + 1)


def test_distance_follows_the_configured_proportions():
    builder = SentenceDistance(tokenizer(), documents(), max_len=64, proportions=(0.5, 0.3, 0.2))
    counts = Counter(builder.sample_pair().label for _ in range(4000))
    for label, p in enumerate((0.5, 0.3, 0.2)):
        assert abs(counts[label] / 4000 - p) < 0.03


def test_distance_truncates_the_longer_sentence_first():
    builder = SentenceDistance(tokenizer(), documents(), max_len=40, seed=3)
    for _ in range(300):
        pair = builder.sample_pair()
        ex = builder.encode(pair)
        a, b = split_at_sep(ex["input_ids"].tolist())
        full_a = tokenizer().encode(documents()[pair.a[0]][pair.a[1]])
        full_b = tokenizer().encode(documents()[pair.b[0]][pair.b[1]])
        assert a == full_a[: len(a)] and b == full_b[: len(b)]  # cut at the end
        if len(full_a) + len(full_b) <= 40 - 3:
            assert (a, b) == (full_a, full_b)
            continue
        assert len(a) + len(b) == 40 - 3  # [CLS] A [SEP] B [SEP] fills max_len exactly
        shorter_kept = (a, b)[len(full_b) < len(full_a)] == min(full_a, full_b, key=len)
        assert shorter_kept or abs(len(a) - len(b)) <= 1  # else both were cut to about half


def test_distance_refuses_a_corpus_that_cannot_give_a_label():
    one_doc = documents()[:1]
    with pytest.raises(ValueError, match="label 2"):
        SentenceDistance(tokenizer(), one_doc, max_len=64)
    assert isinstance(
        SentenceDistance(tokenizer(), one_doc, max_len=64, proportions=(1, 1, 0))()["labels"],
        torch.Tensor,
    )
