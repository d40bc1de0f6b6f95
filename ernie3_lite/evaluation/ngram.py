"""A character n-gram LM with interpolated modified Kneser-Ney smoothing: the counting baseline.

The document LM (ERNIE 3.0 arXiv 2107.02137 §3.2.1) is only worth its compute if it predicts
held-out news better than counting does, so the quality report scores this model on the same
token stream. The smoothing is Chen & Goodman's interpolated modified Kneser-Ney ("An Empirical
Study of Smoothing Techniques for Language Modeling", TR-10-98, 1998, §3 and §4.1.6):

    p_k(w | h) = (max(a_k(h w) - D_k(a), 0) + gamma_k(h) * p_{k-1}(w | h')) / sum_v a_k(h v)
    gamma_k(h) = D_k1 * N1(h .) + D_k2 * N2(h .) + D_k3+ * N3+(h .)

where h' is h without its first token; a_k is the raw count at the highest order and the
continuation count N1+(. g) (how many distinct tokens precede g) below it; D_kr are the three
discounts from the count-of-counts n_r of a_k, Y = n1 / (n1 + 2 n2), D_r = r - (r + 1) Y
n_{r+1} / n_r (clamped to [0, r] so the terms stay a distribution); a context never seen at
order k leaves p_{k-1} as it is. Order 1 is interpolated with the uniform distribution over the
vocabulary, so every token, even one never seen, gets probability > 0 and each p_k sums to 1.

Counts live in sorted numpy arrays of integer codes (an n-gram is one base-B number), so 1.7 M
training tokens at order 5 fit in memory and score in seconds. B is the number of distinct
training ids plus one: every id the training stream never holds shares code 0. That is exact, not
an approximation: an n-gram holding such an id has no count at any order, so every unseen token
gets the same probability whatever its id, as it would with its own code (and the 8,000-entry
poetry vocabulary at order 5 would not fit 63 bits as base-V codes: 8000**5 > 2**63).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def _codes(windows: np.ndarray, vocab_size: int) -> np.ndarray:
    """(Q, k) token ids -> (Q,) int64 base-V codes (k = 0 gives zeros: the empty context)."""
    codes = np.zeros(windows.shape[0], dtype=np.int64)
    for j in range(windows.shape[1]):
        codes = codes * vocab_size + windows[:, j]
    return codes


def _lookup(keys: np.ndarray, values: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """values[keys == q] for each query, 0 where the query is not a key (keys sorted)."""
    index = np.searchsorted(keys, queries).clip(max=max(len(keys) - 1, 0))
    if len(keys) == 0:
        return np.zeros(len(queries), dtype=values.dtype)
    return np.where(keys[index] == queries, values[index], 0)


class KneserNeyLM:
    """Interpolated modified Kneser-Ney LM of `order` over token ids in [0, vocab_size)."""

    def __init__(self, tokens: Sequence[int], *, order: int, vocab_size: int):
        stream = np.asarray(tokens, dtype=np.int64)
        if order < 1:
            raise ValueError(f"order={order} must be >= 1")
        if stream.size < order or stream.min() < 0 or stream.max() >= vocab_size:
            raise ValueError(f"need >= {order} tokens, all in [0, {vocab_size})")
        seen = np.unique(stream)
        self.code_of = np.zeros(vocab_size, dtype=np.int64)  # id -> 1..S, unseen ids -> 0
        self.code_of[seen] = np.arange(1, len(seen) + 1)
        self.base = len(seen) + 1
        if self.base ** order >= 2 ** 63:
            raise ValueError(f"order={order} with {len(seen)} distinct training tokens: "
                             f"{self.base}**{order} codes do not fit 63 bits")
        self.order, self.vocab_size = order, vocab_size
        self.levels: list[dict[str, np.ndarray]] = []
        stream = self.code_of[stream]
        grams = np.lib.stride_tricks.sliding_window_view(stream, order)  # (n, order)
        top_keys, top_counts = np.unique(_codes(grams, self.base), return_counts=True)
        for k in range(1, order + 1):
            if k == order:  # raw counts
                keys, counts = top_keys, top_counts
            else:  # continuation counts: distinct left neighbours of each k-gram
                longer = np.unique(_codes(np.lib.stride_tricks.sliding_window_view(stream, k + 1),
                                          self.base))
                keys, counts = np.unique(longer % self.base ** k, return_counts=True)
            self.levels.append(self._level(keys, counts, k))

    def _level(self, keys: np.ndarray, counts: np.ndarray, k: int) -> dict[str, np.ndarray]:
        n = [int((counts == r).sum()) for r in (1, 2, 3, 4)]
        y = n[0] / (n[0] + 2 * n[1]) if n[0] + 2 * n[1] else 0.0
        discounts = np.array([0.0] + [min(max(r - (r + 1) * y * n[r] / n[r - 1], 0.0), r)
                                      if n[r - 1] else 0.0 for r in (1, 2, 3)])
        discount = discounts[np.minimum(counts, 3)]  # (G,) D(a) of each k-gram
        ctx_keys, first = np.unique(keys // self.base, return_index=True)
        # keys are sorted, so each context's grams are one contiguous run starting at `first`
        return {"keys": keys, "counts": counts.astype(np.float64), "discount": discount,
                "ctx_keys": ctx_keys, "ctx_total": np.add.reduceat(counts, first).astype(float),
                "ctx_gamma": np.add.reduceat(discount, first)}

    def probabilities(self, histories: np.ndarray, lengths: np.ndarray,
                      words: np.ndarray) -> np.ndarray:
        """(Q,) p(words[q] | the last lengths[q] ids of histories[q]); histories (Q, order-1),
        right-aligned (a shorter history's unused left cells are ignored)."""
        windows = self.code_of[np.concatenate([histories, words[:, None]], axis=1)]
        p = np.full(len(words), 1.0 / self.vocab_size)
        for k, level in enumerate(self.levels, start=1):
            context = _codes(windows[:, self.order - k:self.order - 1], self.base)
            total = _lookup(level["ctx_keys"], level["ctx_total"], context)
            gamma = _lookup(level["ctx_keys"], level["ctx_gamma"], context)
            gram = _codes(windows[:, self.order - k:], self.base)
            count = _lookup(level["keys"], level["counts"], gram)
            discount = _lookup(level["keys"], level["discount"], gram)
            seen = (total > 0) & (lengths >= k - 1)
            p = np.where(seen, (count - discount + gamma * p) / np.where(seen, total, 1.0), p)
        return p

    def distribution(self, history: Sequence[int]) -> np.ndarray:
        """(V,) p(w | history) for every token w (uses the last order-1 ids of `history`)."""
        hist = list(history)[len(history) - (self.order - 1):] if self.order > 1 else []
        row = np.zeros(self.order - 1, dtype=np.int64)
        if hist:
            row[self.order - 1 - len(hist):] = hist
        words = np.arange(self.vocab_size)
        return self.probabilities(np.tile(row, (self.vocab_size, 1)),
                                  np.full(self.vocab_size, len(hist)), words)

    def stream_log_probs(self, tokens: Sequence[int]) -> np.ndarray:
        """(N-1,) log p(tokens[i] | tokens[:i]) for i = 1..N-1 (history within the stream)."""
        stream = np.asarray(tokens, dtype=np.int64)
        pad = np.concatenate([np.zeros(self.order - 1, dtype=np.int64), stream])
        windows = np.lib.stride_tricks.sliding_window_view(pad, self.order)[1:]  # (N-1, order)
        lengths = np.minimum(np.arange(1, len(stream)), self.order - 1)
        return np.log(self.probabilities(windows[:, :-1], lengths, windows[:, -1]))

    def perplexity(self, tokens: Sequence[int]) -> float:
        """exp of the mean NLL of tokens[1:] given the stream before each."""
        return math.exp(-float(self.stream_log_probs(tokens).mean()))
