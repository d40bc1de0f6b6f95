"""The zero-shot scorers against brute force, and batching/padding invariance."""

from __future__ import annotations

import pytest
import torch

from ernie3_lite.config import Ernie3Config
from ernie3_lite.data.collate import TaskType
from ernie3_lite.evaluation.scoring import (
    SequenceScores,
    continuation_log_likelihood,
    masked_span_log_likelihood,
    shared_context_log_likelihood,
)
from ernie3_lite.model.ernie3 import Ernie3Model

BOS, CLS, SEP, MASK = 2, 1, 2, 3
NARROW = {"nlg": {"d_model": 16, "n_head": 2, "d_inner": 24}}  # a projection on the NLG path


def make_model() -> Ernie3Model:
    """Random `test` model in TRAIN mode with dropout: the scorers must switch dropout off."""
    torch.manual_seed(0)
    config = Ernie3Config.from_name("test", max_seq_len=24, dropout=0.1, init_std=0.3, **NARROW)
    return Ernie3Model(config).train()


def ids(n: int, seed: int) -> list[int]:
    return torch.randint(4, 100, (n,), generator=torch.Generator().manual_seed(seed)).tolist()


def brute_force_nlg(model, context: list[int], continuation: list[int]) -> float:
    """One sequence, full forward, log_softmax gathered token by token."""
    model.eval()
    seq = torch.tensor([[BOS, *context, *continuation]])
    with torch.no_grad():
        hidden = model.forward_nlg(seq, task_type_ids=torch.full_like(seq, int(TaskType.NLG)))
        log_probs = torch.log_softmax(model.lm_logits(hidden.hidden)[0], dim=-1)  # (T, V)
    start = 1 + len(context)
    return sum(log_probs[t - 1, seq[0, t]].item() for t in range(start, seq.size(1)))


def brute_force_mlm(model, left, right, candidate) -> float:
    model.eval()
    seq = torch.tensor([[CLS, *left, *[MASK] * len(candidate), *right, SEP]])
    with torch.no_grad():
        hidden = model.forward_nlu(seq, task_type_ids=torch.full_like(seq, int(TaskType.NLU)))
        log_probs = torch.log_softmax(model.mlm_logits(hidden.hidden)[0], dim=-1)
    return sum(log_probs[1 + len(left) + j, c].item() for j, c in enumerate(candidate))


CASES = [(ids(5, 1), ids(3, 2)), (ids(2, 3), ids(1, 4)), (ids(9, 5), ids(6, 6)),
         (ids(1, 7), ids(4, 8)), (ids(7, 9), ids(2, 10))]


def test_continuation_score_equals_hand_gathered_log_softmax():
    model = make_model()
    contexts, continuations = zip(*CASES, strict=True)
    scores = continuation_log_likelihood(model, contexts, continuations, bos_id=BOS, batch_size=3)
    expected = torch.tensor([brute_force_nlg(model, c, x) for c, x in CASES])
    torch.testing.assert_close(scores.log_likelihood, expected, rtol=0, atol=1e-4)
    assert scores.num_tokens.tolist() == [len(x) for _, x in CASES]


def test_batched_continuation_scores_equal_one_by_one_and_restore_train_mode():
    model = make_model()
    contexts, continuations = zip(*CASES, strict=True)
    batched = continuation_log_likelihood(model, contexts, continuations, bos_id=BOS)
    assert model.training  # restored after scoring
    alone = torch.cat([continuation_log_likelihood(model, [c], [x], bos_id=BOS).log_likelihood
                       for c, x in CASES])
    torch.testing.assert_close(batched.log_likelihood, alone, rtol=0, atol=1e-5)


def test_shared_context_scores_equal_the_full_forward():
    model = make_model()
    context, candidates = ids(6, 11), [ids(n, 20 + n) for n in (1, 4, 2, 4, 3)]
    scores = shared_context_log_likelihood(model, context, candidates, bos_id=BOS, batch_size=2)
    expected = torch.tensor([brute_force_nlg(model, context, c) for c in candidates])
    torch.testing.assert_close(scores.log_likelihood, expected, rtol=0, atol=1e-4)


def test_long_context_is_cut_on_the_left_to_fit_max_seq_len():
    model = make_model()  # max_seq_len 24
    context, continuation = ids(40, 12), ids(5, 13)
    kept = context[-(24 - 1 - 5):]
    score = continuation_log_likelihood(model, [context], [continuation], bos_id=BOS)
    shared = shared_context_log_likelihood(model, context, [continuation], bos_id=BOS)
    expected = brute_force_nlg(model, kept, continuation)
    assert score.log_likelihood.item() == pytest.approx(expected, abs=1e-4)
    assert shared.log_likelihood.item() == pytest.approx(expected, abs=1e-4)
    with pytest.raises(ValueError, match="does not fit"):
        continuation_log_likelihood(model, [context], [ids(24, 14)], bos_id=BOS)


def test_masked_span_score_equals_brute_force_per_candidate():
    model = make_model()
    left, right = ids(5, 30), ids(4, 31)
    candidates = [ids(2, 32), ids(3, 33), ids(2, 34), ids(1, 35)]
    scores = masked_span_log_likelihood(model, left, right, candidates,
                                        cls_id=CLS, sep_id=SEP, mask_id=MASK)
    expected = torch.tensor([brute_force_mlm(model, left, right, c) for c in candidates])
    torch.testing.assert_close(scores.log_likelihood, expected, rtol=0, atol=1e-4)
    alone = torch.cat([masked_span_log_likelihood(model, left, right, [c], cls_id=CLS,
                                                  sep_id=SEP, mask_id=MASK).log_likelihood
                       for c in candidates])  # one length per call: no padding at all
    torch.testing.assert_close(scores.log_likelihood, alone, rtol=0, atol=1e-5)


def test_mean_and_perplexity_are_per_token():
    scores = SequenceScores(torch.tensor([-6.0, -2.0]), torch.tensor([3.0, 1.0]))
    assert scores.mean().tolist() == [-2.0, -2.0]
    torch.testing.assert_close(scores.perplexity(), torch.exp(torch.tensor([2.0, 2.0])))
    assert scores.ranking_score(normalize=False).tolist() == [-6.0, -2.0]


def test_empty_continuation_is_rejected():
    with pytest.raises(ValueError, match="at least one token"):
        continuation_log_likelihood(make_model(), [[5]], [[]], bos_id=BOS)
