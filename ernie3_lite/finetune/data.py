"""Fine-tuning examples for the three downstream tasks, built from the shipped data layout.

Each builder turns one record of a reader in `ernie3_lite.data.formats` into a dict of (T,)
tensors (plus 0-d labels and plain-Python fields for evaluation) that `collate_examples` pads:

* sentiment (`read_classification`, reviews/*.tsv): ``[CLS] text [SEP] (text_b [SEP])``, a class
  id. ERNIE 3.0 §4.2.1 fine-tunes sentiment analysis on [CLS] of the NLU network;
* NER (`read_bio`, ner/*.bio): ``[CLS] tokens [SEP]``, one BIO label per character token. A
  token the tokenizer splits (a word in a user's CoNLL file, or ``½`` -> ``1⁄2``) is labelled on
  its first piece only; `word_starts` says which position carries which token's label;
* headline generation (`read_news`, news/*.jsonl): the NLG network (universal + NLG, causal,
  ERNIE 3.0 §3.1) is trained as a conditional LM on ``body [SEP] headline [SEP]``, with the loss
  on the headline and its closing [SEP] only, so it learns to write a headline after a body and
  to stop. This is the decoder-only reading of §4.2.2 (the paper does not spell out its
  fine-tuning input); the ``[SEP]`` between them is the document separator the pre-training
  stream of document LM uses, so the format is one the NLG network has seen.

Everything here is plain Python + torch, like `ernie3_lite.data`: no Lightning, no model.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ernie3_lite import PACKAGE_ROOT
from ernie3_lite.data.collate import (
    TaskType,
    collate,
    example_dict,
    join_segments,
    truncate_lengths,
)
from ernie3_lite.data.formats import (
    ClassificationExample,
    DataFormatError,
    NerSentence,
    NewsDocument,
    read_bio,
    read_classification,
    read_news,
)
from ernie3_lite.data.masking import IGNORE_INDEX
from ernie3_lite.finetune.checks import labelled_lines
from ernie3_lite.tokenization import CharTokenizer

TASKS = ("sentiment", "ner", "headline")
SPLITS = ("train", "valid", "test")
#: where each task's split files sit inside a data folder (data_samples/README.md)
TASK_FILES = {"sentiment": "reviews/{split}.tsv", "ner": "ner/{split}.bio",
              "headline": "news/{split}.jsonl"}


def resolve_data_dir(data_dir: str | Path, *, owner: str = "data_dir") -> Path:
    """`data_dir` as given, or inside the repository root ("data_samples" works anywhere)."""
    path = Path(data_dir)
    if not path.exists() and not path.is_absolute():
        path = PACKAGE_ROOT.parent / path
    if not path.is_dir():
        raise FileNotFoundError(f"{owner}={str(data_dir)!r}: no such folder")
    return path


def task_file(data_dir: str | Path, task: str, split: str) -> Path:
    """The file of `split` of `task`, e.g. ``<data_dir>/reviews/train.tsv``; it must exist."""
    if task not in TASKS:
        raise ValueError(f"task={task!r} must be one of {TASKS}")
    if split not in SPLITS:
        raise ValueError(f"split={split!r} must be one of {SPLITS}")
    path = resolve_data_dir(data_dir) / TASK_FILES[task].format(split=split)
    if not path.is_file():
        raise FileNotFoundError(f"data_dir={str(data_dir)!r}: no {task} file {path}")
    return path


def read_split(data_dir: str | Path, task: str, split: str) -> list[Any]:
    """The records of one split, through the reader of the task's format."""
    path = task_file(data_dir, task, split)
    reader = {"sentiment": read_classification, "ner": read_bio, "headline": read_news}[task]
    return reader(path)


def task_labels(records: Sequence[Any], task: str) -> list[str] | None:
    """The label names a task predicts, read off its training records (None for headlines).

    Sentiment: the labels as written, sorted ("0", "1"). NER: "O" first, then the tags sorted
    (B-LOC, B-ORG, B-PER, I-LOC, ...); BIOES files give E-/S- tags too.
    """
    if task == "sentiment":
        return sorted({r.label for r in records})
    if task == "ner":
        tags = {tag for r in records for tag in r.tags}
        return ["O", *sorted(tags - {"O"})]
    return None


# ---- one example per record ---------------------------------------------------------------------
def classification_example(tokenizer: CharTokenizer, record: ClassificationExample, *,
                           label_ids: dict[str, int], max_len: int) -> dict[str, Tensor]:
    """``[CLS] text [SEP]`` (or a pair) cut to `max_len` tokens; labels: the class id ().

    Each text is tokenized only as far as the budget reaches (`CharTokenizer.encode_head`): a
    50 MB review costs no more than a short one. Longest-first truncation gives the same
    lengths from segments capped at the budget as from whole ones.
    """
    texts = [record.text] if record.text_b is None else [record.text, record.text_b]
    budget = max_len - 1 - len(texts)  # room for [CLS] and one [SEP] per segment
    segments = [tokenizer.encode_head(text, max(budget, 0)) for text in texts]
    lengths = truncate_lengths([len(s) for s in segments], budget=budget)
    ids, types, _ = join_segments([s[:n] for s, n in zip(segments, lengths)],
                                  cls_id=tokenizer.cls_id, sep_id=tokenizer.sep_id)
    if record.label not in label_ids:
        raise ValueError(f"label {record.label!r} is not one of the model's {list(label_ids)}")
    return example_dict(ids, token_type_ids=types, labels=label_ids[record.label])


def token_pieces(tokenizer: CharTokenizer, token: str, limit: int = 2**31) -> list[int]:
    """Ids of one NER token; a token that yields no id (a format character) becomes [UNK], so
    every token keeps a position and its label. At most `limit` ids are made (a token of more
    pieces than fit is dropped whole anyway)."""
    return tokenizer.encode_head(token, limit) or [tokenizer.unk_id]


def token_example(tokenizer: CharTokenizer, sentence: NerSentence, *,
                  label_ids: dict[str, int], max_len: int) -> dict[str, Any]:
    """``[CLS] tokens [SEP]`` with per-position labels (T,), cut to `max_len` positions.

    labels: the tag id on each token's first piece, -100 on [CLS], [SEP], later pieces and tags
    the model does not know. word_starts (T,): 1 + the token index on a first piece, else 0.
    gold_tags: ALL tags of the sentence, so a token lost to truncation is still scored (as O).
    """
    ids, labels, starts = [tokenizer.cls_id], [IGNORE_INDEX], [0]
    for k, (token, tag) in enumerate(zip(sentence.tokens, sentence.tags)):
        pieces = token_pieces(tokenizer, token, max_len)
        if len(ids) + len(pieces) > max_len - 1:  # keep room for [SEP]
            break
        ids.extend(pieces)
        labels.extend([label_ids.get(tag, IGNORE_INDEX)] + [IGNORE_INDEX] * (len(pieces) - 1))
        starts.extend([k + 1] + [0] * (len(pieces) - 1))
    ids.append(tokenizer.sep_id)
    labels.append(IGNORE_INDEX)
    starts.append(0)
    example = example_dict(ids, labels=torch.tensor(labels))
    example["word_starts"] = torch.tensor(starts)
    example["gold_tags"] = tuple(sentence.tags)
    return example


def headline_example(tokenizer: CharTokenizer, document: NewsDocument, *, max_len: int,
                     max_target_len: int) -> dict[str, Any]:
    """``body [SEP] headline [SEP]`` for the NLG network; labels are next tokens (T,).

    labels[t] = input_ids[t + 1] where that next token is a headline token or the final [SEP],
    -100 elsewhere (the body is context, not a target). The body is cut to
    ``max_len - max_target_len - 2`` tokens in training AND evaluation, so the prompt
    ``body [SEP]`` plus a decoded headline always fits `max_len`. prompt_length (): tokens of
    ``body [SEP]``; reference: the headline as written, for ROUGE-L.
    """
    body_budget = max_len - max_target_len - 2
    if body_budget < 1:
        raise ValueError(f"max_len={max_len} leaves no room for a body next to "
                         f"max_target_len={max_target_len} (needs max_len >= max_target_len + 3)")
    body = tokenizer.encode_head("".join(document.paragraphs), body_budget)
    headline = tokenizer.encode_head(document.headline, max_target_len)
    ids = [*body, tokenizer.sep_id, *headline, tokenizer.sep_id]
    prompt_length = len(body) + 1
    # hidden state t predicts token t + 1: targets from the last prompt token on
    labels = [IGNORE_INDEX] * (prompt_length - 1) + ids[prompt_length:] + [IGNORE_INDEX]
    example = example_dict(ids, labels=torch.tensor(labels), task_type=TaskType.NLG)
    example["prompt_length"] = torch.tensor(prompt_length)
    example["reference"] = document.headline
    return example


def build_examples(records: Sequence[Any], task: str, tokenizer: CharTokenizer, *,
                   labels: Sequence[str] | None, max_len: int,
                   max_target_len: int) -> list[dict[str, Any]]:
    """One example dict per record of `task` (see the three builders)."""
    label_ids = {name: i for i, name in enumerate(labels or ())}
    if task == "sentiment":
        return [classification_example(tokenizer, r, label_ids=label_ids, max_len=max_len)
                for r in records]
    if task == "ner":
        return [token_example(tokenizer, r, label_ids=label_ids, max_len=max_len)
                for r in records]
    if task == "headline":
        return [headline_example(tokenizer, r, max_len=max_len, max_target_len=max_target_len)
                for r in records]
    raise ValueError(f"task={task!r} must be one of {TASKS}")


def check_labels(records: Sequence[Any], task: str, labels: Sequence[str] | None, *,
                 path: Path) -> None:
    """Training data must not hold a label the model cannot predict (it would be dropped
    silently); evaluation data may (the metrics still count it as a miss)."""
    known = set(labels or ())
    for name, line in labelled_lines(records, task):
        if name not in known:
            raise DataFormatError(f"label {name!r} is not one of the model's labels "
                                  f"{list(labels or [])}", path=path, line=line)


# ---- batching -----------------------------------------------------------------------------------
def collate_examples(batch: Sequence[dict[str, Any]], *, pad_id: int) -> dict[str, Any]:
    """Pad the tensors with `ernie3_lite.data.collate.collate`; other fields become lists.

    word_starts pads with 0 (= no token), labels with -100, input_ids with `pad_id`.
    """
    if not batch:
        raise ValueError("cannot collate an empty batch")
    extra = [key for key, value in batch[0].items() if not isinstance(value, Tensor)]
    tensors = [{k: v for k, v in ex.items() if k not in extra} for ex in batch]
    out: dict[str, Any] = collate(tensors, pad_id=pad_id)
    for key in extra:
        out[key] = [ex[key] for ex in batch]
    return out
