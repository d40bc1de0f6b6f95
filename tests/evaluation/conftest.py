"""Shared fixtures: the shipped vocabulary and a random `test`-preset model that uses it."""

from __future__ import annotations

import pytest
import torch

from ernie3_lite import PRETRAINED_NANO
from ernie3_lite.config import Ernie3Config
from ernie3_lite.model.ernie3 import Ernie3Model
from ernie3_lite.tokenization import CharTokenizer


@pytest.fixture(scope="session")
def tokenizer() -> CharTokenizer:
    return CharTokenizer.from_file(PRETRAINED_NANO / "vocab.txt")


@pytest.fixture()
def random_model(tokenizer) -> Ernie3Model:
    """Untrained, with large init so that scores differ clearly between candidates."""
    torch.manual_seed(0)
    config = Ernie3Config.from_name("test", vocab_size=tokenizer.vocab_size, max_seq_len=64,
                                    init_std=0.3)
    return Ernie3Model(config).eval()
