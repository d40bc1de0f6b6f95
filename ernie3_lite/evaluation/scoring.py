"""Log-likelihood scorers for zero-shot evaluation (ERNIE 3.0 arXiv 2107.02137 §4.3).

ERNIE 3.0 evaluates zero-shot classification and cloze by *perplexity ranking*: fill each
candidate into the text and keep the one with the lowest per-token perplexity. Two scorers:

* **NLG path** (`continuation_log_likelihood`, `shared_context_log_likelihood`): the universal and
  NLG modules, causal, exactly as document LM pre-training runs them (task type `TaskType.NLG`,
  token type 0, no memory). log p(continuation | context) = sum over continuation tokens x_t of
  log softmax(lm_logits(h_{t-1}))[x_t]. The context starts with [SEP]: document LM streams put
  [SEP] after every document (`DocumentStream.from_documents`), so [SEP] is "a new text starts".
* **NLU path** (`masked_span_log_likelihood`): a pseudo-log-likelihood for cloze in the style of
  Salazar et al. 2020 (arXiv 1910.14659), but with the WHOLE span masked at once, as knowledge
  masking trains the NLU network (ERNIE 1.0 arXiv 1904.09223): ``[CLS] left [MASK]*k right [SEP]``
  with one [MASK] per candidate character, score = sum_j log p([MASK]_j = c_j). The k characters
  are predicted *jointly-independently*: each one given the context but not the other candidate
  characters, so the sum is the log of a product of marginals, not a true joint probability.

Padding is on the right, so a causal query never sees a padding key, and padding keys are masked
for the bidirectional NLU stacks: a batched score equals the score computed alone (tested).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace

import torch
from torch import Tensor

from ernie3_lite.data.collate import TaskType, truncate_lengths
from ernie3_lite.model.decoding import prefill
from ernie3_lite.model.ernie3 import Ernie3Model

TokenIds = Sequence[int]


@dataclass(frozen=True)
class SequenceScores:
    """log_likelihood (N,): sum of log-probabilities of the scored tokens; num_tokens (N,)."""

    log_likelihood: Tensor
    num_tokens: Tensor

    def mean(self) -> Tensor:
        """(N,) per-token log-likelihood: minus the log of the per-token perplexity."""
        return self.log_likelihood / self.num_tokens

    def perplexity(self) -> Tensor:
        """(N,) per-token perplexity, exp(-mean log-likelihood)."""
        return torch.exp(-self.mean())

    def ranking_score(self, *, normalize: bool = True) -> Tensor:
        """Higher is better: the mean log-likelihood (lowest perplexity) or the plain sum."""
        return self.mean() if normalize else self.log_likelihood


@contextmanager
def evaluation_mode(model: torch.nn.Module) -> Iterator[torch.nn.Module]:
    """Dropout off while scoring (scores must be deterministic); restores the previous mode."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


def _check_nonempty(items: Sequence[TokenIds], what: str) -> None:
    if any(len(item) == 0 for item in items):
        raise ValueError(f"every {what} needs at least one token")


def _fit_context(context: TokenIds, continuation_len: int, *, max_len: int) -> list[int]:
    """The context's last tokens that fit `max_len` with [SEP] in front and the continuation."""
    room = max_len - 1 - continuation_len
    if room < 0:
        raise ValueError(f"a continuation of {continuation_len} tokens does not fit "
                         f"max_seq_len={max_len} (one position goes to the leading [SEP])")
    return list(context[len(context) - room:]) if room < len(context) else list(context)


@torch.inference_mode()
def continuation_log_likelihood(model: Ernie3Model, contexts: Sequence[TokenIds],
                                continuations: Sequence[TokenIds], *, bos_id: int,
                                pad_id: int = 0, batch_size: int = 32) -> SequenceScores:
    """log p(continuations[i] | [bos] + contexts[i]) on the NLG path, for every i.

    Each sequence is ``[bos] context continuation``; a context too long for
    ``config.max_seq_len`` loses its first tokens. Sequences are sorted by length before
    batching (less padding), and the scores come back in input order.
    """
    if len(contexts) != len(continuations):
        raise ValueError(f"{len(contexts)} contexts but {len(continuations)} continuations")
    _check_nonempty(continuations, "continuation")
    max_len = model.config.max_seq_len
    sequences = [[bos_id, *_fit_context(ctx, len(cont), max_len=max_len), *cont]
                 for ctx, cont in zip(contexts, continuations, strict=True)]
    starts = [len(seq) - len(cont) for seq, cont in zip(sequences, continuations, strict=True)]
    order = sorted(range(len(sequences)), key=lambda i: -len(sequences[i]))
    total = torch.zeros(len(sequences))
    with evaluation_mode(model):
        for first in range(0, len(order), batch_size):
            rows = order[first:first + batch_size]
            width = len(sequences[rows[0]])  # the longest in this batch
            ids = torch.full((len(rows), width), pad_id, dtype=torch.long)  # (B, T)
            for b, i in enumerate(rows):
                ids[b, :len(sequences[i])] = torch.tensor(sequences[i])
            mask = (torch.arange(width)[None, :]
                    < torch.tensor([len(sequences[i]) for i in rows])[:, None])  # (B, T)
            hidden = model.forward_nlg(ids, attention_mask=mask.long(), mem_len=0,
                                       task_type_ids=torch.full_like(ids, int(TaskType.NLG))
                                       ).hidden  # (B, T, d)
            # token t is predicted by the hidden state at t - 1: gather only the scored ones
            batch_idx = [b for b, i in enumerate(rows) for _ in range(starts[i], len(sequences[i]))]
            time_idx = [t for i in rows for t in range(starts[i], len(sequences[i]))]
            picked = hidden[batch_idx, [t - 1 for t in time_idx]]  # (n_scored, d)
            log_probs = model.lm_logits(picked).log_softmax(dim=-1)  # (n_scored, V)
            token_lp = log_probs[torch.arange(len(time_idx)), ids[batch_idx, time_idx]]
            sums = torch.zeros(len(rows)).index_add_(0, torch.tensor(batch_idx), token_lp)
            total[rows] = sums
    lengths = torch.tensor([len(c) for c in continuations], dtype=torch.float)
    return SequenceScores(log_likelihood=total, num_tokens=lengths)


@torch.inference_mode()
def shared_context_log_likelihood(model: Ernie3Model, context: TokenIds,
                                  continuations: Sequence[TokenIds], *, bos_id: int,
                                  pad_id: int = 0, batch_size: int = 64,
                                  score_context: bool = False) -> SequenceScores:
    """log p(continuations[i] | [bos] + context) for many continuations of ONE context.

    ``score_context=True`` scores the context's own tokens too: log p(context + continuation[i]
    | [bos]) over all of them (the context as kept, see below), the whole filled text ERNIE 3.0
    §4.3 ranks by per-token perplexity; the context's share comes from the same prefill.

    The same numbers as `continuation_log_likelihood` with the context repeated, but the context
    runs once: its keys/values are cached (`model.decoding.prefill`, exact because relative
    attention keys carry no absolute position) and every continuation attends to that cache.
    This is what makes ranking hundreds of cloze candidates affordable on a CPU.
    """
    _check_nonempty(continuations, "continuation")
    longest = max(len(c) for c in continuations)
    prompt = [bos_id, *_fit_context(context, longest, max_len=model.config.max_seq_len)]
    nlg_task = int(TaskType.NLG)
    prompt_ids = torch.tensor([prompt])  # (1, P)
    total = torch.zeros(len(continuations))
    with evaluation_mode(model):
        logits, cache = prefill(model, prompt_ids,
                                task_type_ids=torch.full_like(prompt_ids, nlg_task))
        first_lp = logits[0, -1].log_softmax(dim=-1)  # (V,) for each continuation's first token
        context_lp = logits[0, :-1].log_softmax(dim=-1)[torch.arange(len(prompt) - 1),
                                                         prompt_ids[0, 1:]].sum()  # ()
        order = sorted(range(len(continuations)), key=lambda i: -len(continuations[i]))
        for first in range(0, len(order), batch_size):
            rows = order[first:first + batch_size]
            width = len(continuations[rows[0]])
            ids = torch.full((len(rows), width), pad_id, dtype=torch.long)  # (B, L)
            for b, i in enumerate(rows):
                ids[b, :len(continuations[i])] = torch.tensor(continuations[i])
            lengths = torch.tensor([len(continuations[i]) for i in rows])  # (B,)
            padding = torch.arange(width)[None, :] >= lengths[:, None]  # (B, L) True = pad
            expanded = replace(cache, universal=_expand(cache.universal, len(rows)),
                               nlg=_expand(cache.nlg, len(rows)))
            x = model.embeddings(ids, task_type_ids=torch.full_like(ids, nlg_task))
            uni = model.universal(x, causal=True, kv_cache=expanded.universal,
                                  padding_mask=padding)
            # `nlg_stack`: the NLU stack of a model with ``share_task_modules``
            nlg = model.nlg_stack(model.nlg_projection(uni.hidden), causal=True,
                                  kv_cache=expanded.nlg, padding_mask=padding)
            later_lp = model.lm_logits(nlg.hidden[:, :-1]).log_softmax(dim=-1)  # (B, L-1, V)
            token_lp = torch.cat([first_lp[ids[:, :1]],  # (B, 1)
                                  later_lp.gather(-1, ids[:, 1:, None])[..., 0]], dim=1)  # (B, L)
            total[rows] = token_lp.masked_fill(padding, 0.0).sum(dim=1)
    lengths = torch.tensor([len(c) for c in continuations], dtype=torch.float)
    if score_context:  # the kept context's tokens after [bos], the same for every continuation
        return SequenceScores(log_likelihood=total + context_lp,
                              num_tokens=lengths + (len(prompt) - 1))
    return SequenceScores(log_likelihood=total, num_tokens=lengths)


def best_option(evaluate: Callable[[str], float], options: Sequence[str]) -> tuple[str, dict]:
    """(the option with the highest `evaluate(option)`, first on ties; {option: value}).

    For choosing a setting such as the scoring rule on the *valid* split, so that the test
    split is read once, with the choice already made.
    """
    if not options:
        raise ValueError("no options to choose from")
    results = {option: float(evaluate(option)) for option in options}
    return max(options, key=lambda option: results[option]), results


def _expand(key_values: list[tuple[Tensor, Tensor]], batch: int) -> list[tuple[Tensor, Tensor]]:
    """Per-layer (k, v) of shape (1, H, K, Dh) -> (batch, H, K, Dh) views (no copy)."""
    return [(k.expand(batch, -1, -1, -1), v.expand(batch, -1, -1, -1)) for k, v in key_values]


@torch.inference_mode()
def masked_span_log_likelihood(model: Ernie3Model, left: TokenIds, right: TokenIds,
                               candidates: Sequence[TokenIds], *, cls_id: int, sep_id: int,
                               mask_id: int, pad_id: int = 0) -> SequenceScores:
    """Whole-span masked-LM score of each candidate for the blank between `left` and `right`.

    A candidate of k characters is scored on ``[CLS] left [MASK]*k right [SEP]`` (NLU path, task
    type `TaskType.NLU`): sum over j of log p(c_j at the j-th [MASK]), each character predicted
    independently of the others (see the module doc). Candidates of the same length share one
    input, so the model runs once per distinct length. Contexts too long for
    ``config.max_seq_len`` are cut on their far ends, the same way for every candidate.
    """
    _check_nonempty(candidates, "candidate")
    by_length: dict[int, list[int]] = defaultdict(list)
    for i, cand in enumerate(candidates):
        by_length[len(cand)].append(i)
    budget = model.config.max_seq_len - 2 - max(by_length)
    if budget < 0:
        raise ValueError(f"a {max(by_length)}-token candidate does not fit max_seq_len")
    n_left, n_right = truncate_lengths([len(left), len(right)], budget=budget)
    left, right = list(left[len(left) - n_left:]), list(right[:n_right])
    lengths = sorted(by_length)
    inputs = [[cls_id, *left, *[mask_id] * k, *right, sep_id] for k in lengths]
    width = max(len(seq) for seq in inputs)
    ids = torch.full((len(inputs), width), pad_id, dtype=torch.long)  # (G, T)
    for g, seq in enumerate(inputs):
        ids[g, :len(seq)] = torch.tensor(seq)
    mask = (torch.arange(width)[None, :] < torch.tensor([len(s) for s in inputs])[:, None])
    total = torch.zeros(len(candidates))
    with evaluation_mode(model):
        hidden = model.forward_nlu(ids, attention_mask=mask.long(),
                                   task_type_ids=torch.full_like(ids, int(TaskType.NLU))
                                   ).hidden  # (G, T, d)
        start = 1 + len(left)
        for g, k in enumerate(lengths):
            log_probs = model.mlm_logits(hidden[g, start:start + k]).log_softmax(dim=-1)  # (k, V)
            members = by_length[k]
            cand_ids = torch.tensor([list(candidates[i]) for i in members])  # (n_k, k)
            per_char = log_probs[torch.arange(k)[None, :], cand_ids]  # (n_k, k)
            total[members] = per_char.sum(dim=1)
    num_tokens = torch.tensor([len(c) for c in candidates], dtype=torch.float)
    return SequenceScores(log_likelihood=total, num_tokens=num_tokens)
