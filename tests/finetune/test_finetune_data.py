"""Fine-tuning examples, batches and `FinetuneDataModule` on the shipped data."""

from __future__ import annotations

import shutil

import pytest
import torch

from ernie3_lite import DATA_SAMPLES
from ernie3_lite.data.formats import (
    ClassificationExample,
    DataFormatError,
    NerSentence,
    read_bio,
    read_classification,
    read_news,
)
from ernie3_lite.data.masking import IGNORE_INDEX
from ernie3_lite.data.writers import write_classification
from ernie3_lite.finetune.data import (
    build_examples,
    classification_example,
    collate_examples,
    headline_example,
    task_labels,
    token_example,
)
from ernie3_lite.finetune.datamodule import BucketBatchSampler, FinetuneDataModule
from ernie3_lite.tokenization import CharTokenizer

TOK = CharTokenizer.from_file(DATA_SAMPLES / "vocab.txt")
REVIEWS = read_classification(DATA_SAMPLES / "reviews" / "valid.tsv")
NER = read_bio(DATA_SAMPLES / "ner" / "valid.bio")
NEWS = read_news(DATA_SAMPLES / "news" / "valid.jsonl")
NER_LABELS = task_labels(read_bio(DATA_SAMPLES / "ner" / "train.bio"), "ner")


def test_labels_come_from_the_training_split():
    assert task_labels(REVIEWS, "sentiment") == ["0", "1"]
    assert NER_LABELS == ["O", "B-LOC", "B-ORG", "B-PER", "I-LOC", "I-ORG", "I-PER"]
    assert task_labels(NEWS, "headline") is None


def test_classification_example_is_cls_text_sep_and_truncated():
    review = max(REVIEWS, key=lambda r: len(r.text))  # longer than 128 characters
    ex = classification_example(TOK, review, label_ids={"0": 0, "1": 1}, max_len=128)
    ids = ex["input_ids"].tolist()
    assert len(ids) == 128 and ids[0] == TOK.cls_id and ids[-1] == TOK.sep_id
    assert ids[1:-1] == TOK.encode(review.text)[:126]
    assert ex["labels"].item() == int(review.label) and ex["labels"].dim() == 0
    pair = ClassificationExample(REVIEWS[0].text, "1", REVIEWS[1].text)
    ids = classification_example(TOK, pair, label_ids={"0": 0, "1": 1}, max_len=32)["input_ids"]
    assert len(ids) == 32 and ids.tolist().count(TOK.sep_id) == 2
    with pytest.raises(ValueError, match=f"label '{REVIEWS[0].label}' is not one of"):
        classification_example(TOK, REVIEWS[0], label_ids={"neg": 0}, max_len=32)


def test_token_example_aligns_one_label_per_character():
    label_ids = {tag: i for i, tag in enumerate(NER_LABELS)}
    sentence = next(s for s in NER if len(s.tokens) < 60 and "B-PER" in s.tags)
    ex = token_example(TOK, sentence, label_ids=label_ids, max_len=128)
    labels, starts = ex["labels"].tolist(), ex["word_starts"].tolist()
    assert len(labels) == len(sentence.tokens) + 2  # [CLS] chars [SEP]
    assert labels[0] == labels[-1] == IGNORE_INDEX and starts[0] == starts[-1] == 0
    assert labels[1:-1] == [label_ids[t] for t in sentence.tags]
    assert starts[1:-1] == list(range(1, len(sentence.tokens) + 1))
    assert ex["gold_tags"] == sentence.tags


def test_token_example_truncates_but_keeps_every_gold_tag():
    label_ids = {tag: i for i, tag in enumerate(NER_LABELS)}
    sentence = max(NER, key=lambda s: len(s.tokens))
    ex = token_example(TOK, sentence, label_ids=label_ids, max_len=32)
    assert ex["input_ids"].numel() == 32 and ex["input_ids"][-1] == TOK.sep_id
    assert len(ex["gold_tags"]) == len(sentence.tokens) > 32


def test_a_token_of_several_pieces_is_labelled_on_its_first_piece():
    sentence = NerSentence(("x", "ab12", "y"), ("O", "B-ORG", "O"))  # a CoNLL-style word token
    pieces = len(TOK.encode("ab12"))
    assert pieces >= 2
    ex = token_example(TOK, sentence, label_ids={"O": 0, "B-ORG": 1}, max_len=32)
    assert ex["labels"].tolist() == [IGNORE_INDEX, 0, 1] + [IGNORE_INDEX] * (pieces - 1) + [
        0, IGNORE_INDEX]
    assert ex["word_starts"].tolist() == [0, 1, 2] + [0] * (pieces - 1) + [3, 0]


def test_headline_example_targets_only_the_headline_and_its_sep():
    doc = NEWS[0]
    ex = headline_example(TOK, doc, max_len=64, max_target_len=12)
    ids, labels = ex["input_ids"].tolist(), ex["labels"].tolist()
    prompt = int(ex["prompt_length"])
    headline = TOK.encode(doc.headline)[:12]
    assert prompt == 64 - 12 - 1  # the body fills its budget of max_len - max_target_len - 2
    assert ids[:prompt - 1] == TOK.encode("".join(doc.paragraphs))[:prompt - 1]
    assert ids[prompt - 1] == TOK.sep_id and ids[prompt:] == [*headline, TOK.sep_id]
    # hidden state t predicts token t + 1: targets start at the [SEP] closing the body
    targets = [(t, y) for t, y in enumerate(labels) if y != IGNORE_INDEX]
    assert targets == [(prompt - 1 + k, y) for k, y in enumerate([*headline, TOK.sep_id])]
    assert ex["task_type_ids"].unique().tolist() == [1] and ex["reference"] == doc.headline
    with pytest.raises(ValueError, match="max_len=10 leaves no room"):
        headline_example(TOK, doc, max_len=10, max_target_len=8)


def test_collate_keeps_plain_fields_as_lists_and_pads_word_starts_with_zero():
    examples = build_examples(NER[:4], "ner", TOK, labels=NER_LABELS, max_len=64,
                              max_target_len=1)
    batch = collate_examples(examples, pad_id=TOK.pad_id)
    lengths = [ex["input_ids"].numel() for ex in examples]
    assert batch["input_ids"].shape == (4, max(lengths))
    assert batch["gold_tags"] == [ex["gold_tags"] for ex in examples]
    for row, n in enumerate(lengths):
        assert batch["word_starts"][row, n:].eq(0).all()
        assert batch["labels"][row, n:].eq(IGNORE_INDEX).all()
        assert batch["attention_mask"][row].sum() == n


def test_bucket_sampler_covers_each_index_once_and_saves_padding():
    lengths = [ex["input_ids"].numel() for ex in build_examples(
        read_classification(DATA_SAMPLES / "reviews" / "train.tsv"), "sentiment", TOK,
        labels=["0", "1"], max_len=128, max_target_len=1)]
    sampler = BucketBatchSampler(lengths, batch_size=16, seed=0)
    batches = list(sampler)
    assert len(batches) == len(sampler) == 150
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    assert batches == list(sampler)  # same epoch, same batches
    sampler.set_epoch(1)
    assert list(sampler) != batches
    padded = sum(16 * max(lengths[i] for i in b) for b in batches)
    shuffled = torch.randperm(len(lengths), generator=torch.Generator().manual_seed(0)).tolist()
    random_padded = sum(16 * max(lengths[i] for i in shuffled[k:k + 16])
                        for k in range(0, len(shuffled), 16))
    assert padded < 0.7 * random_padded


def test_datamodule_reads_every_split_and_limits_training_examples(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # "data_samples" is found in the repository root
    data = FinetuneDataModule("ner", data_dir="data_samples", batch_size=8, max_len=64,
                              train_examples=20)
    data.setup("fit")
    assert data.labels == NER_LABELS and len(data.examples("train")) == 20
    assert len(data.examples("valid")) == len(NER)
    train = next(iter(data.train_dataloader()))
    assert train["input_ids"].shape[0] == 8 and train["input_ids"].shape[1] <= 64
    valid = list(data.val_dataloader())
    assert sum(len(b["gold_tags"]) for b in valid) == len(NER)


def test_bad_settings_and_labels_fail_naming_the_field(tmp_path):
    with pytest.raises(ValueError, match="FinetuneDataModule.task='pos'"):
        FinetuneDataModule("pos")
    with pytest.raises(ValueError, match="FinetuneDataModule.batch_size=0 must be"):
        FinetuneDataModule("sentiment", batch_size=0)
    with pytest.raises(ValueError, match="FinetuneDataModule.max_len=20 must be >= "):
        FinetuneDataModule("headline", max_len=20, max_target_len=32)
    with pytest.raises(FileNotFoundError, match="FinetuneDataModule.data_dir='nowhere'"):
        FinetuneDataModule("sentiment", data_dir="nowhere")
    # a valid-split label the training split never has cannot be scored
    (tmp_path / "reviews").mkdir()
    shutil.copy(DATA_SAMPLES / "vocab.txt", tmp_path / "vocab.txt")
    write_classification(tmp_path / "reviews" / "train.tsv", REVIEWS[:10])
    odd = ClassificationExample(REVIEWS[10].text, "2")
    write_classification(tmp_path / "reviews" / "valid.tsv", [odd])
    data = FinetuneDataModule("sentiment", data_dir=str(tmp_path))
    with pytest.raises(DataFormatError, match="valid.tsv:2: label '2' is not one of"):
        data.examples("valid")
