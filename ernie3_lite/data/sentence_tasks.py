"""Structure-aware tasks: sentence reordering and distance (ERNIE 3.0 arXiv 2107.02137 §3.2.2).

Sentence reordering comes from ERNIE 2.0 (arXiv 1907.12412 §4.2.2): a paragraph is split into
n in 1..m segments, the segments are shuffled, and the model names the permutation among all
k = sum_{n=1..m} n! permutations of 1..m segments. We enumerate them n = 1 first, then n = 2, ...,
each n in lexicographic order (the order of `itertools.permutations(range(n))`):

    m = 3:  0:(0)  1:(0 1)  2:(1 0)  3:(0 1 2)  4:(0 2 1)  5:(1 0 2) ... 8:(2 1 0)

A permutation p means the model sees segment p[0] first, then p[1], ...; so the original order is
recovered by putting the i-th shown segment back at position p[i]. We cut only at sentence
boundaries, so each segment is one or more whole sentences.

Sentence distance extends BERT's next-sentence prediction to 3 classes (ERNIE 2.0 §4.2.2, ERNIE 3.0
§3.2.2): 0 = B is the sentence right after A in the same document, 1 = same document but
|i - j| >= 2 (B may come before A), 2 = A and B from different documents.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from math import factorial

from torch import Tensor

from ernie3_lite.data.collate import example_dict, join_segments, truncate_lengths

NUM_DISTANCE_CLASSES = 3
ADJACENT, SAME_DOCUMENT, OTHER_DOCUMENT = 0, 1, 2


def num_reorder_classes(m: int) -> int:
    """k = sum_{n=1..m} n!  (m=3 -> 9, m=5 -> 153)."""
    if m < 1:
        raise ValueError(f"m must be >= 1, got {m}")
    return sum(factorial(n) for n in range(1, m + 1))


def permutation_index(perm: Sequence[int]) -> int:
    """The class id of `perm` (a permutation of 0..n-1): permutations of fewer segments come first,
    then the lexicographic rank (Lehmer code) among the n! permutations of n segments."""
    n = len(perm)
    if sorted(perm) != list(range(n)) or n == 0:
        raise ValueError(f"not a permutation of 0..n-1: {list(perm)}")
    rank = 0
    for i, p in enumerate(perm):
        smaller_later = sum(1 for q in perm[i + 1 :] if q < p)
        rank += smaller_later * factorial(n - 1 - i)
    return num_reorder_classes(n - 1) + rank if n > 1 else rank


def permutation_from_index(index: int, *, m: int) -> tuple[int, ...]:
    """Inverse of `permutation_index` for class ids 0 .. num_reorder_classes(m) - 1."""
    if not 0 <= index < num_reorder_classes(m):
        raise ValueError(f"index must be in [0, {num_reorder_classes(m)}), got {index}")
    n = 1
    while index >= num_reorder_classes(n):
        n += 1
    rank = index - (num_reorder_classes(n - 1) if n > 1 else 0)
    remaining, perm = list(range(n)), []
    for i in range(n):
        digit, rank = divmod(rank, factorial(n - 1 - i))
        perm.append(remaining.pop(digit))
    return tuple(perm)


def _ids(tokenizer, text: str | Sequence[int]) -> list[int]:
    return tokenizer.encode(text) if isinstance(text, str) else list(text)


class SentenceReordering:
    """``[CLS] seg_p0 [SEP] seg_p1 [SEP] ...`` with label = permutation_index(p) (ERNIE 2.0 §4.2.2).

    `sentences` are consecutive sentences (strings or token ids); `max_segments` is m.
    """

    def __init__(self, tokenizer, *, max_len: int, max_segments: int = 3, seed: int = 0):
        if max_len < 2 + 2 * max_segments:
            raise ValueError(f"max_len={max_len} leaves no room for {max_segments} segments")
        self.tokenizer, self.max_len, self.max_segments = tokenizer, max_len, max_segments
        self.num_classes = num_reorder_classes(max_segments)
        self.rng = random.Random(seed)

    def split(
        self, sentences: Sequence[str | Sequence[int]]
    ) -> tuple[list[list[int]], tuple[int, ...]]:
        """(segments in ORIGINAL order, permutation p); the model is shown segments[p[0]], ..."""
        kept = self._fit([_ids(self.tokenizer, s) for s in sentences])
        n = self.rng.randint(1, min(self.max_segments, len(kept)))
        cuts = sorted(self.rng.sample(range(1, len(kept)), n - 1))  # sentence boundaries to cut at
        bounds = [0, *cuts, len(kept)]
        segments = [sum(kept[a:b], []) for a, b in zip(bounds, bounds[1:], strict=False)]
        perm = list(range(n))
        self.rng.shuffle(perm)
        return segments, tuple(perm)

    def _fit(self, sentences: list[list[int]]) -> list[list[int]]:
        """Keep leading non-empty sentences within max_len (room for [CLS] and m [SEP]s)."""
        budget = self.max_len - 1 - self.max_segments
        kept, used = [], 0
        for ids in (s for s in sentences if s):
            if used + len(ids) > budget:
                if not kept:  # one long sentence: clip it rather than return nothing
                    kept.append(ids[:budget])
                break
            kept.append(ids)
            used += len(ids)
        if not kept:
            raise ValueError("sentence reordering needs at least one non-empty sentence")
        return kept

    def __call__(self, sentences: Sequence[str | Sequence[int]]) -> dict[str, Tensor]:
        segments, perm = self.split(sentences)
        ids, types, _ = join_segments(
            [segments[p] for p in perm], cls_id=self.tokenizer.cls_id, sep_id=self.tokenizer.sep_id
        )
        return example_dict(ids, token_type_ids=types, labels=permutation_index(perm))


@dataclass(frozen=True)
class SentencePair:
    """Where A and B come from: (document index, sentence index) each, and the class label."""

    a: tuple[int, int]
    b: tuple[int, int]
    label: int


class SentenceDistance:
    """``[CLS] A [SEP] B [SEP]``, label 0 adjacent / 1 same document / 2 other document.

    `documents` are lists of sentences (strings or token ids); `proportions` are the sampling
    weights of the three labels.
    """

    def __init__(
        self,
        tokenizer,
        documents: Sequence[Sequence[str | Sequence[int]]],
        *,
        max_len: int,
        proportions: tuple[float, float, float] = (1 / 3, 1 / 3, 1 / 3),
        seed: int = 0,
    ):
        if max_len < 5:
            raise ValueError(f"max_len must be >= 5, got {max_len}")
        self.tokenizer, self.documents, self.max_len = tokenizer, documents, max_len
        self.proportions = proportions
        self.rng = random.Random(seed)
        # documents able to give each label: >= 2 sentences for adjacent, >= 3 for non-adjacent
        self._eligible = (
            [d for d, doc in enumerate(documents) if len(doc) >= 2],
            [d for d, doc in enumerate(documents) if len(doc) >= 3],
            [d for d, doc in enumerate(documents) if len(doc) >= 1],
        )
        needs = (1, 1, 2)
        for label, (weight, docs) in enumerate(zip(proportions, self._eligible, strict=True)):
            if weight > 0 and len(docs) < needs[label]:
                raise ValueError(f"no documents can give sentence-distance label {label}")

    def sample_pair(self) -> SentencePair:
        label = self.rng.choices(range(NUM_DISTANCE_CLASSES), self.proportions)[0]
        docs, rng = self._eligible[label], self.rng
        if label == OTHER_DOCUMENT:
            d_a, d_b = rng.sample(docs, 2)
            return SentencePair(
                (d_a, rng.randrange(len(self.documents[d_a]))),
                (d_b, rng.randrange(len(self.documents[d_b]))),
                label,
            )
        d = rng.choice(docs)
        n = len(self.documents[d])
        if label == ADJACENT:
            i = rng.randrange(n - 1)
            return SentencePair((d, i), (d, i + 1), label)
        while True:  # at least 2 of the n*n ordered pairs qualify when n >= 3: rejection is cheap
            i, j = rng.randrange(n), rng.randrange(n)
            if abs(i - j) >= 2:
                return SentencePair((d, i), (d, j), label)

    def encode(self, pair: SentencePair) -> dict[str, Tensor]:
        a = _ids(self.tokenizer, self.documents[pair.a[0]][pair.a[1]])
        b = _ids(self.tokenizer, self.documents[pair.b[0]][pair.b[1]])
        len_a, len_b = truncate_lengths([len(a), len(b)], budget=self.max_len - 3)
        ids, types, _ = join_segments(
            [a[:len_a], b[:len_b]], cls_id=self.tokenizer.cls_id, sep_id=self.tokenizer.sep_id
        )
        return example_dict(ids, token_type_ids=types, labels=pair.label)

    def __call__(self) -> dict[str, Tensor]:
        return self.encode(self.sample_pair())
