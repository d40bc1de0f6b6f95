"""Zero-shot and cloze rank by the per-token perplexity of the whole filled text (issue 13).

ERNIE 3.0 §4.3 picks "the lowest per-token perplexity" of each filled text; the scorers once
averaged over the continuation only. ``score="filled"`` must equal a brute-force per-token
perplexity of the whole text from a plain loop over `forward_nlg`, and with candidates of
different lengths the two rules must be able to disagree.
"""

from __future__ import annotations

import pytest
import torch

from ernie3_lite.data.formats import ClassificationExample
from ernie3_lite.evaluation import cloze, zeroshot
from ernie3_lite.evaluation.cloze import ClozeQuery, score_cloze
from ernie3_lite.evaluation.scoring import best_option
from ernie3_lite.evaluation.zeroshot import label_scores

LEFTS = ["据新华社报道,今年我国经济增长", "北京市人民政府今天宣布", "他说这件事情", "中国的首都是",
         "记者从有关部门了解到", "这家店的服务"]
CANDIDATES = ("很快", "非常迅速地", "好", "不太理想的")
RIGHTS = ["。", "了。", "。", "。", ",", "。"]


@torch.no_grad()
def brute_force_mean_log_prob(model, tokenizer, text: str) -> float:
    """Mean log p(x_t | [SEP] x_<t) over every token of `text`: one plain forward_nlg."""
    ids = torch.tensor([[tokenizer.sep_id, *tokenizer.encode(text)]])  # (1, 1 + n)
    logits = model.lm_logits(model.forward_nlg(ids, mem_len=0).hidden)  # (1, 1 + n, V)
    log_probs = logits[0, :-1].log_softmax(-1)  # (n, V): position t predicts token t + 1
    return float(log_probs[torch.arange(ids.size(1) - 1), ids[0, 1:]].mean())


def queries() -> list[ClozeQuery]:
    return [ClozeQuery(left, right, CANDIDATES, gold=0) for left, right in zip(LEFTS, RIGHTS,
                                                                               strict=True)]


def test_filled_cloze_score_is_the_whole_texts_per_token_log_prob(random_model, tokenizer):
    for query in queries()[:3]:
        scores = score_cloze(random_model, tokenizer, query, scorer="nlg")  # default: filled
        brute = [brute_force_mean_log_prob(random_model, tokenizer, query.filled(i))
                 for i in range(len(query.candidates))]
        torch.testing.assert_close(scores, torch.tensor(brute), rtol=0, atol=1e-4)
        assert torch.equal(scores, score_cloze(random_model, tokenizer, query, scorer="nlg",
                                               score="filled"))


def test_filled_label_score_is_the_whole_texts_per_token_log_prob(random_model, tokenizer):
    words = {"1": "满意", "0": "不满意"}
    texts = LEFTS[:3]
    labels, scores = label_scores(random_model, tokenizer, texts, words)  # default: filled
    brute = [[brute_force_mean_log_prob(random_model, tokenizer, text + words[label])
              for label in labels] for text in texts]
    torch.testing.assert_close(scores, torch.tensor(brute), rtol=0, atol=1e-4)


def test_with_candidates_of_different_lengths_the_two_rankings_can_disagree(random_model,
                                                                           tokenizer):
    disagree = 0
    for query in queries():
        filled = score_cloze(random_model, tokenizer, query, scorer="nlg", score="filled")
        cont = score_cloze(random_model, tokenizer, query, scorer="nlg", score="continuation")
        disagree += filled.argmax() != cont.argmax()
        # both rank equal-length fillers alike: the left context is a shared constant
        same = score_cloze(random_model, tokenizer, ClozeQuery(query.left, query.right,
                                                               ("很快", "很慢"), 0), score="filled")
        same_c = score_cloze(random_model, tokenizer, ClozeQuery(query.left, query.right,
                                                                 ("很快", "很慢"), 0),
                             score="continuation")
        assert same.argmax() == same_c.argmax()
    assert disagree >= 1


def test_calibrated_filled_score_removes_the_word_prior_before_normalising(random_model,
                                                                          tokenizer):
    words = {"1": "好评", "0": "不满意"}
    text = LEFTS[0]
    labels, calibrated = label_scores(random_model, tokenizer, [text], words, calibrate=True)
    free = zeroshot.context_free_log_likelihood(random_model, tokenizer, words)
    for j, label in enumerate(labels):
        n = len(tokenizer.encode(text + words[label]))
        whole = brute_force_mean_log_prob(random_model, tokenizer, text + words[label]) * n
        expected = (whole - float(free.log_likelihood[j])) / n
        assert float(calibrated[0, j]) == pytest.approx(expected, abs=1e-4)
    _, cont = label_scores(random_model, tokenizer, [text], words, calibrate=True,
                           score="continuation")
    _, raw = label_scores(random_model, tokenizer, [text], words, score="continuation")
    torch.testing.assert_close(cont, raw - zeroshot.context_free_scores(
        random_model, tokenizer, words)[None, :], rtol=0, atol=1e-5)


def test_an_unknown_score_is_refused(random_model, tokenizer):
    with pytest.raises(ValueError, match="score"):
        score_cloze(random_model, tokenizer, queries()[0], score="whole")
    with pytest.raises(ValueError, match="score"):
        label_scores(random_model, tokenizer, ["好"], {"1": "好", "0": "差"}, score="whole")


def test_best_option_takes_the_highest_and_the_first_on_ties():
    assert best_option({"a": 0.5, "b": 0.7}.get, ["a", "b"]) == ("b", {"a": 0.5, "b": 0.7})
    assert best_option(lambda _: 0.5, ["filled", "continuation"])[0] == "filled"
    with pytest.raises(ValueError):
        best_option(lambda _: 0.0, [])


def test_choose_score_on_valid_returns_the_rule_with_the_better_valid_result(random_model,
                                                                            tokenizer):
    valid = queries()
    best, results = cloze.choose_score(random_model, tokenizer, valid)
    assert set(results) == {"filled", "continuation"}
    for score, acc in results.items():
        assert acc == cloze.evaluate_cloze(random_model, tokenizer, valid, ks=(1,),
                                           score=score)["overall"]["acc@1"]
    assert results[best] == max(results.values())
    examples = [ClassificationExample(text=t, label=str(k % 2)) for k, t in enumerate(LEFTS)]
    words = {"1": "满意", "0": "不满意"}
    best, results = zeroshot.choose_score(random_model, tokenizer, examples, words)
    for score, acc in results.items():
        assert acc == zeroshot.evaluate_zero_shot(random_model, tokenizer, examples, words,
                                                  score=score)["accuracy"]
    assert results[best] == max(results.values())
