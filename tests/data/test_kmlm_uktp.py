"""Knowledge masked LM, UKTP and packing on real data (ernie3_lite/data/kmlm.py, uktp.py)."""

from __future__ import annotations

import random
from functools import cache

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from ernie3_lite import DATA_SAMPLES
from ernie3_lite.data.collate import TaskType
from ernie3_lite.data.formats import read_jsonl, read_news
from ernie3_lite.data.kmlm import KnowledgeMaskedLM, pack_texts
from ernie3_lite.data.masking import IGNORE_INDEX, EncodedText, MaskingConfig, encode_segmented
from ernie3_lite.data.peoples_daily import split_sentences
from ernie3_lite.data.segmentation import Segmenter
from ernie3_lite.data.uktp import KnowledgeTextPrediction
from ernie3_lite.tokenization import CharTokenizer

NEWS = DATA_SAMPLES / "news" / "train.jsonl"
ALIGNED = DATA_SAMPLES / "kg" / "aligned_train.jsonl"


# ---- real data: the People's Daily slice and KG pairs in data_samples/ ------------------------
@cache
def tokenizer() -> CharTokenizer:
    return CharTokenizer.from_file(DATA_SAMPLES / "vocab.txt")


@cache
def segmenter() -> Segmenter:
    return Segmenter.from_triples(DATA_SAMPLES / "kg" / "triples.tsv", disk_cache=False)


@cache
def encoded(text: str) -> EncodedText:
    return encode_segmented(tokenizer(), segmenter().analyse(text))


@cache
def documents() -> list[list[str]]:
    """The first 30 news documents as lists of sentences."""
    docs = read_news(NEWS)[:30]
    return [[p[a:b] for p in d.paragraphs for a, b in split_sentences(p)] for d in docs]


@cache
def aligned() -> list[dict]:
    return read_jsonl(ALIGNED, required_keys=("head", "relation", "tail", "sentence"))[:300]


def selected(ex: dict) -> torch.Tensor:
    return ex["labels"] != IGNORE_INDEX


# ---- packing ---------------------------------------------------------------------------------
@pytest.mark.parametrize("max_tokens", [16, 128, 510])
def test_pack_texts_keeps_every_token_and_unit_in_order(max_tokens):
    for doc in documents()[:10]:
        texts = [encoded(s) for s in doc]
        packed = list(pack_texts(texts, max_tokens=max_tokens))
        assert all(0 < len(p) <= max_tokens for p in packed)
        assert [t for p in packed for t in p.ids] == [t for x in texts for t in x.ids]
        source_units = {tuple(x.ids[s:e]) for x in texts for s, e in x.spans.entity}
        for p in packed:  # a unit still spells one of the source units
            assert {tuple(p.ids[s:e]) for s, e in p.spans.entity} <= source_units
        if all(len(x) <= max_tokens for x in texts):  # nothing was cut: no unit is lost
            n_units = sum(len(x.spans.phrase) + len(x.spans.entity) for x in texts)
            assert sum(len(p.spans.phrase) + len(p.spans.entity) for p in packed) == n_units


# ---- knowledge masked LM ---------------------------------------------------------------------
@settings(max_examples=40, deadline=None)
@given(doc=st.integers(0, 29), max_len=st.sampled_from([16, 64, 512]), seed=st.integers(0, 99))
def test_kmlm_layout_truncation_and_labels(doc, max_len, seed):
    tok = tokenizer()
    builder = KnowledgeMaskedLM(tok, max_len=max_len, seed=seed)
    text = next(pack_texts((encoded(s) for s in documents()[doc]), max_tokens=600))
    ex = builder(text)
    ids = [tok.cls_id, *text.ids[: max_len - 2], tok.sep_id]
    assert len(ex["input_ids"]) == len(ids) <= max_len
    assert torch.equal(ex["labels"][selected(ex)], torch.tensor(ids)[selected(ex)])
    assert not selected(ex)[0] and not selected(ex)[-1]  # [CLS] and [SEP] never
    unchanged = ~selected(ex)
    assert torch.equal(ex["input_ids"][unchanged], torch.tensor(ids)[unchanged])
    assert bool((ex["task_type_ids"] == TaskType.NLU).all())
    assert bool((ex["token_type_ids"] == 0).all())


def test_kmlm_batch_is_padded_and_reproducible():
    texts = [encoded(s) for s in documents()[0][:8]]
    a = KnowledgeMaskedLM(tokenizer(), max_len=64, seed=3).batch(texts)
    b = KnowledgeMaskedLM(tokenizer(), max_len=64, seed=3).batch(texts)
    assert a["input_ids"].shape == a["labels"].shape == a["attention_mask"].shape
    assert a["input_ids"].shape[0] == 8
    assert all(torch.equal(a[k], b[k]) for k in a)


# ---- UKTP ------------------------------------------------------------------------------------
def build_uktp(relation_prob: float, *, max_len: int = 128, seed: int = 0, **config):
    cfg = MaskingConfig(**config) if config else None
    builder = KnowledgeTextPrediction(
        tokenizer(), max_len=max_len, relation_prob=relation_prob, config=cfg, seed=seed
    )

    def make(rec):
        return builder.mask(head=rec["head"], relation=rec["relation"], tail=rec["tail"],
                            sentence=encoded(rec["sentence"]))

    return builder, make


def test_uktp_relation_masking_masks_exactly_the_relation_tokens():
    tok = tokenizer()
    builder, make = build_uktp(1.0)
    for rec in aligned():
        out = make(rec)
        ex = out.to_dict()
        head, rel, tail = (tok.encode(rec[k]) for k in ("head", "relation", "tail"))
        sentence = list(encoded(rec["sentence"]).ids[: 128 - 3 - len(head + rel + tail)])
        expected = [tok.cls_id, *head, *rel, *tail, tok.sep_id, *sentence, tok.sep_id]
        assert out.original_ids == expected
        assert ex["token_type_ids"].tolist() == [0] * (len(head + rel + tail) + 2) + [1] * (
            len(sentence) + 1
        )
        where = selected(ex).nonzero().flatten().tolist()
        start = 1 + len(head)
        assert where == list(range(start, start + len(rel)))
        assert ex["labels"][where].tolist() == rel
        assert [(u.start, u.end, u.level) for u in out.masked.units] == [
            (start, start + len(rel), "relation")
        ]
        assert builder.relation_span(rec["head"], rec["relation"]) == (start, start + len(rel))


def test_uktp_sentence_masking_leaves_the_triple_visible():
    builder, make = build_uktp(0.0)
    for rec in aligned():
        out = make(rec)
        ex = out.to_dict()
        sentence_part = (ex["token_type_ids"] == 1) & (ex["input_ids"] != tokenizer().sep_id)
        assert bool(selected(ex).any())
        assert not bool((selected(ex) & ~sentence_part).any())  # only sentence tokens
        triple_part = ex["token_type_ids"] == 0
        assert ex["input_ids"][triple_part].tolist() == [
            t for t, ty in zip(out.original_ids, out.token_type_ids, strict=True) if ty == 0
        ]
        budget = max(1, round(0.15 * int(sentence_part.sum())))
        assert int(selected(ex).sum()) == budget


def test_uktp_entity_masking_hides_the_triples_entities_in_the_sentence():
    tok = tokenizer()
    _, make = build_uktp(0.0, char_prob=0.0, phrase_prob=0.0, entity_prob=1.0, mask_ratio=0.3)
    hits = 0
    for rec in aligned():
        out = make(rec)
        names = {tuple(tok.encode(rec["head"])), tuple(tok.encode(rec["tail"]))}
        for u in out.masked.units:
            if u.level == "entity":
                hits += tuple(out.original_ids[u.start : u.end]) in names
    assert hits >= len(aligned()) // 2  # the head or tail is the unit most of the time


def test_uktp_mixes_the_two_modes():
    _, make = build_uktp(0.5, seed=1)
    modes = [make(rec).masked.units[0].level == "relation" for rec in aligned()]
    assert 0.4 < sum(modes) / len(modes) < 0.6


def test_uktp_truncates_the_sentence_never_the_triple():
    tok = tokenizer()
    _, make = build_uktp(1.0, max_len=24)
    for rec in aligned()[:100]:
        out = make(rec)
        assert len(out.original_ids) <= 24
        triple = [*tok.encode(rec["head"]), *tok.encode(rec["relation"]), *tok.encode(rec["tail"])]
        assert out.original_ids[1 : 1 + len(triple)] == triple


def test_uktp_rejects_a_triple_that_cannot_fit():
    rec = aligned()[0]
    builder = KnowledgeTextPrediction(tokenizer(), max_len=6)
    with pytest.raises(ValueError, match="max_len"):
        builder(head=rec["head"], relation=rec["relation"], tail=rec["tail"],
                sentence=encoded(rec["sentence"]))


def test_builders_are_deterministic_per_seed():
    rec = aligned()[:50]
    runs = []
    for seed in (5, 5, 6):
        _, make = build_uktp(0.5, seed=seed)
        runs.append([make(r).to_dict()["input_ids"] for r in rec])
    assert all(torch.equal(a, b) for a, b in zip(runs[0], runs[1], strict=True))
    assert not all(torch.equal(a, c) for a, c in zip(runs[0], runs[2], strict=True))


def test_builders_do_not_touch_the_global_rng():
    random.seed(11)
    expected = random.random()
    random.seed(11)
    _, make = build_uktp(0.5, seed=0)
    [make(r) for r in aligned()[:20]]
    KnowledgeMaskedLM(tokenizer(), max_len=64, seed=0).batch(encoded(s) for s in documents()[0])
    assert random.random() == expected
