"""NER on sentences longer than the window: overlapping windows cover every token."""

from __future__ import annotations

import pytest
import torch

from ernie3_lite import PRETRAINED_NANO
from ernie3_lite.data.formats import NerSentence
from ernie3_lite.finetune.windows import best_window, token_windows, windowed_ner_tags
from ernie3_lite.tokenization import CharTokenizer


@pytest.mark.parametrize("n,budget", [(1, 4), (5, 5), (10, 4), (37, 8), (9, 1)])
def test_windows_cover_every_token_and_overlap(n, budget):
    windows = token_windows([1] * n, budget=budget)
    assert windows[0][0] == 0 and windows[-1][1] == n
    assert all(end - start <= budget for start, end in windows)
    for (s0, e0), (s1, _) in zip(windows, windows[1:]):
        assert s0 < s1 <= e0  # no gap, and each window moves on
    chosen = best_window(windows, n)
    assert all(windows[w][0] <= k < windows[w][1] for k, w in enumerate(chosen))


def test_wide_tokens_still_fit():
    assert token_windows([3, 3, 3], budget=4) == [(0, 1), (1, 2), (2, 3)]


class ByCharacter(torch.nn.Module):
    """A stand-in tagger: B-LOC on 京 / 沪, O elsewhere, whatever the window."""

    labels = ["O", "B-LOC"]

    def __init__(self, tokenizer):
        super().__init__()
        self.tokenizer = tokenizer
        self.config = type("C", (), {"max_seq_len": 10})
        self.device = torch.device("cpu")
        self.marked = set(tokenizer.encode("京沪"))

    def predict_tags(self, batch):
        out = []
        for row, starts in zip(batch["input_ids"].tolist(), batch["word_starts"].tolist()):
            tags = ["O"] * sum(1 for s in starts if s)
            for token_id, start in zip(row, starts):
                if start:
                    tags[start - 1] = "B-LOC" if token_id in self.marked else "O"
            out.append(tags)
        return out


def test_long_sentence_is_tagged_to_its_end():
    tokenizer = CharTokenizer.from_file(PRETRAINED_NANO / "vocab.txt")
    text = "我们从京出发" * 5 + "到沪"  # 32 characters, windows of 8
    tags = tuple("B-LOC" if ch in "京沪" else "O" for ch in text)
    predicted = windowed_ner_tags(ByCharacter(tokenizer), [NerSentence(tuple(text), tags),
                                                           NerSentence(("京",), ("B-LOC",))])
    assert predicted == [list(tags), ["B-LOC"]]
