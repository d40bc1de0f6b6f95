"""Knowledge masking: whole characters, words, phrases, entities (ERNIE 1.0 arXiv 1904.09223 §3.2).

ERNIE 1.0 masks *units of knowledge* instead of single characters: BERT would mask 哈[MASK]滨, ERNIE
masks the whole entity, [MASK][MASK][MASK]是黑龙江的省会. ERNIE 3.0 (arXiv 2107.02137 §3.2.1) keeps
this as "knowledge masked language modeling". The paper describes basic/phrase/entity masking as
learning stages; we mix the levels inside every sentence instead (a design choice, see
docs/ernie3_paper_notes.md §7.1): each unit we pick is a character, word, phrase or entity with
the probabilities of `MaskingConfig`, among the levels that still have a unit that fits.

The selection rule, so that "about 15%" means something precise:

* the budget is ``max(1, round(mask_ratio * n))`` where n counts the maskable tokens (no special
  token, no [UNK], inside the caller's `maskable` region);
* the spans are filtered to the example first: a word, phrase or entity that runs past a
  truncation, over [SEP] or [UNK], or out of `maskable` is never a candidate;
* then units are drawn one at a time: a level by the configured weights, renormalised over the
  levels with candidates left, then candidates of that level at random until one overlaps no
  unit taken before and keeps the total within the budget (never over it, as in BERT's
  whole-word masking); a candidate that does not fit never will, so it is thrown away;
* single characters always fit, so the loop stops with exactly the budget selected.

Drawing the level among what is *available* makes the realised mix follow the weights as far as
the text allows; falling back to a character whenever the drawn unit did not fit (as this module
once did) gave most draws to characters: 70/10/20 units for the 40/30/30 default at sequence
length 32 in issue 13's measurement (tests/data/test_masking_mix.py keeps that rule to compare).

Selected tokens are then replaced BERT-style (arXiv 1810.04805 §3.1): [MASK] 80%, a random
non-special token 10%, unchanged 10%. By default one draw decides for a whole unit, so an entity
is hidden completely or not at all (per-token draws, as in BERT's whole-word masking, would leave
邓[MASK]平 half visible); `replace_whole_units=False` draws per token. Labels hold the original
id at every selected token and -100 elsewhere.

Spans arrive in character offsets from the segmenter; `char_to_token_spans` maps them onto token
indices with the tokenizer's offsets (one CJK character is one token, an English word is one token).
"""

from __future__ import annotations

import random
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import accumulate

import torch
from torch import Tensor

IGNORE_INDEX = -100  # label of every position the loss skips (torch's cross_entropy default)
LEVELS = ("char", "word", "phrase", "entity")
# how `render_masked_example` labels units; "relation" is UKTP's masked triple relation
LEVEL_NAMES_ZH = {
    "char": "字", "word": "词", "phrase": "短语", "entity": "实体", "relation": "关系",
}

TokenSpan = tuple[int, int]  # token indices, end exclusive


@dataclass(frozen=True)
class MaskingConfig:
    """How many tokens to select, in which units, and how to replace them."""

    mask_ratio: float = 0.15  # fraction of maskable tokens selected (ERNIE 1.0 basic level)
    char_prob: float = 0.4  # chance that the next unit is a single character
    word_prob: float = 0.0  # ... a whole segmenter word (whole-word masking)
    phrase_prob: float = 0.3  # ... a phrase (several words, ERNIE 1.0 phrase level)
    entity_prob: float = 0.3  # ... a named entity (ERNIE 1.0 entity level)
    mask_token_prob: float = 0.8  # selected token -> [MASK]
    random_token_prob: float = 0.1  # selected token -> random non-special token; else unchanged
    replace_whole_units: bool = True  # one 80/10/10 draw per unit (True) or per token (False)

    def __post_init__(self):
        if not 0.0 < self.mask_ratio < 1.0:
            raise ValueError(f"mask_ratio must be in (0, 1), got {self.mask_ratio}")
        for name in ("char_prob", "word_prob", "phrase_prob", "entity_prob"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if sum(self.level_weights) <= 0:
            raise ValueError("one of char_prob/word_prob/phrase_prob/entity_prob must be > 0")
        if min(self.mask_token_prob, self.random_token_prob) < 0:
            raise ValueError("mask_token_prob and random_token_prob must be >= 0")
        if self.mask_token_prob + self.random_token_prob > 1.0:
            raise ValueError("mask_token_prob + random_token_prob must be <= 1")

    @property
    def level_weights(self) -> tuple[float, ...]:
        """Weights in `LEVELS` order (they need not sum to 1)."""
        return (self.char_prob, self.word_prob, self.phrase_prob, self.entity_prob)


@dataclass(frozen=True)
class UnitSpans:
    """Candidate multi-token units of one text, as token spans (end exclusive) per level."""

    word: tuple[TokenSpan, ...] = ()
    phrase: tuple[TokenSpan, ...] = ()
    entity: tuple[TokenSpan, ...] = ()

    def shifted(self, offset: int) -> UnitSpans:
        """The same spans `offset` tokens to the right (after [CLS] or another text)."""
        move = lambda spans: tuple((s + offset, e + offset) for s, e in spans)  # noqa: E731
        return UnitSpans(move(self.word), move(self.phrase), move(self.entity))

    @staticmethod
    def concat(parts: Iterable[UnitSpans]) -> UnitSpans:
        parts = list(parts)
        return UnitSpans(*(tuple(s for p in parts for s in getattr(p, lv)) for lv in LEVELS[1:]))


@dataclass(frozen=True)
class EncodedText:
    """A text's token ids and its segmentation units in token indices (cache this per sentence)."""

    ids: tuple[int, ...]
    spans: UnitSpans = field(default_factory=UnitSpans)

    def __len__(self) -> int:
        return len(self.ids)


@dataclass(frozen=True)
class MaskedUnit:
    """One selected unit: tokens [start, end) of the example, masked as a whole at `level`."""

    start: int
    end: int
    level: str


@dataclass
class MaskedExample:
    """input_ids (T,) with replacements, labels (T,) = original id where selected else -100."""

    input_ids: Tensor
    labels: Tensor
    units: list[MaskedUnit]


def char_to_token_spans(spans: Iterable, offsets: Sequence[tuple[int, int]]) -> list[TokenSpan]:
    """Map character spans (objects with .start/.end) to the token spans that overlap them.

    `offsets` are the tokenizer's (start, end) per token, non-decreasing. A span covering no token
    (only whitespace) is dropped; a span cutting an English word token takes the whole token.
    """
    return _token_spans(spans, [s for s, _ in offsets], [e for _, e in offsets], min_len=1)


def _token_spans(spans: Iterable, starts: list[int], ends: list[int], *, min_len: int) -> list:
    out, seen = [], set()
    for span in spans:
        first = bisect_right(ends, span.start)  # first token ending after the span starts
        stop = bisect_left(starts, span.end)  # tokens starting before the span ends
        if stop - first >= min_len and (first, stop) not in seen:
            seen.add((first, stop))
            out.append((first, stop))
    return out


def encode_segmented(tokenizer, segmented) -> EncodedText:
    """Tokenize a `SegmentedText` and carry its words/phrases/entities over to token indices.

    Units of one token are dropped: a one-character word is just a character to the masker.
    """
    ids, offsets = tokenizer.encode_with_offsets(segmented.text)
    starts, ends = [s for s, _ in offsets], [e for _, e in offsets]
    levels = (segmented.words, segmented.phrases, segmented.entities)
    units = UnitSpans(*(tuple(_token_spans(lv, starts, ends, min_len=2)) for lv in levels))
    return EncodedText(tuple(ids), units)


class KnowledgeMasker:
    """Select whole units (ERNIE 1.0 §3.2) and apply BERT's 80/10/10 replacement.

    `special_ids` are never selected; random replacements are drawn from [random_low, random_high).
    """

    def __init__(self, *, mask_id: int, special_ids: Iterable[int], random_low: int,
                 random_high: int, config: MaskingConfig | None = None):
        if not random_low < random_high:
            raise ValueError(f"empty random-token range [{random_low}, {random_high})")
        self.mask_id = mask_id
        self.special_ids = torch.tensor(sorted(set(special_ids)), dtype=torch.long)
        self.random_low, self.random_high = random_low, random_high
        self.config = config or MaskingConfig()

    @classmethod
    def from_tokenizer(cls, tokenizer, config: MaskingConfig | None = None) -> KnowledgeMasker:
        """Specials are [PAD] [CLS] [SEP] [MASK] (ids 0..3) and [UNK] (the last id)."""
        specials = (tokenizer.pad_id, tokenizer.cls_id, tokenizer.sep_id, tokenizer.mask_id)
        return cls(
            mask_id=tokenizer.mask_id,
            special_ids=(*specials, tokenizer.unk_id),
            random_low=max(specials) + 1,
            random_high=tokenizer.unk_id,
            config=config,
        )

    def __call__(self, input_ids: Sequence[int] | Tensor, spans: UnitSpans, *, rng: random.Random,
                 maskable: Tensor | None = None, span_offset: int = 0) -> MaskedExample:
        """Mask one example (T tokens).

        `spans` index tokens from `span_offset` on (1 for a text behind [CLS]); `maskable` (T,)
        bool, if given, limits where units may be selected.
        """
        ids = torch.as_tensor(input_ids, dtype=torch.long)
        allowed = self.maskable(ids) if maskable is None else self.maskable(ids) & maskable
        units = self.select_units(allowed, spans, rng=rng, span_offset=span_offset)
        return self.replace(ids, units, rng=rng)

    def maskable(self, ids: Tensor) -> Tensor:
        """(T,) bool: True where a token may be selected (not a special token, not [UNK])."""
        return ~torch.isin(ids, self.special_ids)

    def select_units(
        self, allowed: Tensor, spans: UnitSpans, *, rng: random.Random, span_offset: int = 0
    ) -> list[MaskedUnit]:
        """Draw non-overlapping whole units inside `allowed` (T,) until the budget is met."""
        allowed_list = allowed.tolist()
        n = len(allowed_list)
        chars = [i for i, ok in enumerate(allowed_list) if ok]
        if not chars:
            return []
        budget = min(len(chars), max(1, round(self.config.mask_ratio * len(chars))))
        # prefix[i] = allowed tokens before i: a span is usable iff all of its tokens are allowed
        prefix = [0, *accumulate(allowed_list)]
        queues = {"char": chars}  # chars as indices; multi-token levels as (start, end) spans
        for level in LEVELS[1:]:  # spans come unchecked: past a truncation, over [SEP], [UNK]
            shifted = ((s + span_offset, e + span_offset) for s, e in getattr(spans, level))
            queues[level] = [(s, e) for s, e in shifted
                             if 0 <= s < e <= n and prefix[e] - prefix[s] == e - s]
        weights = dict(zip(LEVELS, self.config.level_weights, strict=True))
        covered = bytearray(n)
        units: list[MaskedUnit] = []
        selected = 0
        while selected < budget and queues["char"]:
            level = _draw_level(queues, weights, rng)
            while queues[level]:  # a candidate of this level that fits, or none is left
                item = _pop_random(queues[level], rng)
                start, end = (item, item + 1) if level == "char" else item
                if selected + end - start <= budget and covered.find(1, start, end) < 0:
                    covered[start:end] = b"\x01" * (end - start)
                    units.append(MaskedUnit(start, end, level))
                    selected += end - start
                    break
        return sorted(units, key=lambda u: u.start)

    def replace(self, ids: Tensor, units: list[MaskedUnit], *, rng: random.Random) -> MaskedExample:
        """BERT 80/10/10 on the tokens of `units`, one draw per unit (or per token), vectorised."""
        g = torch.Generator().manual_seed(rng.getrandbits(63))
        # index lists in Python: a few dozen entries, where torch.repeat_interleave/cumsum cost
        # more in thread start-up than in work (milliseconds on a busy 2-core machine)
        positions = [i for u in units for i in range(u.start, u.end)]
        if self.config.replace_whole_units:
            unit_of = [k for k, u in enumerate(units) for _ in range(u.start, u.end)]
            u = torch.rand(len(units), generator=g)[unit_of]  # (S,) the unit's draw, per token
        else:
            u = torch.rand(len(positions), generator=g)  # (S,) one draw per token
        n_selected = len(positions)
        random_ids = torch.randint(self.random_low, self.random_high, (n_selected,), generator=g)
        p_mask = self.config.mask_token_prob
        p_rand = p_mask + self.config.random_token_prob
        original = ids[positions]  # (S,)
        shown = torch.where(u < p_mask, self.mask_id, torch.where(u < p_rand, random_ids, original))
        out, labels = ids.clone(), torch.full_like(ids, IGNORE_INDEX)
        out[positions] = shown
        labels[positions] = original
        return MaskedExample(out, labels, units)


def _draw_level(queues: dict[str, list], weights: dict[str, float], rng: random.Random) -> str:
    """A level by its weight among those with candidates left, else "char" (which always fits).

    Renormalising keeps the ratios of the available levels as configured: a text without
    entities masks characters and phrases 40:30 under the default.
    """
    open_levels = [lv for lv in LEVELS if queues[lv] and weights[lv] > 0]
    if not open_levels:
        return "char"
    cum = list(accumulate(weights[lv] for lv in open_levels))
    return open_levels[min(bisect_right(cum, rng.random() * cum[-1]), len(open_levels) - 1)]


def _pop_random(items: list, rng: random.Random):
    """Remove and return a uniformly random element in O(1) (the order of `items` changes).

    Drawing on demand instead of shuffling whole lists: a 512-token text has ~500 characters
    and ~200 units per level, of which only a few dozen are ever drawn.
    """
    k = rng.randrange(len(items))
    items[k], items[-1] = items[-1], items[k]
    return items.pop()


def masked_units_table(tokenizer, original_ids: Sequence[int], masked: MaskedExample) -> list[dict]:
    """One row per unit: level, token span, the original text and what the model sees instead."""
    original = [int(i) for i in original_ids]
    shown = masked.input_ids.tolist()
    return [
        {"level": u.level, "start": u.start, "end": u.end,
         "original": tokenizer.decode(original[u.start : u.end]),
         "shown": "".join(tokenizer.convert_ids_to_tokens(shown[u.start : u.end]))}
        for u in masked.units
    ]


def render_masked_example(tokenizer, original_ids: Sequence[int], masked: MaskedExample) -> str:
    """The original text with each masked unit bracketed by level, e.g. ``[实体:江泽民]``.

    Special tokens are shown as they are ([CLS], [SEP]); padding is dropped.
    """
    original = [int(i) for i in original_ids]

    def text(start: int, end: int | None) -> str:
        piece = [t for t in original[start:end] if t != tokenizer.pad_id]
        return tokenizer.decode(piece, skip_special_tokens=False)

    out, i = [], 0
    for unit in sorted(masked.units, key=lambda u: u.start):
        out.append(text(i, unit.start))
        out.append(f"[{LEVEL_NAMES_ZH[unit.level]}:{text(unit.start, unit.end)}]")
        i = unit.end
    out.append(text(i, None))
    return "".join(out)
