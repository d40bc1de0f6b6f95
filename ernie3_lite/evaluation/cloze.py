"""Zero-shot cloze by ranking candidate fillers (ERNIE 3.0 arXiv 2107.02137 §4.3).

A `ClozeQuery` is a text with one blank (``left ___ right``) and the candidate fillers. For
multi-choice and cloze tasks ERNIE 3.0 fills each candidate into the blank and picks the text
with "the lowest per-token perplexity" (§4.3); two scorers (`scoring`):

* ``"nlg"``: the NLG network reads ``[SEP] left`` once (its keys/values cached) and then each
  ``candidate + right``. What is averaged is ``score``:
  ``"filled"`` (default, the paper's): the mean log-probability of the WHOLE filled text
  ``left + candidate + right``, minus the log of its per-token perplexity;
  ``"continuation"``: the mean over ``candidate + right`` only.
  The left context's log-probability is the same for every candidate, but its tokens are in
  the filled text's normaliser and not in the continuation's, so with candidates of different
  lengths the two can rank differently: (L + c_i) / (n + k_i) against c_i / k_i. Neither is
  the right one a priori; `choose_score` picks between them on a valid split.
* ``"nlu"``: the NLU network sees ``[CLS] left [MASK]*k right [SEP]`` and the score is the
  candidate's whole-span pseudo-log-likelihood (characters scored jointly-independently, see
  `scoring.masked_span_log_likelihood`), averaged per character, whatever ``score`` says (the
  NLU network predicts masked positions only; scoring the whole text would take a pass per
  token).

``normalize=False`` ranks by the summed log-probability instead (favours short candidates; the
two ``score`` rules then rank alike).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from torch import Tensor

from ernie3_lite.evaluation.ranking import RankedQuery, gold_rank, summarize
from ernie3_lite.evaluation.scoring import (
    best_option,
    masked_span_log_likelihood,
    shared_context_log_likelihood,
)

SCORERS = ("nlg", "nlu")
SCORES = ("filled", "continuation")


@dataclass(frozen=True)
class ClozeQuery:
    """``left ___ right`` with candidate fillers; `gold` indexes `candidates`.

    group: the row it is reported under (a relation); source: where the text came from (a news
    doc_id, or "template"), kept so a report can say which texts pre-training saw.
    """

    left: str
    right: str
    candidates: tuple[str, ...]
    gold: int
    group: str = "all"
    source: str = ""

    def __post_init__(self):
        if not 0 <= self.gold < len(self.candidates):
            raise ValueError(f"gold={self.gold} is not an index of {len(self.candidates)} "
                             "candidates")
        if len(set(self.candidates)) != len(self.candidates):
            raise ValueError("candidates must be distinct (a tie with the gold filler would "
                             "count as a miss)")

    def filled(self, index: int) -> str:
        """The text with candidate `index` in the blank."""
        return self.left + self.candidates[index] + self.right


def score_cloze(model, tokenizer, query: ClozeQuery, *, scorer: str = "nlg",
                normalize: bool = True, score: str = "filled") -> Tensor:
    """(C,) ranking scores of the query's candidates, higher = better (see module doc)."""
    if score not in SCORES:
        raise ValueError(f"score={score!r} must be one of {SCORES}")
    left, right = tokenizer.encode(query.left), tokenizer.encode(query.right)
    candidates = [tokenizer.encode(c) for c in query.candidates]
    if scorer == "nlg":
        scores = shared_context_log_likelihood(model, left, [c + right for c in candidates],
                                               bos_id=tokenizer.sep_id, pad_id=tokenizer.pad_id,
                                               score_context=score == "filled")
    elif scorer == "nlu":
        scores = masked_span_log_likelihood(model, left, right, candidates,
                                            cls_id=tokenizer.cls_id, sep_id=tokenizer.sep_id,
                                            mask_id=tokenizer.mask_id, pad_id=tokenizer.pad_id)
    else:
        raise ValueError(f"scorer={scorer!r} must be one of {SCORERS}")
    return scores.ranking_score(normalize=normalize)


def rank_queries(model, tokenizer, queries: Iterable[ClozeQuery], *, scorer: str = "nlg",
                 normalize: bool = True, score: str = "filled") -> list[RankedQuery]:
    """Score every query and keep the gold rank (ties pessimistic, `ranking.gold_rank`)."""
    ranked = []
    for query in queries:
        scores = score_cloze(model, tokenizer, query, scorer=scorer, normalize=normalize,
                             score=score)
        ranked.append(RankedQuery(rank=gold_rank(scores, query.gold),
                                  num_candidates=len(query.candidates), group=query.group))
    return ranked


def evaluate_cloze(model, tokenizer, queries: Sequence[ClozeQuery], *, scorer: str = "nlg",
                   normalize: bool = True, ks: Sequence[int] = (1, 5),
                   score: str = "filled") -> dict:
    """accuracy@k (overall and per group), the random-ranking expectation, MRR, n."""
    ranked = rank_queries(model, tokenizer, queries, scorer=scorer, normalize=normalize,
                          score=score)
    return {"scorer": scorer, "score": score if scorer == "nlg" else "span",
            **summarize(ranked, ks=ks)}


def choose_score(model, tokenizer, valid_queries: Sequence[ClozeQuery], *,
                 normalize: bool = True) -> tuple[str, dict[str, float]]:
    """("filled" or "continuation", {score: acc@1}): the NLG scoring rule with the higher acc@1
    on the *valid* queries (the paper's "filled" on ties), to use on test."""
    return best_option(lambda score: evaluate_cloze(
        model, tokenizer, valid_queries, scorer="nlg", normalize=normalize, ks=(1,),
        score=score)["overall"]["acc@1"], SCORES)
