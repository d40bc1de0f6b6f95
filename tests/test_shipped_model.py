"""The shipped pre-trained `nano` model loads safely and has learned something real."""

from __future__ import annotations

import json

import pytest
import torch

from ernie3_lite import DATA_SAMPLES, PRETRAINED_NANO
from ernie3_lite.data.corpus import PretrainingCorpus
from ernie3_lite.evaluation.heldout import dlm_perplexity, dlm_stream
from ernie3_lite.evaluation.ngram import KneserNeyLM
from ernie3_lite.model.ernie3 import Ernie3Model
from ernie3_lite.tokenization import CharTokenizer
from ernie3_lite.training.evaluate import masked_lm_accuracy

# Measured at export on data_samples' valid split (see the docstrings): the thresholds keep
# a margin below what the shipped model reaches, far above what an untrained one does.
MLM_MIN = 0.02
DLM_PPL_MAX = 85.0


@pytest.fixture(scope="module")
def tokenizer() -> CharTokenizer:
    return CharTokenizer.from_file(PRETRAINED_NANO / "vocab.txt")


@pytest.fixture(scope="module")
def model() -> Ernie3Model:
    return Ernie3Model.from_pretrained(PRETRAINED_NANO).eval()


def test_files_are_small_and_documented():
    files = {p.name: p.stat().st_size for p in PRETRAINED_NANO.iterdir()}
    assert {"model.safetensors", "config.json", "vocab.txt", "training.json"} <= set(files)
    assert files["model.safetensors"] <= 15 * 2**20
    info = json.loads((PRETRAINED_NANO / "training.json").read_text(encoding="utf-8"))
    assert info["command"].startswith("python -m ernie3_lite.training.ship train")
    assert info["steps"] > 0 and "train/kmlm_loss" in info["final_losses"]
    assert info["vocab"] == "vocab_poetry.txt"


def test_vocabulary_is_the_poetry_one(model, tokenizer):
    """Pre-trained with poetry (issue 13): the vocabulary built over news + reviews + poetry."""
    assert (PRETRAINED_NANO / "vocab.txt").read_bytes() == \
        (DATA_SAMPLES / "vocab_poetry.txt").read_bytes()
    assert model.config.vocab_size == tokenizer.vocab_size == 8000


def test_masked_lm_beats_an_untrained_model(model, tokenizer):
    """Measured at export: 0.029 against 0.001 for an untrained model (4 batches of
    data_samples valid). The previous shipped model scored 0.067: the retraining gave the
    document LM most of each step's tokens (benchmarks/README.md, recipe study), and the
    masked LM learned less in the hours spent (0.016 after the first 2,674 steps with 2 NLU
    rows per task, 0.029 after 1,200 more with 4)."""
    corpus = PretrainingCorpus(DATA_SAMPLES, split="valid", tokenizer=tokenizer)
    torch.manual_seed(0)
    untrained = Ernie3Model(model.config).eval()
    acc_trained = masked_lm_accuracy(model, corpus, max_batches=4)
    acc_untrained = masked_lm_accuracy(untrained, corpus, max_batches=4)
    assert acc_untrained < 0.005  # chance over 8,000 tokens
    assert acc_trained > MLM_MIN and acc_trained > 10 * acc_untrained, (acc_trained,
                                                                        acc_untrained)


def test_document_lm_beats_counting_on_the_same_sample(model, tokenizer):
    """Measured at export: perplexity 67 on data_samples' valid news stream, where character
    Kneser-Ney 3- and 5-gram models of data_samples' train stream score 192 and 189 (the quality
    report compares with counts of the full train split: benchmarks/results/quality.md)."""
    valid = dlm_stream(DATA_SAMPLES, "valid", tokenizer)
    train = dlm_stream(DATA_SAMPLES, "train", tokenizer)
    ppl = dlm_perplexity(model, valid)["ppl"]
    counts = KneserNeyLM(train, order=3, vocab_size=tokenizer.vocab_size).perplexity(valid)
    assert ppl < DLM_PPL_MAX and ppl < 0.6 * counts, (ppl, counts)
