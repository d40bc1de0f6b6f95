"""`FinetuneDataModule`: one downstream task's train / valid / test splits as padded batches.

The files are those of the shipped layout (data_samples/README.md), so a full build works the
same way (``data_dir="data/full"``): reviews/*.tsv for sentiment, ner/*.bio for NER, news/*.jsonl
for headline generation. Examples are built once in `setup` (see `ernie3_lite.finetune.data`).

Batches are padded to their longest example, and review lengths run from 5 to over 1,000
characters, so random batches of 16 are mostly padding at max_len. Training batches therefore
come from `BucketBatchSampler` (shuffled, then sorted by length inside pools of 32 batches:
about half the tokens per step on the reviews, same examples per epoch); evaluation batches go
in length order. Both are seeded, so a run repeats exactly.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

import lightning as L
import torch
from torch.utils.data import DataLoader, Sampler

from ernie3_lite.finetune.checks import check_classes, check_label_sets, check_not_empty
from ernie3_lite.finetune.data import (
    SPLITS,
    TASKS,
    build_examples,
    check_labels,
    collate_examples,
    read_split,
    resolve_data_dir,
    task_file,
    task_labels,
)
from ernie3_lite.tokenization import CharTokenizer

NAME = "FinetuneDataModule"


class BucketBatchSampler(Sampler[list[int]]):
    """Batches of indices of similar length, in a random order that changes every epoch.

    Shuffle all indices (seed + epoch), cut them into pools of `pool_batches` batches, sort
    each pool by length and cut it into batches, then shuffle the batches. Every index appears
    once per epoch; only the last batch may be short. Single-device only: the DataModule falls
    back to plain shuffling (Lightning's DistributedSampler) when training on several devices.
    """

    def __init__(self, lengths: list[int], *, batch_size: int, seed: int = 0,
                 pool_batches: int = 32) -> None:
        self.lengths, self.batch_size, self.seed = lengths, batch_size, seed
        self.pool = batch_size * pool_batches
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:  # Lightning calls it before every epoch
        self.epoch = epoch

    def __iter__(self):
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        order = torch.randperm(len(self.lengths), generator=generator).tolist()
        batches = []
        for start in range(0, len(order), self.pool):
            pool = sorted(order[start : start + self.pool], key=self.lengths.__getitem__)
            batches += [pool[i : i + self.batch_size] for i in range(0, len(pool), self.batch_size)]
        for k in torch.randperm(len(batches), generator=generator).tolist():
            yield batches[k]

    def __len__(self) -> int:
        return -(-len(self.lengths) // self.batch_size)


class FinetuneDataModule(L.LightningDataModule):
    """Batches of one fine-tuning task (sentiment, ner or headline)."""

    def __init__(self, task: str = "sentiment", data_dir: str = "data_samples",
                 vocab_file: str | None = None, batch_size: int = 16, eval_batch_size: int = 32,
                 max_len: int = 128, max_target_len: int = 32,
                 train_examples: int | None = None, seed: int = 0, num_workers: int = 0) -> None:
        """
        Args:
            task: "sentiment" (reviews/), "ner" (ner/) or "headline" (news/).
            data_dir: A data folder in the shipped layout; a relative path that does not exist
                is looked up in the repository root.
            vocab_file: The tokenizer's vocab.txt (the model's); default ``<data_dir>/vocab.txt``.
            batch_size: Training examples per step.
            eval_batch_size: Examples per validation / test batch.
            max_len: Longest input in tokens, [CLS] and [SEP]s included (longer ones are cut).
            max_target_len: Headline task: longest headline in tokens (the body gets the rest).
            train_examples: Use only the first N training records (few-shot runs, quick
                checks); None: all of them.
            seed: Seed of the training shuffle.
            num_workers: DataLoader worker processes.
        """
        super().__init__()
        if task not in TASKS:
            raise ValueError(f"{NAME}.task={task!r} must be one of {TASKS}")
        for name, value, minimum in (("batch_size", batch_size, 1),
                                     ("eval_batch_size", eval_batch_size, 1),
                                     ("max_len", max_len, 3), ("max_target_len", max_target_len, 1),
                                     ("seed", seed, 0), ("num_workers", num_workers, 0),
                                     ("train_examples", train_examples, 1)):
            if name == "train_examples" and value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise ValueError(f"{NAME}.{name}={value!r} must be an int >= {minimum}")
        if task == "headline" and max_len < max_target_len + 3:
            raise ValueError(f"{NAME}.max_len={max_len} must be >= max_target_len + 3 = "
                             f"{max_target_len + 3} (body, [SEP], headline, [SEP])")
        self.save_hyperparameters()
        self.task, self.batch_size, self.eval_batch_size = task, batch_size, eval_batch_size
        self.max_len, self.max_target_len = max_len, max_target_len
        self.seed, self.num_workers, self.train_examples = seed, num_workers, train_examples
        self.data_dir = resolve_data_dir(data_dir, owner=f"{NAME}.data_dir")
        vocab = Path(vocab_file) if vocab_file is not None else self.data_dir / "vocab.txt"
        if not vocab.is_file():
            raise FileNotFoundError(f"{NAME}.vocab_file: no vocabulary file {vocab}")
        self.tokenizer = CharTokenizer.from_file(vocab)
        self.vocab_size = self.tokenizer.vocab_size
        self._records: dict[str, list[Any]] = {}
        self._whole_train: list[Any] = []  # before `train_examples` cuts it: the label checks
        self._examples: dict[str, list[dict[str, Any]]] = {}
        #: the label names the model predicts, from the training split (None for headlines)
        self.labels = task_labels(self.records("train"), task)
        check_classes(self.labels, path=task_file(self.data_dir, task, "train"))

    def records(self, split: str) -> list[Any]:
        """The parsed records of a split (read once); an empty split raises."""
        if split not in self._records:
            records = read_split(self.data_dir, self.task, split)
            check_not_empty(records, path=task_file(self.data_dir, self.task, split))
            if split == "train":
                self._whole_train = records
            limit = self.train_examples if split == "train" else None
            self._records[split] = records[:limit]
        return self._records[split]

    def check_splits(self, splits: tuple[str, ...] = SPLITS) -> None:
        """Read `splits` (and train) now, so an empty split or a label of valid/test that the
        training split lacks stops the run before it trains (see `checks.py`)."""
        others = {s: (task_file(self.data_dir, self.task, s), self.records(s))
                  for s in splits if s != "train"}
        self.records("train")
        train = (task_file(self.data_dir, self.task, "train"), self._whole_train)
        check_label_sets(self.task, train, others)

    def examples(self, split: str) -> list[dict[str, Any]]:
        """The model inputs of a split (built once)."""
        if split not in self._examples:
            records = self.records(split)
            if split == "train" or self.task == "sentiment":  # eval tags may be unknown: misses
                check_labels(records, self.task, self.labels,
                             path=task_file(self.data_dir, self.task, split))
            self._examples[split] = build_examples(
                records, self.task, self.tokenizer, labels=self.labels, max_len=self.max_len,
                max_target_len=self.max_target_len)
        return self._examples[split]

    def use_model_vocabulary(self, tokenizer: CharTokenizer, labels: list[str] | None) -> None:
        """Build inputs with a model's own tokenizer and label ids (evaluating a checkpoint whose
        vocabulary or label order is not this folder's); examples are rebuilt."""
        self.tokenizer, self.vocab_size, self.labels = tokenizer, tokenizer.vocab_size, labels
        self._examples = {}

    def setup(self, stage: str | None = None) -> None:
        wanted = {"fit": ("train", "valid"), "validate": ("valid",), "test": ("test",)}
        for split in wanted.get(stage, SPLITS):
            self.examples(split)

    def _loader(self, examples: list[dict[str, Any]], **kwargs: Any) -> DataLoader:
        return DataLoader(examples, num_workers=self.num_workers,
                          collate_fn=partial(collate_examples, pad_id=self.tokenizer.pad_id),
                          persistent_workers=self.num_workers > 0, **kwargs)

    def train_dataloader(self) -> DataLoader:
        examples = self.examples("train")
        if self.trainer is not None and self.trainer.world_size > 1:
            generator = torch.Generator().manual_seed(self.seed)
            return self._loader(examples, shuffle=True, generator=generator,
                                batch_size=self.batch_size)
        lengths = [ex["input_ids"].numel() for ex in examples]
        sampler = BucketBatchSampler(lengths, batch_size=self.batch_size, seed=self.seed)
        return self._loader(examples, batch_sampler=sampler)

    def eval_dataloader(self, split: str) -> DataLoader:
        """Unshuffled batches of any split (``"train"`` too: how well the model fits it)."""
        # metrics are sums over examples, so the order is free: shortest first, least padding
        examples = sorted(self.examples(split), key=lambda ex: ex["input_ids"].numel())
        return self._loader(examples, batch_size=self.eval_batch_size)

    def val_dataloader(self) -> DataLoader:
        return self.eval_dataloader("valid")

    def test_dataloader(self) -> DataLoader:
        return self.eval_dataloader("test")
