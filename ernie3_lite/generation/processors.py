"""Logits processing: small pure functions on next-token logits (..., V).

Each takes logits and returns new logits (never in place), so a notebook can apply them one by
one and look at what each does. `process_logits` chains them in HF's order: banned tokens,
repetition penalty, temperature, top-k, top-p. A filtered-out token gets -inf (probability 0).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from ernie3_lite.generation.config import GenerationConfig


def mask_tokens(logits: Tensor, token_ids: Sequence[int] | Tensor) -> Tensor:
    """logits (..., V) with the columns `token_ids` set to -inf: tokens that may never appear."""
    ids = torch.as_tensor(token_ids, dtype=torch.long, device=logits.device)
    if ids.numel() == 0:
        return logits
    return logits.index_fill(-1, ids, float("-inf"))


def apply_repetition_penalty(logits: Tensor, previous_ids: Tensor, *, penalty: float) -> Tensor:
    """CTRL's penalised sampling (Keskar et al., arXiv 1909.05858 §4.1) on logits (B, V).

    previous_ids (B, L): tokens already present (prompt and output). CTRL divides their logits
    by the penalty before the softmax; as HF does, a negative logit is multiplied instead, so
    that a penalty > 1 always makes a seen token less likely. Each token counts once, however
    often it was seen.
    """
    if penalty == 1.0 or previous_ids.numel() == 0:
        return logits
    seen = logits.gather(-1, previous_ids)  # (B, L)
    penalised = torch.where(seen > 0, seen / penalty, seen * penalty)  # (B, L)
    return logits.scatter(-1, previous_ids, penalised)  # (B, V)


def apply_temperature(logits: Tensor, *, temperature: float) -> Tensor:
    """softmax(logits / T): T < 1 sharpens, T > 1 flattens; T -> 0 tends to the argmax."""
    if temperature <= 0:
        raise ValueError(f"temperature={temperature} must be > 0")
    return logits if temperature == 1.0 else logits / temperature


def top_k_filter(logits: Tensor, *, k: int) -> Tensor:
    """Keep the k largest logits per row (ties with the k-th are kept too); k = 0: keep all."""
    if k < 0:
        raise ValueError(f"k={k} must be >= 0")
    if k == 0 or k >= logits.size(-1):
        return logits
    kth = logits.topk(k, dim=-1).values[..., -1:]  # (..., 1) the k-th largest logit
    return logits.masked_fill(logits < kth, float("-inf"))


def top_p_filter(logits: Tensor, *, p: float) -> Tensor:
    """Nucleus filter (Holtzman et al., arXiv 1904.09751 §3.1): keep the smallest set of most
    likely tokens whose probability mass is >= p; the most likely token always stays.

    A token is dropped when the tokens ranked above it already hold mass >= p.
    """
    if not 0.0 < p <= 1.0:
        raise ValueError(f"p={p} must be in (0, 1]")
    if p == 1.0:
        return logits
    sorted_logits, order = logits.sort(dim=-1, descending=True)  # (..., V) each
    probs = sorted_logits.softmax(dim=-1)  # (..., V)
    mass_above = probs.cumsum(dim=-1) - probs  # (..., V) mass of the tokens ranked higher
    drop_sorted = mass_above >= p
    drop_sorted[..., 0] = False  # the argmax alone may already exceed p: keep it
    drop = drop_sorted.scatter(-1, order, drop_sorted)  # back to vocabulary order
    return logits.masked_fill(drop, float("-inf"))


def process_logits(logits: Tensor, *, previous_ids: Tensor, config: GenerationConfig,
                   banned_ids: Sequence[int] | Tensor = ()) -> Tensor:
    """logits (B, V) -> processed logits (B, V) for `config`'s strategy.

    Greedy and beam search use banned tokens and the repetition penalty only (temperature,
    top-k and top-p never change an argmax; for beams temperature would only rescale scores).
    """
    logits = mask_tokens(logits.float(), banned_ids)
    logits = apply_repetition_penalty(logits, previous_ids, penalty=config.repetition_penalty)
    if config.strategy != "sample":
        return logits
    logits = apply_temperature(logits, temperature=config.temperature)
    logits = top_k_filter(logits, k=config.top_k)
    return top_p_filter(logits, p=config.top_p)
