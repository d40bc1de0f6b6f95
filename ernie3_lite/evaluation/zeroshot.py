"""Zero-shot text classification by perplexity ranking (ERNIE 3.0 arXiv 2107.02137 §4.3).

For classification ERNIE 3.0 maps every label to a meaningful name and ranks the texts filled
with each name by per-token perplexity, as CPM and PanGu-alpha do. Here: the NLG network reads
``[SEP] text`` once and then each label's *verbalisation*, a short label word (好评 / 差评); the
label with the highest mean log-probability (lowest per-token perplexity) wins. ``score`` says
over which tokens: ``"filled"`` (default, the paper's) the whole filled text ``text + word``,
``"continuation"`` the word alone. Label words of different lengths (满意 / 不满意) can rank
differently under the two; `choose_score` picks one on the valid split. A `Verbalizer` is a set
of label words, not corpus text.

``calibrate=True`` removes each label word's context-free log-probability
``log p(word | [SEP])`` from the scored log-likelihood before dividing by the tokens scored:
(log p(filled) - log p(word)) / n. For ``"continuation"`` that is the word's mean given the
text minus its mean without. A per-label bias correction in the spirit of contextual
calibration (Zhao et al. 2021, arXiv 2102.09690, who estimate the bias from a content-free
input) and of domain-conditional PMI (Holtzman et al. 2021, arXiv 2104.08315). Without it a
model that simply prefers one word predicts one class.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor

from ernie3_lite.data.formats import ClassificationExample
from ernie3_lite.evaluation.scoring import (
    SequenceScores,
    best_option,
    shared_context_log_likelihood,
)

SCORES = ("filled", "continuation")


@dataclass(frozen=True)
class Verbalizer:
    """label (as written in the data file) -> the label word the model scores."""

    name: str
    words: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self):
        if len(self.words) < 2 or not all(self.words.values()):
            raise ValueError(f"verbalizer {self.name!r} needs >= 2 labels with non-empty words")


#: label words for the review sentiment set (1 = positive, 0 = negative), reported side by side
REVIEW_VERBALIZERS: tuple[Verbalizer, ...] = (
    Verbalizer("好评/差评", {"1": "好评", "0": "差评"}),
    Verbalizer("满意/不满意", {"1": "满意", "0": "不满意"}),
    Verbalizer("好/差", {"1": "好", "0": "差"}),
    Verbalizer("推荐/不推荐", {"1": "推荐", "0": "不推荐"}),
)


def _words(verbalizer: Verbalizer | Mapping[str, str]) -> Mapping[str, str]:
    return verbalizer.words if isinstance(verbalizer, Verbalizer) else verbalizer


def label_log_likelihoods(model, tokenizer, texts: Sequence[str],
                          verbalizer: Verbalizer | Mapping[str, str], *,
                          score: str = "filled") -> tuple[list[str], SequenceScores]:
    """(labels, log-likelihoods and token counts (N, L)) of each label word after each text,
    with the text's own tokens included for ``score="filled"``.

    Texts too long for the model lose their first characters (the end, next to the label word,
    is kept), the same ones for every label word: as many are kept as fit the longest word.
    """
    if score not in SCORES:
        raise ValueError(f"score={score!r} must be one of {SCORES}")
    words = _words(verbalizer)
    labels = list(words)
    word_ids = [tokenizer.encode(words[label]) for label in labels]
    # one text, every label word: the text runs once and the words share its cached keys/values
    # only the end can fit beside a label word: a 50 MB review is not tokenized whole
    keep = model.config.max_seq_len
    per_text = [shared_context_log_likelihood(model, tokenizer.encode_tail(text, keep), word_ids,
                                              bos_id=tokenizer.sep_id, pad_id=tokenizer.pad_id,
                                              score_context=score == "filled")
                for text in texts]
    return labels, SequenceScores(torch.stack([s.log_likelihood for s in per_text]),
                                  torch.stack([s.num_tokens for s in per_text]))  # (N, L) each


def label_scores(model, tokenizer, texts: Sequence[str],
                 verbalizer: Verbalizer | Mapping[str, str], *, calibrate: bool = False,
                 score: str = "filled") -> tuple[list[str], Tensor]:
    """(labels, scores (N, L)): mean log-probability per scored token (see module doc)."""
    labels, scores = label_log_likelihoods(model, tokenizer, texts, verbalizer, score=score)
    if calibrate:
        return labels, calibrated_scores(scores, context_free_log_likelihood(
            model, tokenizer, verbalizer))
    return labels, scores.mean()


def calibrated_scores(scores: SequenceScores, free: SequenceScores) -> Tensor:
    """(N, L): (log-likelihood - the word's context-free log-likelihood) / tokens scored."""
    return (scores.log_likelihood - free.log_likelihood[None, :]) / scores.num_tokens


def context_free_log_likelihood(model, tokenizer,
                                verbalizer: Verbalizer | Mapping[str, str]) -> SequenceScores:
    """(L,) log-probability of each label word right after [SEP], with no text."""
    word_ids = [tokenizer.encode(word) for word in _words(verbalizer).values()]
    return shared_context_log_likelihood(model, [], word_ids, bos_id=tokenizer.sep_id,
                                         pad_id=tokenizer.pad_id)


def context_free_scores(model, tokenizer, verbalizer: Verbalizer | Mapping[str, str]) -> Tensor:
    """(L,) mean log-probability of each label word right after [SEP], with no text."""
    return context_free_log_likelihood(model, tokenizer, verbalizer).mean()


def zero_shot_classify(model, tokenizer, texts: Sequence[str],
                       verbalizers: Verbalizer | Mapping[str, str], *,
                       calibrate: bool = False, score: str = "filled") -> list[str]:
    """The predicted label of each text: the argmax of `label_scores` (first label on ties)."""
    labels, scores = label_scores(model, tokenizer, texts, verbalizers, calibrate=calibrate,
                                  score=score)
    return [labels[i] for i in scores.argmax(dim=1).tolist()]


def accuracy_report(labels: Sequence[str], scores: Tensor, gold: Sequence[str]) -> dict:
    """{"accuracy", "chance" (1 / labels), "majority" (most frequent gold label's share), "n",
    "predicted" (counts per label)} for (N, L) `scores` over `labels` and the gold labels."""
    if not gold:
        raise ValueError("no examples to evaluate")
    unknown = set(gold) - set(labels)
    if unknown:
        raise ValueError(f"labels {sorted(unknown)} have no word in the verbalizer")
    predicted = [labels[i] for i in scores.argmax(dim=1).tolist()]
    n = len(gold)
    return {
        "accuracy": sum(p == g for p, g in zip(predicted, gold, strict=True)) / n,
        "chance": 1 / len(labels),
        "majority": max(Counter(gold).values()) / n,
        "n": n,
        "predicted": {label: predicted.count(label) for label in labels},
    }


def evaluate_zero_shot(model, tokenizer, examples: Sequence[ClassificationExample],
                       verbalizers: Verbalizer | Mapping[str, str], *,
                       calibrate: bool = False, score: str = "filled") -> dict:
    """`accuracy_report` of zero-shot predictions on labelled `examples`."""
    labels, scores = label_scores(model, tokenizer, [ex.text for ex in examples], verbalizers,
                                  calibrate=calibrate, score=score)
    return {**accuracy_report(labels, scores, [ex.label for ex in examples]), "score": score}


def choose_score(model, tokenizer, valid_examples: Sequence[ClassificationExample],
                 verbalizer: Verbalizer | Mapping[str, str], *,
                 calibrate: bool = False) -> tuple[str, dict[str, float]]:
    """("filled" or "continuation", {score: accuracy}): the rule with the higher accuracy on
    the *valid* examples (the paper's "filled" on ties), to use on test."""
    return best_option(lambda score: evaluate_zero_shot(
        model, tokenizer, valid_examples, verbalizer, calibrate=calibrate,
        score=score)["accuracy"], SCORES)
