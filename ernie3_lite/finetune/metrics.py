"""Fine-tuning metrics as pure functions: accuracy, entity-span F1, character-level ROUGE-L.

ERNIE 3.0 (arXiv 2107.02137 §4.2.1, §4.2.2) reports accuracy on sentiment analysis (ChnSentiCorp),
entity-level F1 on NER (MSRA-NER) and ROUGE-L on summarisation/headline generation (LCSTS).
These are the same three measures on our small real sets:

* `accuracy`: the share of exactly right labels;
* `span_scores`: precision / recall / F1 over whole entities, as seqeval's default mode and the
  CoNLL `conlleval` script count them. Spans come from `tag_spans` (ernie3_lite/data/formats.py),
  which follows the same rules: an entity starts at B-X, or at an I-X that does not continue an
  X entity (after O, or after another type); a predicted span counts only if its start, end and
  type all match a gold span. Micro-averaged over all types, plus one row per type;
* `rouge_l`: the LCS-based F-measure of Lin (2004, "ROUGE: A Package for Automatic Evaluation of
  Summaries", §3.1) over characters, with beta = 1 (precision and recall weigh the same), as
  Chinese summarisation papers score LCSTS on characters.

Counts are kept apart from scores (`SpanCounts`) because counts add up over batches and devices
and scores do not: the Lightning modules sum counts and only then divide.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from ernie3_lite.data.formats import tag_spans
from ernie3_lite.tokenization import normalize


def accuracy(predictions: Sequence, labels: Sequence) -> float:
    """Share of positions where `predictions[i] == labels[i]`; 0.0 for no examples."""
    if len(predictions) != len(labels):
        raise ValueError(f"{len(predictions)} predictions for {len(labels)} labels")
    return sum(p == g for p, g in zip(predictions, labels)) / max(len(labels), 1)


# ---- entity spans (NER) ------------------------------------------------------------------------
@dataclass(frozen=True)
class SpanCounts:
    """Per entity type: (correct, predicted, gold) span counts. Counts add; scores do not."""

    correct: int = 0
    predicted: int = 0
    gold: int = 0

    def __add__(self, other: SpanCounts) -> SpanCounts:
        return SpanCounts(self.correct + other.correct, self.predicted + other.predicted,
                          self.gold + other.gold)


@dataclass(frozen=True)
class PRF:
    """Precision, recall, F1 and support (the number of gold spans)."""

    precision: float
    recall: float
    f1: float
    support: int

    @classmethod
    def from_counts(cls, counts: SpanCounts) -> PRF:
        # 0/0 is 0, as in seqeval: no predictions means no precision earned
        precision = counts.correct / counts.predicted if counts.predicted else 0.0
        recall = counts.correct / counts.gold if counts.gold else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return cls(precision, recall, f1, counts.gold)


@dataclass(frozen=True)
class SpanScores:
    """Micro-averaged precision / recall / F1 over all entity types, and one `PRF` per type."""

    precision: float
    recall: float
    f1: float
    per_type: dict[str, PRF] = field(default_factory=dict)


def span_counts(gold: Iterable[Sequence[str]],
                predicted: Iterable[Sequence[str]]) -> dict[str, SpanCounts]:
    """Sentences of gold and predicted BIO/BIOES tags -> `SpanCounts` per entity type.

    A predicted span is correct when a gold span has the same (start, end, type); each sentence
    is scored on its own, so a span never runs from one sentence into the next.
    """
    counts: dict[str, SpanCounts] = {}
    gold, predicted = list(gold), list(predicted)
    if len(gold) != len(predicted):
        raise ValueError(f"{len(predicted)} predicted sentences for {len(gold)} gold sentences")
    for k, (gold_tags, pred_tags) in enumerate(zip(gold, predicted)):
        if len(gold_tags) != len(pred_tags):
            raise ValueError(f"sentence {k}: {len(pred_tags)} predicted tags for "
                             f"{len(gold_tags)} gold tags")
        gold_spans, pred_spans = set(tag_spans(gold_tags)), set(tag_spans(pred_tags))
        for start, end, kind in gold_spans | pred_spans:
            found = SpanCounts(correct=int((start, end, kind) in gold_spans & pred_spans),
                               predicted=int((start, end, kind) in pred_spans),
                               gold=int((start, end, kind) in gold_spans))
            counts[kind] = counts.get(kind, SpanCounts()) + found
    return counts


def scores_from_counts(counts: Mapping[str, SpanCounts]) -> SpanScores:
    """Micro average (sum the counts of every type, then divide) and per-type scores."""
    total = sum(counts.values(), SpanCounts())
    micro = PRF.from_counts(total)
    per_type = {kind: PRF.from_counts(counts[kind]) for kind in sorted(counts)}
    return SpanScores(micro.precision, micro.recall, micro.f1, per_type)


def span_scores(gold: Iterable[Sequence[str]], predicted: Iterable[Sequence[str]]) -> SpanScores:
    """seqeval-compatible entity scores of tagged sentences (see the module docstring)."""
    return scores_from_counts(span_counts(gold, predicted))


# ---- ROUGE-L (headline generation) -------------------------------------------------------------
def lcs_length(a: Sequence, b: Sequence) -> int:
    """Length of the longest common subsequence of `a` and `b` (dynamic programming, one row)."""
    if len(a) < len(b):
        a, b = b, a  # keep the row as short as possible
    row = [0] * (len(b) + 1)  # row[j] = LCS of the prefix of `a` seen so far and b[:j]
    for x in a:
        diagonal = 0  # LCS of the previous prefix of `a` and b[:j-1]
        for j, y in enumerate(b, start=1):
            diagonal, row[j] = row[j], diagonal + 1 if x == y else max(row[j], row[j - 1])
    return row[-1]


def rouge_characters(text: str) -> list[str]:
    """The units ROUGE-L compares: characters after NFKC + lower-casing, whitespace dropped
    (the tokenizer's normal form, so a decoded prediction and its raw reference agree)."""
    return [ch for ch in normalize(text) if not ch.isspace()]


def rouge_l(candidate: str, reference: str, *, beta: float = 1.0) -> float:
    """Character-level ROUGE-L F-measure (Lin 2004, §3.1), in [0, 1].

    R = LCS / len(reference), P = LCS / len(candidate), F = (1 + b^2) R P / (R + b^2 P).
    An empty candidate or reference scores 0.
    """
    if beta <= 0:
        raise ValueError(f"beta={beta} must be > 0")
    cand, ref = rouge_characters(candidate), rouge_characters(reference)
    lcs = lcs_length(cand, ref)
    if lcs == 0:
        return 0.0
    recall, precision = lcs / len(ref), lcs / len(cand)
    return (1 + beta**2) * recall * precision / (recall + beta**2 * precision)


def mean_rouge_l(candidates: Sequence[str], references: Sequence[str], *,
                 beta: float = 1.0) -> float:
    """Average of `rouge_l` over (candidate, reference) pairs; 0.0 for no pairs."""
    if len(candidates) != len(references):
        raise ValueError(f"{len(candidates)} candidates for {len(references)} references")
    scores = [rouge_l(c, r, beta=beta) for c, r in zip(candidates, references)]
    return sum(scores) / max(len(scores), 1)
