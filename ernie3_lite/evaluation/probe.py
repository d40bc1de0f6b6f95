"""Knowledge probe: can the model name the tail of a held-out triple? (ERNIE 3.0 arXiv
2107.02137 §3.2.3: UKTP is meant to make the model memorise and reason over graph facts.)

The held-out triples are data_samples/kg/probe_{valid,test}.tsv: the split is by entity pair, so
the pre-training alignment (kg/aligned_train.jsonl, what UKTP trains on) never pairs their two
entities. `check_no_leak` enforces that before anything is scored: a probe triple whose
(head, tail) pair, in either order, appears in the training alignment raises `ProbeLeakError`.

Each triple becomes a cloze query with the TAIL masked (`kg_queries`: a real sentence of the
held-out alignment, or a per-relation template); the candidates are every tail of the relation
in the graph (filtered), ranked by `cloze.score_cloze`; reported: accuracy@1 and @5 per relation
and overall, next to what a random ranking would get.

The sentence queries' news documents may still be in the pre-training split of the news (the
alignment is split by pair, the news by document): the model may have read the very sentence,
though never as a (triple, sentence) pair. `seen_in_pretraining` counts such queries.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ernie3_lite.data.build import NEWS_HELD_OUT_PCT, split_of
from ernie3_lite.data.formats import Triple, read_aligned, read_triples
from ernie3_lite.evaluation.cloze import ClozeQuery, evaluate_cloze
from ernie3_lite.evaluation.kg_queries import (
    WINDOW,
    pair_sentences,
    sentence_query,
    tails_by_relation,
    template_query,
    true_tails,
)

QUERY_KINDS = ("template", "sentence")
ALIGNED_KEYS = ("head", "relation", "tail", "sentence", "head_span", "tail_span")


class ProbeLeakError(ValueError):
    """A probe triple's entity pair occurs in the pre-training alignment."""


def training_pairs(training_aligned: Iterable[Mapping]) -> set[frozenset[str]]:
    """Unordered {head, tail} pairs of the pre-training alignment records."""
    return {frozenset((rec["head"], rec["tail"])) for rec in training_aligned}


def check_no_leak(triples: Iterable[Triple], training_aligned: Iterable[Mapping]) -> int:
    """Raise `ProbeLeakError` if any triple's (head, tail) pair, either order, is in
    `training_aligned`; returns how many triples were checked."""
    seen = training_pairs(training_aligned)
    triples = list(triples)
    leaked = [t for t in triples if frozenset((t.head, t.tail)) in seen]
    if leaked:
        shown = ", ".join(f"({t.head}, {t.relation}, {t.tail})" for t in leaked[:5])
        raise ProbeLeakError(f"{len(leaked)} probe triple(s) pair entities that the training "
                             f"alignment pairs: {shown}")
    return len(triples)


def seen_in_pretraining(queries: Iterable[ClozeQuery]) -> int:
    """Queries whose source is a news document of the pre-training split (by the build's
    doc_id hash, `ernie3_lite.data.build.split_of`, so it holds for the full build too)."""
    return sum(q.source.startswith("pd") and split_of(q.source, held_out_pct=NEWS_HELD_OUT_PCT)
               == "train" for q in queries)


def probe_queries(triples: Sequence[Triple], candidates: Mapping[str, Sequence[str]], *,
                  kind: str = "template", known: Mapping | None = None,
                  aligned: Sequence[Mapping] = (), max_sentences: int = 1,
                  window: tuple[int, int] = WINDOW) -> list[ClozeQuery]:
    """Cloze queries for `triples` (tail masked): one template query per triple, or up to
    `max_sentences` sentence queries from the held-out alignment `aligned` (triples without
    a usable sentence get none)."""
    if kind == "template":
        return [template_query(t, candidates[t.relation], known=known) for t in triples]
    if kind != "sentence":
        raise ValueError(f"kind={kind!r} must be one of {QUERY_KINDS}")
    queries = []
    for triple in triples:
        built = (sentence_query(rec, triple, candidates[triple.relation], known=known,
                                window=window) for rec in pair_sentences(triple, aligned))
        queries.extend([q for q in built if q is not None][:max_sentences])
    return queries


def knowledge_probe(model, tokenizer, triples: Sequence[Triple],
                    candidates: Mapping[str, Sequence[str]], *,
                    training_aligned: Iterable[Mapping], queries: str = "template",
                    aligned: Sequence[Mapping] = (), graph: Iterable[Triple] | None = None,
                    scorer: str = "nlg", max_sentences: int = 1,
                    ks: Sequence[int] = (1, 5)) -> dict:
    """Rank every candidate tail for each held-out triple; accuracy@k overall and per relation.

    training_aligned: the pre-training alignment records (required: the leak check runs first
    and raises `ProbeLeakError`). graph: all triples, to filter other true tails out of the
    candidates (None: no filtering). aligned: the held-out alignment for sentence queries.
    Returns `evaluate_cloze`'s dict plus "queries", "triples", "covered" (triples with a
    query) and "seen_in_pretraining".
    """
    triples = list(triples)
    check_no_leak(triples, training_aligned)
    known = None if graph is None else true_tails(graph)
    per_triple = [probe_queries([t], candidates, kind=queries, known=known, aligned=aligned,
                                max_sentences=max_sentences) for t in triples]
    cloze = [q for qs in per_triple for q in qs]
    covered = sum(bool(qs) for qs in per_triple)
    result = evaluate_cloze(model, tokenizer, cloze, scorer=scorer, ks=ks)
    return {**result, "queries": queries, "triples": len(triples), "covered": covered,
            "seen_in_pretraining": seen_in_pretraining(cloze)}


@dataclass(frozen=True)
class ProbeData:
    """What a probe run reads from a data folder (layout of data_samples/README.md)."""

    triples: list[Triple]  # the held-out triples of the split
    graph: list[Triple]  # kg/triples.tsv
    aligned: list[dict]  # kg/aligned_<split>.jsonl: sentences of the held-out pairs
    training_aligned: list[dict]  # kg/aligned_train.jsonl

    @property
    def candidates(self) -> dict[str, tuple[str, ...]]:
        return tails_by_relation(self.graph)


def load_probe_data(data_dir: str | Path, *, split: str = "test") -> ProbeData:
    """Read the probe split, the graph and the alignment files of `data_dir`/kg."""
    kg = Path(data_dir) / "kg"
    return ProbeData(triples=read_triples(kg / f"probe_{split}.tsv"),
                     graph=read_triples(kg / "triples.tsv"),
                     aligned=read_aligned(kg / f"aligned_{split}.jsonl", spans=True),
                     training_aligned=read_aligned(kg / "aligned_train.jsonl", spans=True))
