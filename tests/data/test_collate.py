"""Batch layout shared by the tasks, on real examples (ernie3_lite/data/collate.py)."""

from __future__ import annotations

from functools import cache

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from ernie3_lite import DATA_SAMPLES
from ernie3_lite.data.collate import collate, join_segments, truncate_lengths
from ernie3_lite.data.formats import read_news
from ernie3_lite.data.kmlm import KnowledgeMaskedLM
from ernie3_lite.data.masking import IGNORE_INDEX, EncodedText
from ernie3_lite.data.peoples_daily import split_sentences
from ernie3_lite.data.sentence_tasks import SentenceDistance, SentenceReordering
from ernie3_lite.tokenization import CharTokenizer


# ---- real data: the People's Daily slice in data_samples/ -------------------------------------
@cache
def tokenizer() -> CharTokenizer:
    return CharTokenizer.from_file(DATA_SAMPLES / "vocab.txt")


@cache
def documents() -> list[list[str]]:
    docs = read_news(DATA_SAMPLES / "news" / "train.jsonl")[:20]
    return [[par[a:b] for par in d.paragraphs for a, b in split_sentences(par)] for d in docs]


def mlm_examples(n: int) -> list[dict]:
    builder = KnowledgeMaskedLM(tokenizer(), max_len=96, seed=0)
    sentences = [s for doc in documents() for s in doc][:n]
    return [builder(EncodedText(tuple(tokenizer().encode(s)))) for s in sentences]


def test_collate_pads_token_tensors_and_builds_the_attention_mask():
    batch = mlm_examples(16)
    out = collate(batch, pad_id=tokenizer().pad_id)
    lengths = [ex["input_ids"].numel() for ex in batch]
    assert len(set(lengths)) > 1  # real sentences differ in length
    t_max = max(lengths)
    for key in ("input_ids", "labels", "token_type_ids", "task_type_ids", "attention_mask"):
        assert out[key].shape == (16, t_max)
    for row, (ex, n) in enumerate(zip(batch, lengths, strict=True)):
        assert out["attention_mask"][row].tolist() == [1] * n + [0] * (t_max - n)
        assert torch.equal(out["input_ids"][row, :n], ex["input_ids"])
        assert torch.equal(out["labels"][row, :n], ex["labels"])
        assert set(out["input_ids"][row, n:].tolist()) <= {tokenizer().pad_id}
        assert set(out["labels"][row, n:].tolist()) <= {IGNORE_INDEX}
        assert set(out["token_type_ids"][row, n:].tolist()) <= {0}


def test_collate_stacks_class_labels():
    tok = tokenizer()
    sr = SentenceReordering(tok, max_len=128, max_segments=3, seed=0)
    sd = SentenceDistance(tok, documents(), max_len=128, seed=0)
    for batch in ([sr(doc[:4]) for doc in documents()[:8]], [sd() for _ in range(8)]):
        out = collate(batch, pad_id=tok.pad_id)
        assert out["labels"].shape == (8,)
        assert out["labels"].tolist() == [int(ex["labels"]) for ex in batch]
        assert out["input_ids"].shape == out["token_type_ids"].shape == out["attention_mask"].shape


def test_collate_adds_token_types_and_rejects_inconsistent_examples():
    ids = [torch.tensor(tokenizer().encode(s)) for s in documents()[0][:3]]
    out = collate([{"input_ids": x} for x in ids], pad_id=0)
    assert torch.equal(out["token_type_ids"], torch.zeros_like(out["input_ids"]))
    with pytest.raises(ValueError, match="same keys"):
        collate([{"input_ids": ids[0]}, {"input_ids": ids[1], "labels": ids[1]}], pad_id=0)
    with pytest.raises(ValueError, match="len\\(input_ids\\)"):
        collate([{"input_ids": ids[0], "labels": ids[1]}], pad_id=0)
    with pytest.raises(ValueError, match="empty"):
        collate([], pad_id=0)


def test_join_segments_layout():
    tok = tokenizer()
    segs = [tok.encode(s) for s in documents()[1][:3]]
    ids, types, starts = join_segments(segs, cls_id=tok.cls_id, sep_id=tok.sep_id)
    assert ids == [tok.cls_id, *segs[0], tok.sep_id, *segs[1], tok.sep_id, *segs[2], tok.sep_id]
    assert starts == [1, len(segs[0]) + 2, len(segs[0]) + len(segs[1]) + 3]
    expected_types = [0] + [0] * (len(segs[0]) + 1) + [1] * (len(segs[1]) + 1)
    assert types == expected_types + [0] * (len(segs[2]) + 1)


@given(a=st.integers(0, 40), b=st.integers(0, 40), budget=st.integers(0, 60))
def test_truncate_lengths_is_as_balanced_as_possible(a, b, budget):
    la, lb = truncate_lengths([a, b], budget=budget)
    assert la <= a and lb <= b and la + lb == min(a + b, budget)
    # brute force: no other split of the same total has a smaller longest part
    total = la + lb
    best = min(max(x, total - x) for x in range(total + 1) if x <= a and total - x <= b)
    assert max(la, lb) == best
