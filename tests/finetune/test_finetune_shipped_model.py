"""Fine-tuning the shipped pre-trained `nano` (ernie3_lite/pretrained/nano).

The shipped model is re-trained from time to time, so nothing here pins its outputs. What can
be asserted honestly on one CPU core within a test's budget: it loads into every task module,
and fine-tuning it learns (it fits 32 real reviews). Beating the majority class on the 300
validation reviews takes about two epochs (~300 steps, minutes): see the README's results.
"""

from __future__ import annotations

import math
import shutil

import pytest
import torch

from ernie3_lite import DATA_SAMPLES, PRETRAINED_NANO
from ernie3_lite.data.formats import read_classification
from ernie3_lite.data.writers import write_classification
from ernie3_lite.finetune import (
    HeadlineGenerationModule,
    SequenceClassificationModule,
    TokenClassificationModule,
    evaluate,
    finetune,
)
from ernie3_lite.finetune.data import build_examples, collate_examples, read_split


def test_the_shipped_model_serves_every_task():
    classifier = SequenceClassificationModule(labels=["0", "1"]).eval()
    tagger = TokenClassificationModule(labels=["O", "B-PER", "I-PER"]).eval()
    reviews = read_split(DATA_SAMPLES, "sentiment", "valid")[:2]
    examples = build_examples(reviews, "sentiment", classifier.tokenizer, labels=["0", "1"],
                              max_len=128, max_target_len=1)
    batch = collate_examples(examples, pad_id=0)
    with torch.no_grad():
        assert classifier(batch).shape == (2, 2) and classifier(batch).isfinite().all()
        assert tagger(batch).shape == (*batch["input_ids"].shape, 3)
    writer = HeadlineGenerationModule(max_target_len=8)
    assert writer.config.name == "nano" and writer.tokenizer.vocab_size == 8000
    body = "".join(read_split(DATA_SAMPLES, "headline", "valid")[0].paragraphs)
    assert isinstance(writer.headline(body), str)
    assert writer.training  # decoding ran in eval mode and put the module back


@pytest.fixture
def review_subset(tmp_path):
    """32 real reviews per split (the first rows of data_samples/reviews), same layout."""
    (tmp_path / "reviews").mkdir()
    shutil.copy(DATA_SAMPLES / "vocab.txt", tmp_path / "vocab.txt")
    for split in ("train", "valid", "test"):
        rows = read_classification(DATA_SAMPLES / "reviews" / f"{split}.tsv")[:32]
        write_classification(tmp_path / "reviews" / f"{split}.tsv", rows)
    return tmp_path


@pytest.mark.slow
def test_fine_tuning_the_shipped_model_fits_real_reviews(review_subset, tmp_path):
    """~30 s on one core: 32 steps (16 epochs of 32 reviews) reach >= 90 % training accuracy
    (measured: 100 %), from a loss of about ln 2 with the untrained head."""
    before = evaluate(SequenceClassificationModule(labels=["0", "1"]), data_dir=review_subset,
                      split="train")
    result = finetune("sentiment", pretrained=PRETRAINED_NANO, data_dir=review_subset,
                      max_epochs=16, batch_size=16, lr=1e-3, val_every=0,
                      out_dir=tmp_path / "run")
    after = evaluate(result.module, data_dir=review_subset, split="train")
    assert result.steps == 32
    assert after["acc"] >= 0.9 and after["loss"] < before["loss"] / 2
    for metrics in (result.valid, result.test):
        assert 0.0 <= metrics["acc"] <= 1.0 and math.isfinite(metrics["loss"])
