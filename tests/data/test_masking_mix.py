"""The realised char / phrase / entity mix of knowledge masking follows `MaskingConfig` (issue 13).

The masker once drew a level first and only then found out whether its unit fitted: a phrase or
entity past the truncation, over [SEP], overlapping a taken unit or over the budget was thrown
away and the draw was lost, so characters won by default (70/10/20 instead of 40/30/30 units
at sequence length 32). It now filters the spans to the example first and draws each level
among those that still have a unit that fits. `DrawFirstMasker` below keeps the old rule, so
each test also shows that the old code fails it.
"""

from __future__ import annotations

import random
from bisect import bisect_right
from collections import Counter
from functools import cache
from itertools import accumulate

import pytest

from ernie3_lite import DATA_SAMPLES
from ernie3_lite.data.formats import read_news
from ernie3_lite.data.masking import (
    LEVELS,
    KnowledgeMasker,
    MaskedUnit,
    MaskingConfig,
    UnitSpans,
    _pop_random,
    encode_segmented,
)
from ernie3_lite.data.segmentation import Segmenter
from ernie3_lite.tokenization import CharTokenizer

HALF_ENTITY = {"char_prob": 0.5, "phrase_prob": 0.0, "entity_prob": 0.5}


class DrawFirstMasker(KnowledgeMasker):
    """The selection rule before issue 13: draw a level, then drop the unit if it does not fit."""

    def select_units(self, allowed, spans, *, rng, span_offset=0):
        allowed_list = allowed.tolist()
        n = len(allowed_list)
        chars = [i for i, ok in enumerate(allowed_list) if ok]
        budget = min(len(chars), max(1, round(self.config.mask_ratio * len(chars))))
        prefix = [0, *accumulate(allowed_list)]
        queues = {"char": chars, **{lv: list(getattr(spans, lv)) for lv in LEVELS[1:]}}
        cum = list(accumulate(self.config.level_weights))
        covered, units, selected = bytearray(n), [], 0
        while selected < budget and chars:
            level = LEVELS[bisect_right(cum, rng.random() * cum[-1])]
            level = level if queues[level] else "char"
            item = _pop_random(queues[level], rng)
            start, end = (item, item + 1) if level == "char" else (item[0] + span_offset,
                                                                   item[1] + span_offset)
            if level != "char" and not (0 <= start < end <= n
                                        and prefix[end] - prefix[start] == end - start):
                continue
            if selected + end - start > budget or covered.find(1, start, end) >= 0:
                continue
            covered[start:end] = b"\x01" * (end - start)
            units.append(MaskedUnit(start, end, level))
            selected += end - start
        return sorted(units, key=lambda u: u.start)


@cache
def tokenizer() -> CharTokenizer:
    return CharTokenizer.from_file(DATA_SAMPLES / "vocab.txt")


@cache
def long_paragraphs(min_tokens: int) -> tuple:
    """Encoded news paragraphs of at least `min_tokens` tokens: many spans run past the cut."""
    segmenter = Segmenter.from_triples(DATA_SAMPLES / "kg" / "triples.tsv", disk_cache=False)
    texts = [p for doc in read_news(DATA_SAMPLES / "news" / "train.jsonl") for p in doc.paragraphs]
    encoded = (encode_segmented(tokenizer(), segmenter.analyse(t)) for t in texts
               if len(t) >= min_tokens)
    return tuple(e for e in encoded if len(e) >= min_tokens)


def window(text, max_len: int) -> tuple[list[int], UnitSpans]:
    """``[CLS] text[:max_len-2] [SEP]`` as KnowledgeMaskedLM cuts it, and the spans inside it."""
    body = list(text.ids[: max_len - 2])
    inside = UnitSpans(*(tuple(s for s in getattr(text.spans, lv) if s[1] <= len(body))
                         for lv in LEVELS[1:]))
    return [tokenizer().cls_id, *body, tokenizer().sep_id], inside


def realised_shares(masker_cls, examples, *, seeds: int, **config) -> dict[str, float]:
    masker = masker_cls.from_tokenizer(tokenizer(), MaskingConfig(**config))
    counts = Counter()
    for k, (ids, spans) in enumerate(examples):
        for seed in range(seeds):
            rng = random.Random(1000 * k + seed)
            counts.update(u.level for u in masker(ids, spans, rng=rng, span_offset=1).units)
    total = sum(counts.values())
    return {level: counts[level] / total for level in LEVELS}


@pytest.mark.parametrize("max_len", [32, 128])
def test_the_cut_does_not_change_which_units_are_masked(max_len):
    """All of a text's spans, or only those inside the window: the same units, draw for draw."""
    new, old = (cls.from_tokenizer(tokenizer()) for cls in (KnowledgeMasker, DrawFirstMasker))
    texts = long_paragraphs(2 * max_len)
    assert len(texts) >= 20
    differ = 0
    for k, text in enumerate(texts):
        ids, inside = window(text, max_len)
        masks = [m(ids, spans, rng=random.Random(k), span_offset=1).units
                 for m in (new, old) for spans in (text.spans, inside)]
        assert masks[0] == masks[1]
        differ += masks[2] != masks[3]
    assert differ >= len(texts) // 4  # the old rule let the spans past the cut steal draws


@pytest.mark.parametrize("max_len", [32, 128])
def test_realised_entity_share_follows_the_configured_share(max_len):
    """Half the draws entity-level, on windows holding at least four entity spans.

    Even with an entity everywhere the unit share stays under 0.5: the last token or two of the
    budget fit a character, not an entity (0.39 at 30 maskable tokens, budget 4; 0.48 at 126).
    That share, measured on a text tiled with 2-token entities of the window's length, is the
    reference; the real windows reach it within 0.1, and the draw-first rule did not.
    """
    examples = [(ids, text.spans) for text in long_paragraphs(2 * max_len)
                for ids, inside in [window(text, max_len)] if len(inside.entity) >= 4]
    assert len(examples) >= 10
    tiled = [synthetic(max_len - 2, entity=True, past_cut=False)]
    reachable = realised_shares(KnowledgeMasker, tiled, seeds=400, **HALF_ENTITY)["entity"]
    assert 0.35 < reachable <= 0.5
    new = realised_shares(KnowledgeMasker, examples, seeds=20, **HALF_ENTITY)["entity"]
    old = realised_shares(DrawFirstMasker, examples, seeds=20, **HALF_ENTITY)["entity"]
    assert reachable - 0.1 <= new <= 0.5, (new, reachable)  # 0.34 / 0.42 measured
    assert old < reachable - 0.1, (old, reachable)  # 0.21 / 0.28 measured


def test_default_mix_at_length_128_is_near_40_30_30():
    examples = [(ids, text.spans) for text in long_paragraphs(256)
                for ids, inside in [window(text, 128)] if len(inside.entity) >= 4]
    configured = {"char": 0.4, "phrase": 0.3, "entity": 0.3}
    new = realised_shares(KnowledgeMasker, examples, seeds=20)
    old = realised_shares(DrawFirstMasker, examples, seeds=20)
    assert all(abs(new[lv] - p) < 0.08 for lv, p in configured.items()), new  # 46/26/29
    assert old["char"] > 0.6, old  # 69/13/19


def synthetic(n: int, *, entity: bool, past_cut: bool) -> tuple[list[int], UnitSpans]:
    """[CLS] + n maskable tokens + [SEP], 2-token units tiling the text; with `past_cut`, four
    times as many tiling the 4n tokens a cut removed (a 5n-token text cut to n)."""
    ids = [tokenizer().cls_id, *[10 + i % 50 for i in range(n)], tokenizer().sep_id]
    units = [(i, i + 2) for i in range(0, n, 2)]
    units += [(n + i, n + i + 2) for i in range(0, 4 * n, 2)] if past_cut else []
    spans = UnitSpans(entity=tuple(units)) if entity else UnitSpans(phrase=tuple(units))
    return ids, spans


def test_spans_past_the_cut_no_longer_steal_entity_draws():
    """The issue's repro: half the draws entity-level; 0.49 without spans past the cut."""
    for past_cut in (False, True):
        examples = [synthetic(200, entity=True, past_cut=past_cut)]
        new = realised_shares(KnowledgeMasker, examples, seeds=200, **HALF_ENTITY)
        assert abs(new["entity"] - 0.5) < 0.04, (past_cut, new)
    old = realised_shares(DrawFirstMasker, examples, seeds=200, **HALF_ENTITY)
    assert old["entity"] < 0.3


def test_a_missing_level_shares_its_weight_in_proportion():
    """Default 40/30/30 on a text with phrases but no entity: characters and phrases 40:30."""
    examples = [synthetic(200, entity=False, past_cut=False)]
    new = realised_shares(KnowledgeMasker, examples, seeds=200)
    assert abs(new["phrase"] - 3 / 7) < 0.04 and new["entity"] == 0, new
    old = realised_shares(DrawFirstMasker, examples, seeds=200)
    assert abs(old["phrase"] - 0.3) < 0.04  # entity draws fell to characters


def test_a_config_without_characters_still_fills_the_budget():
    masker = KnowledgeMasker.from_tokenizer(tokenizer(), MaskingConfig(char_prob=0.0))
    ids, spans = synthetic(21, entity=True, past_cut=True)  # budget 3: one entity, one char
    units = masker(ids, spans, rng=random.Random(0), span_offset=0).units
    assert sum(u.end - u.start for u in units) == 3
    assert {u.level for u in units} == {"entity", "char"}
    assert all(u.end <= len(ids) - 1 for u in units)  # nothing past the text, nothing on [SEP]
