"""Knowledge masking invariants on real People's Daily sentences (ernie3_lite/data/masking.py)."""

from __future__ import annotations

import random
import re
from collections import Counter
from functools import cache

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ernie3_lite import DATA_SAMPLES
from ernie3_lite.data.collate import join_segments
from ernie3_lite.data.formats import read_news
from ernie3_lite.data.masking import (
    IGNORE_INDEX,
    LEVEL_NAMES_ZH,
    KnowledgeMasker,
    MaskingConfig,
    UnitSpans,
    char_to_token_spans,
    encode_segmented,
    masked_units_table,
    render_masked_example,
)
from ernie3_lite.data.peoples_daily import split_sentences
from ernie3_lite.data.segmentation import Segmenter
from ernie3_lite.tokenization import CharTokenizer

N_SENTENCES = 400


# ---- real data: the People's Daily slice in data_samples/ -------------------------------------
@cache
def paragraphs() -> list[str]:
    return [p for doc in read_news(DATA_SAMPLES / "news" / "train.jsonl") for p in doc.paragraphs]


@cache
def sentences() -> list[str]:
    out = [par[a:b] for par in paragraphs() for a, b in split_sentences(par)]
    return [s for s in out if len(s.strip()) >= 4][:N_SENTENCES]


@cache
def tokenizer() -> CharTokenizer:
    return CharTokenizer.from_file(DATA_SAMPLES / "vocab.txt")


@cache
def segmenter() -> Segmenter:
    return Segmenter.from_triples(DATA_SAMPLES / "kg" / "triples.tsv", disk_cache=False)


@cache
def analysed(text: str):
    return segmenter().analyse(text)


def real_sentence():
    return st.deferred(lambda: st.sampled_from(sentences()))


@cache
def cls_sep(text: str):
    """[CLS] text [SEP] ids and the text's units shifted past [CLS], as KMLM builds them."""
    enc = encode_segmented(tokenizer(), analysed(text))
    tok = tokenizer()
    ids, _, _ = join_segments([list(enc.ids)], cls_id=tok.cls_id, sep_id=tok.sep_id)
    return ids, enc.spans.shifted(1)


def masker(**config) -> KnowledgeMasker:
    return KnowledgeMasker.from_tokenizer(tokenizer(), MaskingConfig(**config))


def selected_positions(units) -> list[int]:
    return [i for u in units for i in range(u.start, u.end)]


PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ---- char -> token spans ---------------------------------------------------------------------
@PROPERTY
@given(text=real_sentence())
def test_char_to_token_spans_matches_brute_force_overlap(text):
    _, offsets = tokenizer().encode_with_offsets(text)
    seg = analysed(text)
    for span in (*seg.words, *seg.phrases, *seg.entities):
        overlap = [i for i, (s, e) in enumerate(offsets) if s < span.end and span.start < e]
        got = char_to_token_spans([span], offsets)
        assert got == ([(overlap[0], overlap[-1] + 1)] if overlap else [])


def test_encode_segmented_units_spell_the_segmented_text():
    tok = tokenizer()
    for text in sentences()[:100]:
        seg, enc = analysed(text), encode_segmented(tok, analysed(text))
        assert list(enc.ids) == tok.encode(text)
        entity_texts = {tok.decode(tok.encode(text[e.start : e.end])) for e in seg.entities}
        for s, e in enc.spans.entity:
            assert e - s > 1  # one-token units are left to the char level
            assert tok.decode(enc.ids[s:e]) in entity_texts


# ---- selection -------------------------------------------------------------------------------
@PROPERTY
@given(text=real_sentence(), seed=st.integers(0, 2**32 - 1))
def test_units_are_whole_segmentation_spans_and_disjoint(text, seed):
    ids, spans = cls_sep(text)
    config = dict(char_prob=0.25, word_prob=0.25, phrase_prob=0.25, entity_prob=0.25)
    units = masker(**config)(ids, spans, rng=random.Random(seed)).units
    for u in units:
        if u.level == "char":
            assert u.end - u.start == 1
        else:  # exactly one span of the segmentation at that level, never a piece of one
            assert (u.start, u.end) in getattr(spans, u.level)
    covered = selected_positions(units)
    assert len(covered) == len(set(covered))


@PROPERTY
@given(text=real_sentence(), seed=st.integers(0, 2**32 - 1))
def test_labels_exactly_at_selected_positions_and_equal_the_original(text, seed):
    ids, spans = cls_sep(text)
    out = masker()(ids, spans, rng=random.Random(seed))
    original = torch.tensor(ids)
    selected = torch.zeros(len(ids), dtype=torch.bool)
    selected[selected_positions(out.units)] = True
    assert torch.equal(out.labels != IGNORE_INDEX, selected)
    assert torch.equal(out.labels[selected], original[selected])
    assert torch.equal(out.input_ids[~selected], original[~selected])  # nothing else changes


@PROPERTY
@given(text=real_sentence(), seed=st.integers(0, 2**32 - 1))
def test_selects_exactly_the_budget_of_maskable_tokens(text, seed):
    ids, spans = cls_sep(text)
    m = masker()
    n_maskable = int(m.maskable(torch.tensor(ids)).sum())
    units = m(ids, spans, rng=random.Random(seed)).units
    assert len(selected_positions(units)) == max(1, round(0.15 * n_maskable))


def test_ratio_over_a_corpus_slice_is_near_15_percent():
    m, rng = masker(), random.Random(0)
    selected = maskable = 0
    for text in sentences():
        ids, spans = cls_sep(text)
        selected += len(selected_positions(m(ids, spans, rng=rng).units))
        maskable += int(m.maskable(torch.tensor(ids)).sum())
    assert 0.12 <= selected / maskable <= 0.18


def test_never_selects_special_tokens_or_unk():
    """Sentences joined by [SEP] under a small vocabulary, so [UNK] occurs often."""
    small = CharTokenizer.build(paragraphs(), max_size=300)
    m = KnowledgeMasker.from_tokenizer(small, MaskingConfig(mask_ratio=0.5))
    specials = {small.pad_id, small.cls_id, small.sep_id, small.mask_id, small.unk_id}
    rng, texts, with_unk = random.Random(1), sentences()[:120], 0
    for k in range(0, len(texts), 3):
        ids, _, _ = join_segments([small.encode(t) for t in texts[k : k + 3]],
                                  cls_id=small.cls_id, sep_id=small.sep_id)
        with_unk += small.unk_id in ids
        out = m(ids, UnitSpans(), rng=rng)
        assert not specials & {ids[i] for i in selected_positions(out.units)}
        assert not specials & set(out.labels[out.labels != IGNORE_INDEX].tolist())
    assert with_unk >= 20  # the test did meet [UNK]


def test_entity_level_is_used_whenever_an_entity_fits():
    m = masker(char_prob=0.0, phrase_prob=0.0, entity_prob=1.0)
    checked = 0
    for seed, text in enumerate(sentences()):
        ids, spans = cls_sep(text)
        budget = max(1, round(0.15 * int(m.maskable(torch.tensor(ids)).sum())))
        units = m(ids, spans, rng=random.Random(seed)).units
        if any(e - s <= budget for s, e in spans.entity):
            assert any(u.level == "entity" for u in units)  # the first draw is always an entity
            checked += 1
        if not spans.entity:
            assert {u.level for u in units} == {"char"}  # fallback when there is none
    assert checked >= 20


def test_default_mix_uses_every_configured_level():
    m, rng = masker(), random.Random(2)
    tokens_by_level = Counter()
    for text in sentences():
        for u in m(*cls_sep(text), rng=rng).units:
            tokens_by_level[u.level] += u.end - u.start
    assert {"char", "phrase", "entity"} <= set(tokens_by_level)
    assert "word" not in tokens_by_level  # word_prob is 0 by default


# ---- replacement -----------------------------------------------------------------------------
@pytest.mark.parametrize("whole_units", [True, False])
def test_replacement_is_80_10_10(whole_units):
    tok = tokenizer()
    m = masker(replace_whole_units=whole_units)
    rng = random.Random(3)
    counts = Counter()
    for _ in range(8):
        for text in sentences():
            out = m(*cls_sep(text), rng=rng)
            selected = out.labels != IGNORE_INDEX
            shown, original = out.input_ids[selected], out.labels[selected]
            is_mask, is_same = shown == tok.mask_id, shown == original
            is_rand = ~is_mask & ~is_same
            assert bool(((shown[is_rand] > tok.mask_id) & (shown[is_rand] < tok.unk_id)).all())
            counts.update(mask=int(is_mask.sum()), same=int(is_same.sum()), rand=int(is_rand.sum()))
    total = sum(counts.values())
    assert total > 10_000
    assert abs(counts["mask"] / total - 0.8) < 0.03
    # a random draw that hits the original id counts as "same": 1/vocab of 10%, negligible
    assert abs(counts["rand"] / total - 0.1) < 0.02
    assert abs(counts["same"] / total - 0.1) < 0.02


def test_whole_unit_replacement_treats_a_unit_alike():
    m, rng = masker(phrase_prob=0.5, entity_prob=0.5, char_prob=0.0), random.Random(4)
    for text in sentences()[:200]:
        out = m(*cls_sep(text), rng=rng)
        for u in out.units:
            shown = out.input_ids[u.start : u.end]
            assert bool((shown == tokenizer().mask_id).all()) or not bool(
                (shown == tokenizer().mask_id).any()
            )


# ---- determinism -----------------------------------------------------------------------------
def test_same_seed_same_result_different_seed_differs():
    m = masker()
    runs = []
    for seed in (7, 7, 8):
        rng = random.Random(seed)
        runs.append([m(*cls_sep(t), rng=rng) for t in sentences()[:50]])
    for a, b in zip(runs[0], runs[1], strict=True):
        assert a.units == b.units
        assert torch.equal(a.input_ids, b.input_ids) and torch.equal(a.labels, b.labels)
    assert any(a.units != c.units for a, c in zip(runs[0], runs[2], strict=True))


# ---- rendering -------------------------------------------------------------------------------
MARKER = re.compile(rf"\[(?:{'|'.join(LEVEL_NAMES_ZH.values())}):([^\[\]]*)\]")


def test_render_marks_every_unit_and_keeps_the_text():
    tok, m, rng = tokenizer(), masker(), random.Random(5)
    for text in sentences()[:100]:
        ids, spans = cls_sep(text)
        out = m(ids, spans, rng=rng)
        rendered = render_masked_example(tok, ids, out)
        for u in out.units:
            assert f"[{LEVEL_NAMES_ZH[u.level]}:{tok.decode(ids[u.start : u.end])}]" in rendered
        unmarked = MARKER.sub(r"\1", rendered)
        assert unmarked == tok.decode(ids, skip_special_tokens=False)
        rows = masked_units_table(tok, ids, out)
        assert [(r["start"], r["end"], r["level"]) for r in rows] == [
            (u.start, u.end, u.level) for u in out.units
        ]


def test_config_rejects_bad_probabilities():
    with pytest.raises(ValueError, match="mask_ratio"):
        MaskingConfig(mask_ratio=0.0)
    with pytest.raises(ValueError, match="entity_prob"):
        MaskingConfig(entity_prob=-0.1)
    with pytest.raises(ValueError, match="must be > 0"):
        MaskingConfig(char_prob=0, word_prob=0, phrase_prob=0, entity_prob=0)
    with pytest.raises(ValueError, match="<= 1"):
        MaskingConfig(mask_token_prob=0.9, random_token_prob=0.2)
