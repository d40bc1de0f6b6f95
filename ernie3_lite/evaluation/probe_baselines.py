"""Baselines for the knowledge probe: what ranking the candidate tails WITHOUT a model gets.

The probe (`ernie3_lite.evaluation.probe`) asks each held-out triple with its tail masked and
ranks every tail of the relation. Three rankings that know no fact are its floor:

* random: the expected accuracy@k of a uniform ranking, min(k, C) / C (`ranking.summarize`);
* tail prior: candidates ranked by how often each is the tail of that relation in the
  pre-training alignment (what UKTP trains on, ERNIE 3.0 arXiv 2107.02137 §3.2.3): a model that
  learned which tails are common, and no fact, scores this;
* co-occurrence: candidates ranked by how many sentences of the news TRAIN split mention both
  the head and the candidate (full name or short form). The probe split keeps a held-out pair
  out of UKTP's aligned pairs only, not out of the pre-training text, so this counts what a
  model could have read; `cooccurring_pairs` says for how many triples the gold pair co-occurs.
  The head itself (a city is also a tail of 隶属) is ranked last: it co-occurs with itself.

Every baseline ranks the same filtered candidates as the template queries, ties pessimistic.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

import torch

from ernie3_lite.data.formats import Triple
from ernie3_lite.evaluation.kg_queries import surface_form, template_query, true_tails
from ernie3_lite.evaluation.ranking import RankedQuery, gold_rank, summarize


def _names(entity: str) -> set[str]:
    return {entity, surface_form(entity, short=True)} - {""}


def _rank_by(triples: Sequence[Triple], candidates: Mapping[str, Sequence[str]],
             graph: Iterable[Triple], score) -> dict:
    """`summarize` of ranking each triple's template-query candidates by score(triple, form)."""
    known = true_tails(graph)
    ranked = []
    for triple in triples:
        query = template_query(triple, candidates[triple.relation], known=known)
        scores = torch.tensor([float(score(triple, form)) for form in query.candidates])
        ranked.append(RankedQuery(gold_rank(scores, query.gold), len(query.candidates),
                                  triple.relation))
    return summarize(ranked)["overall"]


def tail_prior(triples: Sequence[Triple], candidates: Mapping[str, Sequence[str]],
               graph: Iterable[Triple], training_aligned: Iterable[Mapping]) -> dict:
    """acc@k / MRR of ranking candidates by their tail count per relation in UKTP's data."""
    counts = Counter((rec["relation"], rec["tail"]) for rec in training_aligned)
    return _rank_by(triples, candidates, graph,
                    lambda triple, form: counts[(triple.relation, form)])


def cooccurrence(triples: Sequence[Triple], candidates: Mapping[str, Sequence[str]],
                 graph: Iterable[Triple], sentences: Sequence[str]) -> dict:
    """acc@k / MRR of ranking candidates by sentences mentioning both head and candidate."""
    graph = list(graph)
    with_head = {t.head: [s for s in sentences if any(n in s for n in _names(t.head))]
                 for t in triples}

    def count(triple: Triple, form: str) -> int:
        if form == triple.head:
            return -1
        names = _names(form)
        return sum(any(n in s for n in names) for s in with_head[triple.head])

    return _rank_by(triples, candidates, graph, count)


def cooccurring_pairs(triples: Sequence[Triple], sentences: Sequence[str]) -> int:
    """How many triples' (head, tail) appear together in at least one of `sentences`."""
    return sum(any(any(h in s for h in _names(t.head)) and any(n in s for n in _names(t.tail))
                   for s in sentences) for t in triples)
