"""Zero-shot classification: label scores against the batched scorer, argmax, calibration."""

from __future__ import annotations

from collections import Counter

import pytest
import torch

from ernie3_lite import DATA_SAMPLES
from ernie3_lite.data.formats import read_classification
from ernie3_lite.evaluation.scoring import continuation_log_likelihood
from ernie3_lite.evaluation.zeroshot import (
    REVIEW_VERBALIZERS,
    Verbalizer,
    accuracy_report,
    context_free_scores,
    evaluate_zero_shot,
    label_scores,
    zero_shot_classify,
)

EXAMPLES = read_classification(DATA_SAMPLES / "reviews" / "test.tsv")[:6]
TEXTS = [ex.text for ex in EXAMPLES]
VERBALIZER = REVIEW_VERBALIZERS[1]  # label words of different lengths: 满意 / 不满意


def by_hand(model, tokenizer, text: str, word: str) -> float:
    """Mean log-probability of `word` after ``[SEP] text``, through the generic batched path.

    A long text keeps the same last characters for every label word: as many as fit next to
    the LONGEST word of the verbaliser (3 tokens).
    """
    keep = model.config.max_seq_len - 1 - 3
    text_ids = tokenizer.encode(text)[-keep:]
    scores = continuation_log_likelihood(model, [text_ids], [tokenizer.encode(word)],
                                         bos_id=tokenizer.sep_id)
    return scores.mean().item()


def test_label_scores_are_mean_log_probs_of_each_label_word(random_model, tokenizer):
    """score="continuation"; the default "filled" is tested in test_filled_score.py."""
    assert max(len(tokenizer.encode(t)) for t in TEXTS) > random_model.config.max_seq_len
    labels, scores = label_scores(random_model, tokenizer, TEXTS, VERBALIZER,
                                  score="continuation")
    assert labels == list(VERBALIZER.words) and scores.shape == (len(TEXTS), 2)
    expected = torch.tensor([[by_hand(random_model, tokenizer, t, VERBALIZER.words[label])
                              for label in labels] for t in TEXTS])
    torch.testing.assert_close(scores, expected, rtol=0, atol=1e-4)


def test_prediction_is_the_argmax_and_calibration_subtracts_the_context_free_score(
        random_model, tokenizer):
    cont = {"score": "continuation"}
    labels, raw = label_scores(random_model, tokenizer, TEXTS, VERBALIZER, **cont)
    predicted = zero_shot_classify(random_model, tokenizer, TEXTS, VERBALIZER, **cont)
    assert predicted == [labels[int(row.argmax())] for row in raw]
    free = torch.tensor([by_hand(random_model, tokenizer, "", VERBALIZER.words[label])
                         for label in labels])
    torch.testing.assert_close(context_free_scores(random_model, tokenizer, VERBALIZER), free,
                               rtol=0, atol=1e-4)
    _, calibrated = label_scores(random_model, tokenizer, TEXTS, VERBALIZER, calibrate=True,
                                 **cont)
    torch.testing.assert_close(calibrated, raw - free[None, :], rtol=0, atol=1e-4)
    assert zero_shot_classify(random_model, tokenizer, TEXTS, VERBALIZER, calibrate=True,
                              **cont) == [
        labels[int(row.argmax())] for row in calibrated]


def test_accuracy_report_by_hand():
    scores = torch.tensor([[0.0, 1.0], [2.0, 1.0], [0.5, 0.4], [0.0, 3.0]])  # -> "0", "1", "1", "0"
    report = accuracy_report(["1", "0"], scores, ["0", "1", "0", "0"])
    assert report == {"accuracy": 0.75, "chance": 0.5, "majority": 0.75, "n": 4,
                      "predicted": {"1": 2, "0": 2}}
    with pytest.raises(ValueError, match="no word"):
        accuracy_report(["1", "0"], scores, ["0", "1", "2", "0"])


def test_evaluate_zero_shot_on_real_reviews(random_model, tokenizer):
    report = evaluate_zero_shot(random_model, tokenizer, EXAMPLES, {"1": "好评", "0": "差评"})
    gold = Counter(ex.label for ex in EXAMPLES)
    assert report["n"] == 6 and report["chance"] == 0.5
    assert report["majority"] == max(gold.values()) / 6
    assert sum(report["predicted"].values()) == 6


def test_a_verbalizer_needs_two_label_words():
    with pytest.raises(ValueError):
        Verbalizer("one", {"1": "好评"})
    assert all(len(v.words) == 2 and set(v.words) == {"0", "1"} for v in REVIEW_VERBALIZERS)
