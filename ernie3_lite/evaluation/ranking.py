"""Ranking metrics for cloze and the knowledge probe: rank, accuracy@k, the random baseline.

Ties count against the gold candidate (its rank is 1 + the number of OTHER candidates scoring at
least as high), so a scorer that gives every candidate the same score gets accuracy@1 = 0, not 1.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor


def gold_rank(scores: Tensor, gold: int) -> int:
    """1-based rank of candidate `gold` among (C,) scores, higher = better, ties pessimistic."""
    others = torch.cat([scores[:gold], scores[gold + 1:]])  # (C-1,)
    return 1 + int((others >= scores[gold]).sum())


def random_hit_rate(num_candidates: int, *, k: int) -> float:
    """Expected accuracy@k of a uniformly random ranking of `num_candidates`: min(k, C) / C."""
    if num_candidates < 1:
        raise ValueError(f"num_candidates must be >= 1, got {num_candidates}")
    return min(k, num_candidates) / num_candidates


@dataclass(frozen=True)
class RankedQuery:
    """One scored query: the gold rank, how many candidates, and the group it is reported in."""

    rank: int
    num_candidates: int
    group: str


def summarize(queries: Iterable[RankedQuery], *, ks: Sequence[int] = (1, 5)) -> dict:
    """{"overall": row, "per_group": {group: row}}, each row
    {"n", "acc@k"..., "random@k"..., "mrr", "candidates" (mean count)}.

    Overall = the mean over queries (a micro average), so large groups weigh more.
    """
    queries = list(queries)
    groups: dict[str, list[RankedQuery]] = defaultdict(list)
    for q in queries:
        groups[q.group].append(q)
    return {"overall": _row(queries, ks), "per_group": {g: _row(qs, ks) for g, qs in
                                                       sorted(groups.items())}}


def _row(queries: list[RankedQuery], ks: Sequence[int]) -> dict:
    n = len(queries)
    row: dict = {"n": n}
    if n == 0:
        return row
    for k in ks:
        row[f"acc@{k}"] = sum(q.rank <= k for q in queries) / n
        row[f"random@{k}"] = sum(random_hit_rate(q.num_candidates, k=k) for q in queries) / n
    row["mrr"] = sum(1.0 / q.rank for q in queries) / n
    row["candidates"] = sum(q.num_candidates for q in queries) / n
    return row
