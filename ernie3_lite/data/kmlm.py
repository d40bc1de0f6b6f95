"""Knowledge masked language modeling (KMLM, ERNIE 3.0 arXiv 2107.02137 §3.2.1).

The NLU network's word-level task: ERNIE 1.0's knowledge masking (arXiv 1904.09223 §3.2) of
``[CLS] text [SEP]``, where the units masked are characters, phrases and whole named entities
(`masking.KnowledgeMasker`), with BERT's 80/10/10 replacement and labels on masked tokens only.

* `pack_texts`: consecutive texts (a document's sentences) concatenated into chunks of up to
  ``max_len - 2`` tokens, so examples are long runs of real text; `pack_documents` does it for
  every document of a `PretrainingCorpus`, as pre-training reads it.
* `KnowledgeMaskedLM`: one masked example (`MaskedInput`, what `render_masked_example` shows) or
  its dict of tensors (`input_ids`, `token_type_ids`, `task_type_ids` (T,) and `labels`), which
  `collate` pads into batches. The builder owns a seeded `random.Random`.

Texts come in as `EncodedText` (token ids + segmentation units, see `masking.encode_segmented`):
segmenting is the slow part, so callers cache it. UKTP (`uktp.py`) masks the same way.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import torch
from torch import Tensor

from ernie3_lite.data.collate import collate, example_dict, join_segments
from ernie3_lite.data.corpus import PretrainingCorpus
from ernie3_lite.data.masking import (
    EncodedText,
    KnowledgeMasker,
    MaskedExample,
    MaskingConfig,
    UnitSpans,
)

__all__ = ["KnowledgeMaskedLM", "MaskedInput", "pack_documents", "pack_texts"]


def pack_texts(texts: Iterable[EncodedText], *, max_tokens: int) -> Iterator[EncodedText]:
    """Concatenate consecutive texts (sentences of a document) into chunks of <= max_tokens.

    A text longer than `max_tokens` is cut into pieces; units crossing a cut are dropped.
    """
    ids: list[int] = []
    parts: list[UnitSpans] = []
    for text in texts:
        for start in range(0, len(text), max_tokens):
            piece = text.ids[start : start + max_tokens]
            if ids and len(ids) + len(piece) > max_tokens:
                yield EncodedText(tuple(ids), UnitSpans.concat(parts))
                ids, parts = [], []
            parts.append(_clip(text.spans, start=start, stop=start + len(piece)).shifted(len(ids)))
            ids.extend(piece)
    if ids:
        yield EncodedText(tuple(ids), UnitSpans.concat(parts))


def _clip(spans: UnitSpans, *, start: int, stop: int) -> UnitSpans:
    """Units inside tokens [start, stop), re-indexed from `start`."""
    levels = (spans.word, spans.phrase, spans.entity)
    if start == 0 and all(e <= stop for level in levels for _, e in level):
        return spans  # the common case: a whole text

    def keep(level):
        return tuple((s - start, e - start) for s, e in level if start <= s and e <= stop)

    return UnitSpans(*(keep(level) for level in levels))


def pack_documents(
    corpus: PretrainingCorpus, *, max_tokens: int, known: dict[str, list[int]]
) -> list[EncodedText]:
    """KMLM texts: each document's sentences packed into chunks of <= max_tokens, so examples
    are long runs of real text (the sentences' ids go into `known` on the way)."""
    chunks = []
    for sentences in corpus.lm_documents:  # news, and poems when the corpus has poetry_share
        encoded = [corpus.encode(s) for s in sentences]
        known.update((s, list(e.ids)) for s, e in zip(sentences, encoded, strict=True))
        chunks += [c for c in pack_texts(encoded, max_tokens=max_tokens) if c.ids]
    return chunks


@dataclass
class MaskedInput:
    """A masked example before it becomes a dict: what `render_masked_example` needs."""

    original_ids: list[int]
    masked: MaskedExample
    token_type_ids: list[int] | Tensor

    def to_dict(self) -> dict[str, Tensor]:
        return example_dict(
            self.masked.input_ids, token_type_ids=self.token_type_ids, labels=self.masked.labels
        )


class KnowledgeMaskedLM:
    """``[CLS] text [SEP]``, knowledge-masked (ERNIE 3.0 §3.2.1), the text cut to fit max_len."""

    def __init__(
        self, tokenizer, *, max_len: int, config: MaskingConfig | None = None, seed: int = 0
    ):
        if max_len < 3:
            raise ValueError(f"max_len must be >= 3, got {max_len}")
        self.tokenizer, self.max_len = tokenizer, max_len
        self.masker = KnowledgeMasker.from_tokenizer(tokenizer, config)
        self.rng = random.Random(seed)

    def mask(self, text: EncodedText) -> MaskedInput:
        body = list(text.ids[: self.max_len - 2])
        tok = self.tokenizer
        ids, _, _ = join_segments([body], cls_id=tok.cls_id, sep_id=tok.sep_id)
        # the masker drops units beyond the cut (past the end, over [SEP]) before drawing levels
        masked = self.masker(ids, text.spans, rng=self.rng, span_offset=1)
        return MaskedInput(ids, masked, torch.zeros(len(ids), dtype=torch.long))

    def __call__(self, text: EncodedText) -> dict[str, Tensor]:
        return self.mask(text).to_dict()

    def batch(self, texts: Iterable[EncodedText]) -> dict[str, Tensor]:
        return collate([self(t) for t in texts], pad_id=self.tokenizer.pad_id)
