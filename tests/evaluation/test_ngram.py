"""The Kneser-Ney baseline: a distribution over the whole vocabulary, equal to the formula."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest

from ernie3_lite.evaluation.ngram import KneserNeyLM

CORPUS = [1, 2, 3, 1, 2, 4, 1, 2, 3, 3, 2, 1, 4, 4, 1, 2, 3, 1, 5, 2, 2, 3, 1, 2]
V = 8  # ids 0, 6 and 7 never occur


@pytest.mark.parametrize("order", [1, 2, 3, 4])
@pytest.mark.parametrize("history", [[], [1, 2], [3, 1, 2], [7, 6], [0, 0, 0], [2, 2, 7]])
def test_distribution_sums_to_one_for_seen_and_unseen_contexts(order, history):
    p = KneserNeyLM(CORPUS, order=order, vocab_size=V).distribution(history)
    assert p.shape == (V,)
    assert (p > 0).all()
    assert p.sum() == pytest.approx(1.0, abs=1e-12)


def brute_force(corpus, order, vocab_size, history, word):
    """Interpolated modified KN (Chen & Goodman 1998) written out with dicts, recursively."""
    def counts(k):
        grams = Counter(tuple(corpus[i:i + k]) for i in range(len(corpus) - k + 1))
        if k == order:
            return grams
        longer = {tuple(corpus[i:i + k + 1]) for i in range(len(corpus) - k)}
        return Counter(g[1:] for g in longer)

    def discounts(c):
        n = [sum(v == r for v in c.values()) for r in (1, 2, 3, 4)]
        y = n[0] / (n[0] + 2 * n[1])
        return [0.0] + [min(max(r - (r + 1) * y * n[r] / n[r - 1], 0), r) if n[r - 1] else 0
                        for r in (1, 2, 3)]

    def p(k, ctx):
        if k == 0:
            return 1 / vocab_size
        c = counts(k)
        d = discounts(c)
        rows = {g: v for g, v in c.items() if g[:-1] == ctx}
        lower = p(k - 1, ctx[1:])
        if not rows:
            return lower
        total = sum(rows.values())
        gamma = sum(d[min(v, 3)] for v in rows.values())
        a = c.get((*ctx, word), 0)
        return (a - d[min(a, 3)] + gamma * lower) / total

    used = tuple(history[len(history) - (order - 1):]) if order > 1 else ()
    return p(len(used) + 1, used)


@pytest.mark.parametrize("order", [1, 2, 3])
@pytest.mark.parametrize("history", [[1, 2], [3, 1], [2, 2], [5, 2], [6, 1], [4]])
def test_matches_brute_force(order, history):
    lm = KneserNeyLM(CORPUS, order=order, vocab_size=V)
    got = lm.distribution(history)
    want = [brute_force(CORPUS, order, V, history, w) for w in range(V)]
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_stream_scores_equal_the_distributions_and_perplexity():
    lm = KneserNeyLM(CORPUS, order=3, vocab_size=V)
    stream = [1, 2, 3, 6, 1, 2]
    got = lm.stream_log_probs(stream)
    want = [math.log(lm.distribution(stream[:i])[stream[i]]) for i in range(1, len(stream))]
    np.testing.assert_allclose(got, want, rtol=1e-12)
    assert lm.perplexity(stream) == pytest.approx(math.exp(-sum(want) / len(want)))


def test_higher_orders_fit_a_repetitive_text_better():
    text = [1, 2, 3, 4] * 30
    ppl = [KneserNeyLM(text, order=n, vocab_size=V).perplexity(text) for n in (1, 2, 3)]
    # no n-gram occurs once or twice: every discount is 0, the next token all but certain
    assert ppl[0] > 3.9 and ppl[1] < 1.1 and ppl[2] < 1.1


def test_rejects_bad_input():
    with pytest.raises(ValueError):
        KneserNeyLM([1, 9], order=1, vocab_size=V)
    with pytest.raises(ValueError):
        KneserNeyLM(CORPUS, order=30, vocab_size=5275)


def test_order_five_over_the_poetry_vocabulary_fits_and_ignores_how_ids_are_numbered():
    """8000**5 > 2**63: codes count the training stream's distinct ids, not the vocabulary;
    the same text under another numbering of an 8,000 vocabulary scores the same."""
    spread = {i: 1000 * i + 7 for i in range(V)}  # ids up to 7,007
    big = KneserNeyLM([spread[t] for t in CORPUS], order=5, vocab_size=8000)
    small = KneserNeyLM(CORPUS, order=5, vocab_size=8000)
    held_out = [1, 2, 3, 7, 1, 2, 6, 4, 4, 1, 0, 2]  # 0, 6 and 7 never seen in training
    assert big.distribution([spread[t] for t in [3, 1, 2]]).sum() == pytest.approx(1.0, abs=1e-12)
    assert big.perplexity([spread[t] for t in held_out]) == pytest.approx(
        small.perplexity(held_out), rel=1e-12)
