"""PretrainingCorpus reads a data folder the way the five tasks need it."""

from __future__ import annotations

import pytest

from ernie3_lite import DATA_SAMPLES
from ernie3_lite.data.corpus import PretrainingCorpus
from ernie3_lite.data.formats import read_news
from ernie3_lite.tokenization import normalize


@pytest.fixture(scope="module")
def corpus() -> PretrainingCorpus:
    return PretrainingCorpus(DATA_SAMPLES, split="valid")


def test_sentences_cover_every_paragraph_character(corpus):
    docs = read_news(DATA_SAMPLES / "news" / "valid.jsonl")
    joined = "".join(corpus.sentences()).replace(" ", "")
    expected = "".join(d.headline + "".join(d.paragraphs) for d in docs).replace(" ", "")
    assert joined == expected


def test_document_sentences_keep_documents_apart(corpus):
    assert len(corpus.document_sentences) == len(corpus.documents)
    first = corpus.documents[0]
    assert corpus.document_sentences[0][0] == (first.headline or corpus.document_sentences[0][0])
    assert all(sentences for sentences in corpus.document_sentences)


def test_document_tokens_decode_to_the_documents(corpus):
    tokens = corpus.document_tokens()
    text = corpus.tokenizer.decode(tokens[1]).replace(" ", "")
    assert text == normalize("".join(corpus.document_sentences[1])).replace(" ", "")


def test_encode_is_cached_and_aligned(corpus):
    sentence = next(s for s in corpus.sentences() if len(s) > 20)
    first = corpus.encode(sentence)
    assert corpus.encode(sentence) is first
    assert list(first.ids) == corpus.tokenizer.encode(sentence)
    assert all(0 <= s < e <= len(first.ids) for s, e in first.spans.word + first.spans.entity)


def test_aligned_pairs_mention_both_entities(corpus):
    assert corpus.aligned
    for pair in corpus.aligned:
        assert pair["relation"] and pair["sentence"]
