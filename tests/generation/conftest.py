"""Fixtures: a random `test`-preset model (see `generation_helpers`), a 100-token tokenizer
built from the shipped news, and the text of one real news document."""

from __future__ import annotations

import pytest
from generation_helpers import make_model

from ernie3_lite import DATA_SAMPLES
from ernie3_lite.data.formats import read_news
from ernie3_lite.model.ernie3 import Ernie3Model
from ernie3_lite.tokenization import CharTokenizer


@pytest.fixture(scope="session")
def news() -> str:
    """The text of the first validation document of the shipped People's Daily slice."""
    return "".join(read_news(DATA_SAMPLES / "news" / "valid.jsonl")[0].paragraphs)


@pytest.fixture(scope="session")
def tokenizer() -> CharTokenizer:
    docs = read_news(DATA_SAMPLES / "news" / "valid.jsonl")
    return CharTokenizer.build((p for d in docs for p in d.paragraphs), max_size=100)


@pytest.fixture(scope="session")
def model(tokenizer) -> Ernie3Model:
    return make_model(tokenizer)
