"""Beam search on the cached NLG path, the beams as the rows of one batch.

Each step scores every (beam, token) pair by the beam's summed log-probability plus the
token's, keeps the best ``2 * num_beams`` (as HF does, so that beams which just ended do not
leave the beam short), and moves the cache rows with `select_rows`. A beam that ends ([SEP],
a stop token or a stop string) joins the finished list if it ranked among the best num_beams;
the search stops once num_beams have finished ("early stopping") or at ``max_new_tokens``.
The winner has the best length-normalised score, sum log p / length ** length_penalty (Wu et
al., arXiv 1609.08144 §7 use a smoothed length; plain length is the common simplification).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor

from ernie3_lite.generation.cache import keep_last, select_rows
from ernie3_lite.generation.config import GenerationConfig
from ernie3_lite.generation.processors import mask_tokens, process_logits
from ernie3_lite.model.decoding import NLGCache, decode_step
from ernie3_lite.model.ernie3 import Ernie3Model


@dataclass
class Hypothesis:
    """One beam: its tokens, the model's probability of each, each step's top candidates."""

    token_ids: list[int] = field(default_factory=list)
    probabilities: list[float] = field(default_factory=list)
    candidates: list[list[tuple[int, float]]] = field(default_factory=list)
    log_prob: float = 0.0
    stop_reason: str = ""

    def extended(self, token_id: int, *, probability: float,
                 candidates: list[tuple[int, float]], log_prob: float) -> Hypothesis:
        return Hypothesis([*self.token_ids, token_id], [*self.probabilities, probability],
                          [*self.candidates, candidates], log_prob)

    def score(self, length_penalty: float) -> float:
        """Length-normalised log-probability (the [SEP] that ended a beam is counted in
        log_prob but not in the length)."""
        return self.log_prob / max(1, len(self.token_ids)) ** length_penalty


@dataclass
class StepContext:
    """What every step needs besides the model state: the fixed lists of the search."""

    config: GenerationConfig
    banned_ids: list[int]
    end_id: int  # [SEP]: ends the document, never part of the text
    previous_ids: list[int]  # prompt tokens seen by the repetition penalty
    max_context: int
    stop_check: Callable[[list[int]], str | None]  # token ids -> stop reason or None


def _step_banned(context: StepContext, step: int) -> list[int]:
    early = step < context.config.min_new_tokens  # no [SEP] before min_new_tokens
    return context.banned_ids + ([context.end_id] if early else [])


def _expand(logits: Tensor, beams: list[Hypothesis], context: StepContext,
            step: int) -> tuple[list[Hypothesis], list[int], list[Hypothesis]]:
    """One step: (survivors, the row each came from, beams that finished at this step)."""
    config, banned = context.config, _step_banned(context, step)
    vocab = logits.size(-1)
    model_probs = mask_tokens(logits.float(), banned).softmax(dim=-1)  # (B, V)
    top_probs, top_ids = model_probs.topk(min(config.num_candidates, vocab), dim=-1)  # (B, C)
    seen = torch.tensor([context.previous_ids + b.token_ids for b in beams],
                        dtype=torch.long, device=logits.device)  # (B, L)
    log_probs = process_logits(logits, previous_ids=seen, config=config,
                               banned_ids=banned).log_softmax(dim=-1)  # (B, V)
    past = torch.tensor([b.log_prob for b in beams], device=logits.device)  # (B,)
    total = (past[:, None] + log_probs).view(-1)  # (B * V,)
    best, flat = total.topk(min(2 * config.num_beams, total.numel()))
    survivors, rows, finished = [], [], []
    for rank, (log_prob, index) in enumerate(zip(best.tolist(), flat.tolist(), strict=True)):
        if log_prob == float("-inf"):
            break
        row, token = divmod(index, vocab)
        hypothesis = beams[row].extended(
            token, probability=float(model_probs[row, token]), log_prob=log_prob,
            candidates=list(zip(top_ids[row].tolist(), top_probs[row].tolist(), strict=True)))
        if token == context.end_id:
            hypothesis = Hypothesis(hypothesis.token_ids[:-1], hypothesis.probabilities[:-1],
                                    hypothesis.candidates[:-1], log_prob, "end_of_document")
        else:
            hypothesis.stop_reason = context.stop_check(hypothesis.token_ids) or ""
        if hypothesis.stop_reason:
            if rank < config.num_beams:  # an ending ranked below the beam width is no better
                finished.append(hypothesis)
            continue
        survivors.append(hypothesis)
        rows.append(row)
        if len(survivors) == config.num_beams:
            break
    return survivors, rows, finished


@torch.inference_mode()
def beam_search(model: Ernie3Model, logits: Tensor, cache: NLGCache, *,
                context: StepContext) -> Hypothesis:
    """Beam search from the prompt's next-token logits (1, V) and cache; returns the best beam.

    Its ``stop_reason`` says how it ended ("max_new_tokens" if it never stopped itself).
    """
    config = context.config
    beams, finished = [Hypothesis()], []
    for step in range(config.max_new_tokens):
        beams, rows, ended = _expand(logits, beams, context, step)
        finished.extend(ended)
        if len(finished) >= config.num_beams or not beams:
            break
        if step + 1 == config.max_new_tokens:
            for hypothesis in beams:
                hypothesis.stop_reason = "max_new_tokens"
            finished.extend(beams)
            break
        cache = select_rows(keep_last(cache, context.max_context - 1), rows)
        next_ids = torch.tensor([b.token_ids[-1] for b in beams], device=logits.device)  # (B,)
        logits, cache = decode_step(model, next_ids, cache)  # (B, V)
    return max(finished, key=lambda h: h.score(config.length_penalty))
