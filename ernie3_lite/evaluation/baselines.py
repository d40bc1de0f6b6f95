"""Classical baselines for the fine-tuning tasks, trained on the same splits as the model.

A number from a fine-tuned ERNIE means little alone; these say what counting and linear models
get on the very same train / valid / test files (the quality report prints them side by side):

* sentiment: the majority class, and TF-IDF over character 1-3-grams + logistic regression
  (scikit-learn), the standard strong linear text classifier (e.g. Wang & Manning 2012, ACL,
  "Baselines and Bigrams");
* NER: every token `O` (span F1 0, the floor), and a linear-chain CRF (Lafferty et al. 2001)
  over characters at offsets -2..+2 and the character bigrams around each position, trained by
  L-BFGS with elastic-net regularisation (CRFsuite through sklearn-crfsuite);
* headlines: the first k characters of the body (lead-k, k chosen on valid) and the body's
  first sentence, scored with the same character ROUGE-L as the model.

Regularisation strengths and k are chosen on valid; test is scored once, for the chosen one.
scikit-learn and sklearn-crfsuite are the optional ``baselines`` extra (`require`).
"""

from __future__ import annotations

import importlib
from collections import Counter
from collections.abc import Sequence

from ernie3_lite.data.formats import ClassificationExample, NerSentence, NewsDocument
from ernie3_lite.data.peoples_daily import split_sentences
from ernie3_lite.finetune.metrics import accuracy, mean_rouge_l, span_scores
from ernie3_lite.tokenization import normalize

EXTRA_HINT = "pip install -e '.[baselines]' (scikit-learn, sklearn-crfsuite)"


def require(module: str):
    """Import `module` of the baselines extra, or fail saying what to install."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ImportError(f"the classical baselines need {module!r}: {EXTRA_HINT}") from error


def _choose(scores: dict) -> object:
    """The setting with the best valid score (the first on ties)."""
    return max(scores, key=lambda key: scores[key])


# ---- sentiment ----------------------------------------------------------------------------------
def majority_class(train: Sequence[ClassificationExample],
                   test: Sequence[ClassificationExample]) -> dict:
    """Accuracy of always answering the most frequent training label."""
    label = Counter(ex.label for ex in train).most_common(1)[0][0]
    return {"test": accuracy([label] * len(test), [ex.label for ex in test]), "label": label}


def tfidf_logistic_regression(train: Sequence[ClassificationExample],
                              valid: Sequence[ClassificationExample],
                              test: Sequence[ClassificationExample], *,
                              grid: Sequence[float] = (0.3, 1.0, 3.0, 10.0)) -> dict:
    """TF-IDF of character 1-3-grams (sublinear tf) + L2 logistic regression; C chosen on valid."""
    text = require("sklearn.feature_extraction.text")
    linear = require("sklearn.linear_model")

    def texts(examples):
        return [ex.text if ex.text_b is None else f"{ex.text} {ex.text_b}" for ex in examples]

    vectorizer = text.TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True,
                                      min_df=2)
    x_train = vectorizer.fit_transform(texts(train))
    x_valid, y_train = vectorizer.transform(texts(valid)), [ex.label for ex in train]
    models, valid_acc = {}, {}
    for c in grid:
        models[c] = linear.LogisticRegression(C=c, max_iter=2000).fit(x_train, y_train)
        valid_acc[c] = accuracy(list(models[c].predict(x_valid)), [ex.label for ex in valid])
    best = _choose(valid_acc)
    predicted = list(models[best].predict(vectorizer.transform(texts(test))))
    return {"test": accuracy(predicted, [ex.label for ex in test]), "valid": valid_acc[best],
            "C": best, "n": len(test)}


# ---- NER ----------------------------------------------------------------------------------------
def char_features(tokens: Sequence[str]) -> list[dict[str, str | bool]]:
    """CRF features of each position: characters at -2..+2 and the bigrams -1/0 and 0/+1."""
    chars = ["<s>", "<s>", *(normalize(t) or t for t in tokens), "</s>", "</s>"]
    out = []
    for i in range(2, len(chars) - 2):
        out.append({"bias": True, **{f"c[{d}]": chars[i + d] for d in (-2, -1, 0, 1, 2)},
                    "c[-1:0]": chars[i - 1] + chars[i], "c[0:1]": chars[i] + chars[i + 1]})
    return out


def all_outside(test: Sequence[NerSentence]) -> dict:
    """Span F1 of tagging every token `O`: no span predicted, F1 0 (the floor)."""
    gold = [s.tags for s in test]
    return {"test": span_scores(gold, [["O"] * len(t) for t in gold]).f1}


def crf_tagger(train: Sequence[NerSentence], valid: Sequence[NerSentence],
               test: Sequence[NerSentence], *,
               grid: Sequence[tuple[float, float]] = ((0.05, 0.05),),
               max_iterations: int = 100) -> dict:
    """Linear-chain CRF on `char_features`; (c1, c2) chosen on valid span F1."""
    crfsuite = require("sklearn_crfsuite")
    x_train = [char_features(s.tokens) for s in train]
    y_train = [list(s.tags) for s in train]
    x_valid, gold_valid = [char_features(s.tokens) for s in valid], [s.tags for s in valid]
    models, valid_f1 = {}, {}
    for c1, c2 in grid:
        model = crfsuite.CRF(algorithm="lbfgs", c1=c1, c2=c2, max_iterations=max_iterations,
                             all_possible_transitions=True)
        models[(c1, c2)] = model.fit(x_train, y_train)
        valid_f1[(c1, c2)] = span_scores(gold_valid, model.predict(x_valid)).f1
    best = _choose(valid_f1)
    predicted = models[best].predict([char_features(s.tokens) for s in test])
    return {"test": span_scores([s.tags for s in test], predicted).f1, "valid": valid_f1[best],
            "c1_c2": list(best)}


# ---- headlines ----------------------------------------------------------------------------------
def body(document: NewsDocument) -> str:
    """The article text a headline is written from (as `headline_example` joins it)."""
    return "".join(document.paragraphs)


def first_sentence(text: str) -> str:
    """The first sentence of `text` (up to 。!? or the end)."""
    spans = split_sentences(normalize(text))
    return normalize(text)[spans[0][0]:spans[0][1]].strip() if spans else ""


def lead_baselines(valid: Sequence[NewsDocument], test: Sequence[NewsDocument], *,
                   ks: Sequence[int] = (8, 12, 16, 20, 25, 30, 40, 50, 60)) -> dict:
    """ROUGE-L of lead-k (k chosen on valid) and of the first sentence, on test."""
    def lead(docs, k):
        return mean_rouge_l([normalize(body(d))[:k] for d in docs], [d.headline for d in docs])

    valid_scores = {k: lead(valid, k) for k in ks}
    k = _choose(valid_scores)
    sentences = [first_sentence(body(d)) for d in test]
    return {"lead_k": {"test": lead(test, k), "valid": valid_scores[k], "k": k},
            "first_sentence": {"test": mean_rouge_l(sentences, [d.headline for d in test])}}
