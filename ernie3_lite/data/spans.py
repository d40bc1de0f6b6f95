"""Segmentation results as character spans (one char = one token, see tokenization.py).

`Span` is one word, phrase or entity of a text; `SegmentedText` holds all three kinds, and is
the unit `segmentation.Segmenter` caches on disk (one JSON line per text).
"""

from __future__ import annotations

import json
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Span:
    start: int  # character offsets, end exclusive
    end: int
    label: str


_SPAN_FIELDS = ("words", "phrases", "entities")


@dataclass(frozen=True)
class SegmentedText:
    text: str
    words: tuple[Span, ...]
    phrases: tuple[Span, ...]
    entities: tuple[Span, ...]

    def to_json(self) -> str:
        """The spans as one JSON line (the text itself is the cache key, not stored)."""
        spans = {f: [[s.start, s.end, s.label] for s in getattr(self, f)] for f in _SPAN_FIELDS}
        return json.dumps(spans, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str, line: str) -> SegmentedText:
        rec = json.loads(line)
        spans = {f: tuple(Span(*s) for s in rec[f]) for f in _SPAN_FIELDS}
        return cls(text, **spans)
