"""Cloze queries about knowledge-graph triples: the tail masked, every tail of the relation a
candidate (ERNIE 3.0 arXiv 2107.02137 §3.2.3 and §4.3).

Two ways to ask (head, relation, ?):

* **sentence**: a real news sentence that mentions both entities (the distant-supervision
  alignment of data_samples/kg/aligned_*.jsonl) with the tail's mention cut out. The blank keeps
  the mention's form: where the sentence writes the short form (``河北`` for 河北省, see
  `ernie3_lite.data.knowledge.short_form`), every candidate is written in its short form too, so
  the form itself gives nothing away. Candidates whose forms coincide (吉林省 / 吉林市 -> 吉林)
  become one candidate: the sentence cannot tell them apart.
* **template**: a per-relation query format, ``TEMPLATES`` below. A template is a query format
  written for this probe (like LAMA's "X is located in Y", Petroni et al. 2019, arXiv
  1909.01066), not corpus text; the entities in it are the graph's own names.

Candidate lists are *filtered* as in knowledge-graph completion (Bordes et al. 2013): other tails
that are also true for (head, relation) in the graph are removed, so a county name shared by two
prefectures (朝阳区 -> 北京市 / 长春市) is not punished for naming the other one.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache

from ernie3_lite.data.formats import Triple
from ernie3_lite.data.knowledge import ethnic_groups, short_form
from ernie3_lite.evaluation.cloze import ClozeQuery

#: one query format per relation; "{tail}" is the blank
TEMPLATES: dict[str, str] = {
    "隶属": "{head}隶属于{tail}。",
    "省会": "{head}的省会是{tail}。",
    "货币": "{head}的货币是{tail}。",
    "官方语言": "{head}的官方语言是{tail}。",
}
#: characters of sentence kept on each side of the blank (the other entity's mention is always
#: kept as well): enough context for a 128-token model, and a bounded cost per candidate
WINDOW = (48, 8)


def tails_by_relation(graph: Iterable[Triple]) -> dict[str, tuple[str, ...]]:
    """relation -> every tail the graph has for it (sorted): the candidate sets."""
    tails: dict[str, set[str]] = defaultdict(set)
    for t in graph:
        tails[t.relation].add(t.tail)
    return {rel: tuple(sorted(names)) for rel, names in sorted(tails.items())}


def true_tails(graph: Iterable[Triple]) -> dict[tuple[str, str], frozenset[str]]:
    """(head, relation) -> all its tails in the graph (for filtered ranking)."""
    tails: dict[tuple[str, str], set[str]] = defaultdict(set)
    for t in graph:
        tails[(t.head, t.relation)].add(t.tail)
    return {key: frozenset(names) for key, names in tails.items()}


@lru_cache(maxsize=1)
def _ethnic_groups() -> tuple[str, ...]:
    """The 56 group names short forms strip from autonomous areas (needs `cpca`, else none)."""
    try:
        return tuple(ethnic_groups())
    except FileNotFoundError:
        return ()


def surface_form(name: str, *, short: bool) -> str:
    """The graph name, or its short form (the name itself when it has none)."""
    return (short_form(name, list(_ethnic_groups())) or name) if short else name


def candidate_forms(triple: Triple, candidates: Sequence[str], *,
                    known: Mapping[tuple[str, str], frozenset[str]] | None = None,
                    short: bool = False) -> tuple[tuple[str, ...], int]:
    """(distinct surface forms, index of the gold tail's form) for `triple`, filtered by `known`.

    Raises ValueError if the gold tail is not among `candidates`.
    """
    if triple.tail not in candidates:
        raise ValueError(f"the gold tail {triple.tail!r} is not a candidate for {triple}")
    also_true = (known or {}).get((triple.head, triple.relation), frozenset()) - {triple.tail}
    gold_form = surface_form(triple.tail, short=short)
    # the form of another true tail is a right answer too: drop it (unless it is the gold form)
    dropped = {surface_form(other, short=short) for other in also_true} - {gold_form}
    forms = dict.fromkeys(surface_form(c, short=short) for c in candidates)  # ordered, distinct
    ordered = tuple(form for form in forms if form not in dropped)
    return ordered, ordered.index(gold_form)


def template_query(triple: Triple, candidates: Sequence[str], *,
                   known: Mapping[tuple[str, str], frozenset[str]] | None = None) -> ClozeQuery:
    """``TEMPLATES[relation]`` with the head filled in and the tail as the blank."""
    if triple.relation not in TEMPLATES:
        raise ValueError(f"no template for relation {triple.relation!r}; known: {list(TEMPLATES)}")
    before, after = TEMPLATES[triple.relation].split("{tail}")
    forms, gold = candidate_forms(triple, candidates, known=known)
    return ClozeQuery(left=before.format(head=triple.head), right=after.format(head=triple.head),
                      candidates=forms, gold=gold, group=triple.relation, source="template")


def sentence_query(record: Mapping, triple: Triple, candidates: Sequence[str], *,
                   known: Mapping[tuple[str, str], frozenset[str]] | None = None,
                   window: tuple[int, int] = WINDOW) -> ClozeQuery | None:
    """The aligned `record`'s sentence with `triple.tail`'s mention as the blank.

    `record` is an aligned_*.jsonl line about the same two entities (either may be its head).
    Returns None when the mention is a short form the candidates cannot be written in.
    """
    if record["tail"] == triple.tail and record["head"] == triple.head:
        (start, end), (other_start, other_end) = record["tail_span"], record["head_span"]
    elif record["head"] == triple.tail and record["tail"] == triple.head:
        (start, end), (other_start, other_end) = record["head_span"], record["tail_span"]
    else:
        raise ValueError(f"record ({record['head']}, {record['tail']}) is not about {triple}")
    sentence = record["sentence"]
    mention = sentence[start:end]
    short = mention != triple.tail
    if short and surface_form(triple.tail, short=True) != mention:
        return None
    forms, gold = candidate_forms(triple, candidates, known=known, short=short)
    left_from = max(0, min(start - window[0], other_start))
    right_to = max(end + window[1], other_end)
    return ClozeQuery(left=sentence[left_from:start], right=sentence[end:right_to],
                      candidates=forms, gold=gold, group=triple.relation,
                      source=record.get("doc_id", ""))


def aligned_cloze_queries(records: Iterable[Mapping], graph: Sequence[Triple], *,
                          window: tuple[int, int] = WINDOW) -> list[ClozeQuery]:
    """Zero-shot cloze: every aligned sentence with its own triple's tail masked."""
    candidates, known = tails_by_relation(graph), true_tails(graph)
    queries = []
    for rec in records:
        triple = Triple(rec["head"], rec["relation"], rec["tail"])
        query = sentence_query(rec, triple, candidates[triple.relation], known=known,
                               window=window)
        if query is not None:
            queries.append(query)
    return queries


def pair_sentences(triple: Triple, records: Iterable[Mapping]) -> list[Mapping]:
    """Aligned records of exactly this triple, in file order; if there are none, records of the
    same two entities under another relation (either may be the record's head)."""
    records = list(records)
    exact = [rec for rec in records
             if (rec["head"], rec["relation"], rec["tail"]) == (triple.head, triple.relation,
                                                                  triple.tail)]
    pair = {triple.head, triple.tail}
    return exact or [rec for rec in records if {rec["head"], rec["tail"]} == pair]
