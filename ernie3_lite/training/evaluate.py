"""Held-out measurements of a pre-trained model, independent of Lightning.

`masked_lm_accuracy` asks the NLU network to fill in knowledge-masked tokens (ERNIE 3.0 §3.2.1) of
validation sentences: the number the shipped model is checked against an untrained one with.
"""

from __future__ import annotations

import torch

from ernie3_lite.data.corpus import PretrainingCorpus
from ernie3_lite.data.masking import IGNORE_INDEX
from ernie3_lite.data.tasks import KnowledgeMaskedLM, pack_texts
from ernie3_lite.model.ernie3 import Ernie3Model


@torch.no_grad()
def masked_lm_accuracy(model: Ernie3Model, corpus: PretrainingCorpus, *, max_len: int = 128,
                       batch_size: int = 16, max_batches: int = 8, seed: int = 0) -> float:
    """Top-1 accuracy on knowledge-masked tokens of `corpus` (packed per document, seeded)."""
    model.eval()
    builder = KnowledgeMaskedLM(corpus.tokenizer, max_len=max_len, seed=seed)
    texts = [
        chunk
        for sentences in corpus.document_sentences
        for chunk in pack_texts((corpus.encode(s) for s in sentences), max_tokens=max_len - 2)
    ]
    correct = total = 0
    for start in range(0, min(len(texts), batch_size * max_batches), batch_size):
        batch = builder.batch(texts[start : start + batch_size])
        hidden = model.forward_nlu(batch["input_ids"], attention_mask=batch["attention_mask"],
                                   token_type_ids=batch["token_type_ids"],
                                   task_type_ids=batch["task_type_ids"]).hidden  # (B, T, d)
        where = batch["labels"] != IGNORE_INDEX  # (B, T)
        predicted = model.mlm_logits(hidden[where]).argmax(-1)  # (N,)
        correct += int((predicted == batch["labels"][where]).sum())
        total += int(where.sum())
    if total == 0:
        raise ValueError("no masked tokens: the corpus split is empty")
    return correct / total
