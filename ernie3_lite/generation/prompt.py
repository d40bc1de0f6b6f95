"""From a prompt string to the first next-token logits and the decoding cache.

The NLG network was pre-trained on a document-LM stream (ERNIE 3.0 §3.2.1): documents joined
with a [SEP] after each, read in segments of at most ``max_seq_len`` tokens with recurrence
memory of the segments before (ERNIE-Doc / Transformer-XL arXiv 1901.02860 §3.2), every token
carrying the task type `TaskType.NLG`. A prompt is fed the same way:

* it starts after a [SEP] (a new document), and an empty prompt is just that [SEP];
* a prompt longer than one segment is read segment by segment through ``forward_nlg(memory=)``,
  and only its last segment goes through `prefill`, with that memory (its keys/values enter the
  cache), so the model never sees a segment longer than it was built for.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ernie3_lite.data.collate import TaskType
from ernie3_lite.model.decoding import NLGCache, prefill
from ernie3_lite.model.ernie3 import Ernie3Model
from ernie3_lite.model.memory import Ernie3Memory
from ernie3_lite.tokenization import CharTokenizer


def banned_token_ids(tokenizer: CharTokenizer) -> list[int]:
    """[PAD] [CLS] [MASK] [UNK]: never generated. [SEP] is allowed: it ends the document."""
    return [tokenizer.pad_id, tokenizer.cls_id, tokenizer.mask_id, tokenizer.unk_id]


def encode_prompt(tokenizer: CharTokenizer, prompt: str, *,
                  start_of_document: bool = True) -> list[int]:
    """Token ids of `prompt`, after a [SEP] if it starts a document (or if it is empty).

    Characters outside the vocabulary (most ASCII punctuation, rare CJK) become [UNK]: the
    model has seen [UNK] in pre-training, so generation goes on.
    """
    ids = tokenizer.encode(prompt)
    return [tokenizer.sep_id, *ids] if start_of_document or not ids else ids


def prompt_segments(ids: list[int], *, segment_len: int) -> list[list[int]]:
    """Split ids into segments of <= segment_len: the LAST segment is the longest possible
    (it is prefilled, so the cache starts with a full segment plus memory), the head is cut
    from the start. Concatenated, the segments give `ids` back."""
    if segment_len < 1:
        raise ValueError(f"segment_len={segment_len} must be >= 1")
    head, tail = ids[: max(0, len(ids) - segment_len)], ids[-segment_len:]
    return [head[i : i + segment_len] for i in range(0, len(head), segment_len)] + [tail]


def nlg_task_ids(input_ids: Tensor) -> Tensor:
    """(B, T) task-type ids of the document-LM task, as in pre-training."""
    return torch.full_like(input_ids, int(TaskType.NLG))


@torch.inference_mode()
def prefill_prompt(model: Ernie3Model, input_ids: Tensor) -> tuple[Tensor, NLGCache]:
    """input_ids (B, T), any T >= 1 -> (next-token logits (B, V), cache).

    Up to ``max_seq_len`` tokens this is one `prefill`. Longer prompts: the head runs through
    ``forward_nlg`` segment by segment, each reading the memory of the ones before, and the
    last segment is prefilled with that memory. With ``mem_len = 0`` the head is forgotten.
    """
    if input_ids.dim() != 2 or input_ids.size(1) == 0:
        raise ValueError(f"input_ids must be (B, T) with T >= 1, got {tuple(input_ids.shape)}")
    # split the positions 0..T-1 the way `prompt_segments` splits ids: each part's positions
    bounds = prompt_segments(list(range(input_ids.size(1))),
                             segment_len=model.config.max_seq_len)
    memory: Ernie3Memory | None = None
    for segment in bounds[:-1]:
        ids = input_ids[:, segment[0] : segment[-1] + 1]  # (B, L)
        memory = model.forward_nlg(ids, memory=memory, task_type_ids=nlg_task_ids(ids)).new_memory
    tail = input_ids[:, bounds[-1][0] :]  # (B, L_tail)
    logits, cache = prefill(model, tail, memory=memory, task_type_ids=nlg_task_ids(tail))
    return logits[:, -1], cache  # (B, V)
