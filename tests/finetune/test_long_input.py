"""Long inputs are cut before they are tokenized (issue 12 §4): a 50 MB one-line review took
72 s and 3.6 GB to become one 128-token example. The examples must not change for normal lines.
"""

from __future__ import annotations

import time

from ernie3_lite import DATA_SAMPLES
from ernie3_lite.data.collate import join_segments, truncate_lengths
from ernie3_lite.data.formats import (
    ClassificationExample,
    NerSentence,
    read_bio,
    read_classification,
    read_news,
)
from ernie3_lite.data.writers import write_classification
from ernie3_lite.finetune.data import (
    classification_example,
    headline_example,
    task_labels,
    token_example,
)
from ernie3_lite.tokenization import CharTokenizer

TOK = CharTokenizer.from_file(DATA_SAMPLES / "vocab.txt")
LABELS = {"0": 0, "1": 1}


def whole_text_example(record: ClassificationExample, max_len: int) -> list[int]:
    """The input ids the way they were built before: tokenize everything, then cut."""
    segments = [TOK.encode(t) for t in (record.text, record.text_b) if t is not None]
    lengths = truncate_lengths([len(s) for s in segments], budget=max_len - 1 - len(segments))
    ids, _, _ = join_segments([s[:n] for s, n in zip(segments, lengths)], cls_id=TOK.cls_id,
                              sep_id=TOK.sep_id)
    return ids


def test_a_50_mb_one_line_review_is_fast_and_is_its_first_tokens(tmp_path):
    head = "这本书很好看，物流也快。Great book! ½ ㎏ "
    text = (head * (50_000_000 // len(head) + 1))[:50_000_000]
    path = tmp_path / "train.tsv"
    write_classification(path, [ClassificationExample(text, "1")])
    started = time.perf_counter()
    record = read_classification(path)[0]
    example = classification_example(TOK, record, label_ids=LABELS, max_len=128)
    assert time.perf_counter() - started < 10  # reading 50 MB; tokenizing it took 72 s
    short = ClassificationExample(text[:5_000], "1")
    assert example["input_ids"].tolist() == whole_text_example(short, 128)
    assert example["input_ids"].numel() == 128


def test_examples_of_normal_reviews_are_unchanged():
    reviews = read_classification(DATA_SAMPLES / "reviews" / "valid.tsv")
    pairs = [ClassificationExample(a.text, a.label, b.text) for a, b in zip(reviews, reviews[1:])]
    for max_len in (8, 64, 128):
        for record in reviews + pairs[:50]:
            got = classification_example(TOK, record, label_ids=LABELS, max_len=max_len)
            assert got["input_ids"].tolist() == whole_text_example(record, max_len), record


def test_ner_and_headline_examples_are_unchanged_and_a_huge_token_is_cheap():
    sentences = read_bio(DATA_SAMPLES / "ner" / "valid.bio")
    label_ids = {n: i for i, n in enumerate(task_labels(sentences, "ner"))}
    huge = NerSentence(("北", "x" * 20_000_000, "京"), ("B-LOC", "O", "I-LOC"))
    started = time.perf_counter()
    example = token_example(TOK, huge, label_ids=label_ids, max_len=16)
    assert time.perf_counter() - started < 2
    assert example["input_ids"].tolist() == [TOK.cls_id, *TOK.encode("北"), TOK.sep_id]
    for document in read_news(DATA_SAMPLES / "news" / "valid.jsonl"):
        got = headline_example(TOK, document, max_len=96, max_target_len=16)
        body = TOK.encode("".join(document.paragraphs))[: 96 - 16 - 2]
        headline = TOK.encode(document.headline)[:16]
        assert got["input_ids"].tolist() == [*body, TOK.sep_id, *headline, TOK.sep_id]
    for sentence in sentences:  # each token's pieces are what a whole-token encode gives
        ids = [TOK.cls_id]
        for token in sentence.tokens:
            pieces = TOK.encode(token) or [TOK.unk_id]
            if len(ids) + len(pieces) > 63:
                break
            ids += pieces
        got = token_example(TOK, sentence, label_ids=label_ids, max_len=64)["input_ids"]
        assert got.tolist() == [*ids, TOK.sep_id]
