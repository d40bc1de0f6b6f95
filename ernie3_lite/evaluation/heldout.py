"""Held-out language-model measurements of a pre-trained model on a data folder's news split.

* `dlm_stream`: the document-LM token stream of a split, built as pre-training builds it
  (`PretrainingCorpus.document_tokens`: headline + sentences of each document, then
  `DocumentStream.from_documents`, [SEP] after each), with one [SEP] in front so the first
  document's first token is predicted from "a new text starts", as every later one is;
* `dlm_perplexity`: the NLG path reads that stream segment after segment, carrying the
  recurrence memory (Transformer-XL arXiv 1901.02860 §3.2, ERNIE-Doc arXiv 2012.15688, ERNIE 3.0
  arXiv 2107.02137 §3.2.1); every token after the first is predicted once. Transformer-XL
  evaluates with a longer memory than it trains with, hence the `mem_len` argument;
* `masked_lm_accuracy`: knowledge-masked tokens (ERNIE 1.0 arXiv 1904.09223 masking, seeded) of
  held-out sentences, packed per document, filled in by the NLU network: the measurement of
  `ernie3_lite.training.evaluate.masked_lm_accuracy` over the whole split instead of 8 batches,
  plus the floor of always answering the most frequent training token (`masked_lm_floor`).

The counting baselines (`ernie3_lite.evaluation.ngram`) score the same stream's tokens, so the
perplexities are comparable number for number.
"""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import torch
import torch.nn.functional as F

from ernie3_lite.data.collate import TaskType
from ernie3_lite.data.corpus import PretrainingCorpus
from ernie3_lite.data.dlm import DocumentStream
from ernie3_lite.data.kmlm import KnowledgeMaskedLM, pack_texts
from ernie3_lite.data.masking import IGNORE_INDEX
from ernie3_lite.model.ernie3 import Ernie3Model
from ernie3_lite.tokenization import CharTokenizer

__all__ = ["dlm_perplexity", "dlm_stream", "masked_lm_accuracy", "masked_lm_floor"]


def dlm_stream(data_dir: str | Path, split: str, tokenizer: CharTokenizer) -> list[int]:
    """[SEP] + each document's tokens + [SEP] after each: the document-LM stream of `split`."""
    corpus = PretrainingCorpus(data_dir, split=split, tokenizer=tokenizer)
    stream = DocumentStream.from_documents(corpus.document_tokens(), sep_id=tokenizer.sep_id,
                                           batch_size=1, seg_len=1)
    return [tokenizer.sep_id, *stream.rows[0].tolist()]


@torch.inference_mode()
def dlm_perplexity(model: Ernie3Model, stream: list[int], *, seg_len: int | None = None,
                   mem_len: int | None = None) -> dict[str, float]:
    """{"ppl", "nll", "top1", "tokens"} of stream[1:] on the NLG path with recurrence memory.

    seg_len: tokens per segment (default the model's max_seq_len); mem_len: memory positions
    carried between segments (default the model's own, config.mem_len; 0: no memory).
    """
    model.eval()
    seg_len = seg_len or model.config.max_seq_len
    ids = torch.tensor(stream)[None]  # (1, N)
    nll, correct, memory = 0.0, 0, None
    for start in range(0, ids.size(1) - 1, seg_len):
        inputs = ids[:, start:start + seg_len]  # (1, L)
        targets = ids[:, start + 1:start + 1 + inputs.size(1)]  # (1, <= L)
        inputs = inputs[:, :targets.size(1)]
        out = model.forward_nlg(inputs, memory=memory, mem_len=mem_len,
                                task_type_ids=torch.full_like(inputs, int(TaskType.NLG)))
        logits = model.lm_logits(out.hidden[0]).float()  # (L, V)
        nll += F.cross_entropy(logits, targets[0], reduction="sum").item()
        correct += int((logits.argmax(-1) == targets[0]).sum())
        memory = out.new_memory
    n = ids.size(1) - 1
    return {"ppl": math.exp(nll / n), "nll": nll / n, "top1": correct / n, "tokens": n}


@torch.inference_mode()
def masked_lm_accuracy(model: Ernie3Model, corpus: PretrainingCorpus, *, max_len: int = 128,
                       batch_size: int = 16, seed: int = 0,
                       max_batches: int | None = None) -> dict:
    """{"acc", "n", "labels"}: top-1 accuracy on every knowledge-masked token of `corpus`
    (or of its first `max_batches` batches), and the masked tokens themselves (for
    `masked_lm_floor`)."""
    model.eval()
    builder = KnowledgeMaskedLM(corpus.tokenizer, max_len=max_len, seed=seed)
    texts = [chunk for sentences in corpus.document_sentences
             for chunk in pack_texts((corpus.encode(s) for s in sentences),
                                     max_tokens=max_len - 2)]
    if max_batches is not None:
        texts = texts[:batch_size * max_batches]
    correct, labels = 0, []
    for start in range(0, len(texts), batch_size):
        batch = builder.batch(texts[start:start + batch_size])
        hidden = model.forward_nlu(batch["input_ids"], attention_mask=batch["attention_mask"],
                                   token_type_ids=batch["token_type_ids"],
                                   task_type_ids=batch["task_type_ids"]).hidden  # (B, T, d)
        where = batch["labels"] != IGNORE_INDEX  # (B, T)
        predicted = model.mlm_logits(hidden[where]).argmax(-1)  # (N,)
        correct += int((predicted == batch["labels"][where]).sum())
        labels += batch["labels"][where].tolist()
    if not labels:
        raise ValueError(f"no masked tokens: the {corpus.split} split is empty")
    return {"acc": correct / len(labels), "n": len(labels), "labels": labels}


def masked_lm_floor(train_stream: list[int], labels: list[int], *, exclude: set[int]) -> float:
    """Accuracy of answering every mask with the most frequent training token (not in
    `exclude`, the special tokens): the floor a masked-LM accuracy must clear."""
    counts = Counter(t for t in train_stream if t not in exclude)
    best = counts.most_common(1)[0][0]
    return sum(label == best for label in labels) / max(len(labels), 1)
