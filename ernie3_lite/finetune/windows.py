"""NER on sentences longer than the model's window: overlapping windows, not a cut to `O`.

`token_example` (ernie3_lite/finetune/data.py) cuts a sentence at `max_len`, and the Lightning
test loop then scores every token past the cut as `O`: on the full People's Daily test split
that turns the long sentences' late entities into misses that say nothing about the model.
Here a sentence is tagged in windows of at most `max_len - 2` pieces ([CLS] and [SEP] take the
other two) that overlap by about half, the way BERT's SQuAD code reads long documents (Devlin et
al. 2019, arXiv 1810.04805, "document stride"), and each token takes its tag from the window in
which it has the most context on its nearer side.

Each window is built by the same `token_example` as training, so inputs are formatted alike.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ernie3_lite.data.formats import NerSentence
from ernie3_lite.finetune.data import collate_examples, token_example, token_pieces


def token_windows(piece_counts: Sequence[int], *, budget: int) -> list[tuple[int, int]]:
    """(start, end) token ranges whose pieces fit `budget`, covering every token, each next
    window starting about half-way into the previous one (a single token always fits)."""
    if budget < 1:
        raise ValueError(f"budget={budget} must be >= 1")
    windows, start, n = [], 0, len(piece_counts)
    while True:
        end, used = start, 0
        while end < n and (end == start or used + piece_counts[end] <= budget):
            used += piece_counts[end]
            end += 1
        windows.append((start, end))
        if end >= n:
            return windows
        start = max(start + 1, start + (end - start) // 2)


def best_window(windows: Sequence[tuple[int, int]], n_tokens: int) -> list[int]:
    """For each token, the index of the window where its distance to the nearer edge is
    largest (the first such window on ties)."""
    best = [0] * n_tokens
    margin = [-1] * n_tokens
    for w, (start, end) in enumerate(windows):
        for k in range(start, end):
            room = min(k - start, end - 1 - k)
            if room > margin[k]:
                best[k], margin[k] = w, room
    return best


@torch.no_grad()
def windowed_ner_tags(module, sentences: Sequence[NerSentence], *, max_len: int | None = None,
                      batch_size: int = 32) -> list[list[str]]:
    """Predicted tags, one per token of every sentence, for a `TokenClassificationModule`.

    max_len: positions per window (default the smaller of 128 and the model's max_seq_len).
    Sentences that fit are tagged in one window, exactly as the Lightning test loop tags them.
    """
    tokenizer = module.tokenizer
    max_len = max_len or min(128, module.config.max_seq_len)
    label_ids = {name: i for i, name in enumerate(module.labels)}
    examples, owners = [], []  # owners[i]: (sentence index, window index) of examples[i]
    plans = []
    for s, sentence in enumerate(sentences):
        counts = [len(token_pieces(tokenizer, token)) for token in sentence.tokens]
        windows = token_windows(counts, budget=max_len - 2) if counts else [(0, 0)]
        plans.append((windows, best_window(windows, len(counts))))
        for w, (start, end) in enumerate(windows):
            part = NerSentence(sentence.tokens[start:end], sentence.tags[start:end])
            examples.append(token_example(tokenizer, part, label_ids=label_ids, max_len=max_len))
            owners.append((s, w))
    window_tags: dict[tuple[int, int], list[str]] = {}
    was_training = module.training
    module.eval()
    try:
        for first in range(0, len(examples), batch_size):
            chunk = examples[first:first + batch_size]
            batch = collate_examples(chunk, pad_id=tokenizer.pad_id)
            batch = {k: v.to(module.device) if isinstance(v, torch.Tensor) else v
                     for k, v in batch.items()}
            for (s, w), tags in zip(owners[first:first + batch_size],
                                       module.predict_tags(batch), strict=True):
                window_tags[(s, w)] = tags
    finally:
        module.train(was_training)
    out = []
    for s, sentence in enumerate(sentences):
        windows, best = plans[s]
        out.append([window_tags[(s, best[k])][k - windows[best[k]][0]]
                    for k in range(len(sentence.tokens))])
    return out
