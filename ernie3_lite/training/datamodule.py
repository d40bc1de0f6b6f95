"""`Ernie3DataModule`: the five pre-training tasks as one stream of multi-task batches (§3.2, §3.3).

Each training batch is a dict with one micro-batch per enabled task (ERNIE 3.0 arXiv 2107.02137
§3.3.3 counts "the total batch size of all pre-training tasks"):

    {"kmlm": {input_ids, token_type_ids, task_type_ids, attention_mask, labels (B, T)},
     "uktp": {... the same keys as kmlm},
     "sr":   {input_ids, token_type_ids, task_type_ids, attention_mask (B, T), labels (B,) < k},
     "sd":   {... as sr, labels (B,) in {0, 1, 2}},
     "dlm":  {input_ids, labels, task_type_ids (Bd, L), reset: bool tensor ()}}

The train loader is endless (drive the Trainer with `max_steps`, and give `val_check_interval`
as an int) and deterministic given (seed, rank): see `multitask.py` for how batch k is built.
It is an IterableDataset of ready batches (``DataLoader(batch_size=None)``), so Lightning neither
shuffles it nor shards it: each rank reads its own contiguous document-LM rows, as the recurrence
memory needs (Transformer-XL arXiv 1901.02860 §3.2), and samples NLU examples with seed + rank.

Task weights live here. A weight of 0 removes the task from every batch; a positive weight does
not change how many examples the task gets (one micro-batch per step). The LightningModule
multiplies each task's loss by the same numbers, read from `task_weights` (the CLI links
``data.task_weights`` to the module), so there is one place to set them.

`masking_units` picks what the masked tasks (KMLM, and UKTP's sentence side) hide: "mixed" is
ERNIE 1.0's knowledge masking (characters, phrases and entities, arXiv 1904.09223 §3.2),
"char" single characters only (BERT's masking, the baseline of ERNIE 1.0 §4). UKTP's masked
relation stays one whole unit either way: that is the task, not a choice of masking.
"""

from __future__ import annotations

import math
from itertools import islice
from pathlib import Path

import lightning as L
from torch.utils.data import DataLoader

from ernie3_lite import PACKAGE_ROOT
from ernie3_lite.data.corpus import PretrainingCorpus, check_splits_have_records
from ernie3_lite.data.segmentation import Segmenter
from ernie3_lite.data.sentence_tasks import num_reorder_classes
from ernie3_lite.errors import check_int
from ernie3_lite.tokenization import CharTokenizer
from ernie3_lite.training.multitask import (
    TASKS,
    FixedBatches,
    MultiTaskStream,
    NLUBatches,
    Progress,
    ProgressSchedule,
    TaskData,
)
from ernie3_lite.training.parallel import data_parallel_coordinates
from ernie3_lite.training.settings import complete_task_weights

__all__ = ["TASKS", "Ernie3DataModule", "Progress"]

NAME = "Ernie3DataModule"
MASKING_UNITS = ("mixed", "char")  # knowledge masking (ERNIE 1.0) / characters only (BERT)


class Ernie3DataModule(L.LightningDataModule):
    """Knowledge masked LM, document LM, sentence reordering, sentence distance and UKTP batches."""

    def __init__(
        self,
        data_dir: str = "data_samples",
        batch_size: int = 8,
        max_len: int = 128,
        dlm_batch_size: int = 4,
        seg_len: int = 128,
        task_weights: dict[str, float] | None = None,
        max_segments: int = 3,
        uktp_relation_prob: float = 0.5,
        seed: int = 0,
        val_batches: int = 4,
        num_workers: int = 0,
        masking_units: str = "mixed",
        poetry_share: float = 0.0,
    ):
        """
        Args:
            data_dir: Data folder (the `data_samples/` layout); a relative path that does not
                exist is looked up in the repository root.
            batch_size: Rows of each NLU micro-batch (kmlm, uktp, sr, sd) per step and rank.
            max_len: Longest NLU input in tokens, [CLS] and [SEP]s included.
            dlm_batch_size: Rows of the document-LM stream per rank (parallel streams).
            seg_len: Document-LM segment length (tokens per row and step).
            task_weights: Weight per task name (kmlm, dlm, sr, sd, uktp), 1.0 when missing; 0
                drops the task. The module scales each task's loss by it.
            max_segments: m of sentence reordering (k = 1! + ... + m! classes).
            uktp_relation_prob: Chance that UKTP masks the relation instead of the sentence.
            seed: Base seed; rank r samples NLU examples with seed + r.
            val_batches: Validation batches (each with every task), built once in `setup`.
            num_workers: DataLoader worker processes for training (the batches do not change).
            masking_units: "mixed" (characters, phrases, entities: `MaskingConfig`'s mix) or
                "char" (single characters only) for KMLM and UKTP's masked sentences.
            poetry_share: Classical-poem characters per news character in the document LM and
                KMLM text (`PretrainingCorpus`); 0 = news only. Above 0 the tokenizer is the
                folder's vocab_poetry.txt (vocab.txt's ids, then poetry characters), so the
                model's vocab_size grows with it.
        """
        super().__init__()
        check_int(f"{NAME}.batch_size", batch_size, minimum=1)
        check_int(f"{NAME}.dlm_batch_size", dlm_batch_size, minimum=1)
        check_int(f"{NAME}.seg_len", seg_len, minimum=1)
        check_int(f"{NAME}.max_segments", max_segments, minimum=1)
        check_int(f"{NAME}.max_len", max_len, minimum=2 + 2 * max_segments)  # room for m [SEP]s
        check_int(f"{NAME}.seed", seed, minimum=0)
        check_int(f"{NAME}.val_batches", val_batches, minimum=1)
        check_int(f"{NAME}.num_workers", num_workers, minimum=0)
        if not 0.0 <= uktp_relation_prob <= 1.0:
            raise ValueError(f"{NAME}.uktp_relation_prob={uktp_relation_prob!r} must be in [0, 1]")
        if masking_units not in MASKING_UNITS:
            raise ValueError(f"{NAME}.masking_units={masking_units!r} must be one of "
                             f"{MASKING_UNITS}")
        if isinstance(poetry_share, bool) or not isinstance(poetry_share, int | float) \
                or not 0 <= poetry_share < math.inf:
            raise ValueError(f"{NAME}.poetry_share={poetry_share!r} must be a number >= 0")
        self.save_hyperparameters()
        self.data_dir = _resolve_data_dir(data_dir)
        self.poetry_share = float(poetry_share)
        self.task_weights = complete_task_weights(task_weights, owner=NAME)
        self.tasks = tuple(t for t in TASKS if self.task_weights[t] > 0)
        check_splits_have_records(self.data_dir, self.tasks)  # before hours of segmenting
        self.batch_size, self.max_len, self.max_segments = batch_size, max_len, max_segments
        self.dlm_batch_size, self.seg_len, self.seed = dlm_batch_size, seg_len, seed
        self.val_batches, self.num_workers = val_batches, num_workers
        self.relation_prob, self.masking_units = uktp_relation_prob, masking_units
        self.num_sr_classes = num_reorder_classes(max_segments)  # k, for the SR head
        vocab = self.data_dir / ("vocab_poetry.txt" if poetry_share else "vocab.txt")
        if not vocab.is_file():
            raise FileNotFoundError(f"{NAME}.poetry_share={poetry_share}: no {vocab.name} in "
                                    f"{self.data_dir} (build it with the poetry corpus: npm)")
        self.tokenizer = CharTokenizer.from_file(vocab)
        self.vocab_size = self.tokenizer.vocab_size
        self._segmenter: Segmenter | None = None
        self._train: MultiTaskStream | None = None
        self._valid: list | None = None

    # ---- Lightning hooks ---------------------------------------------------------------------
    def prepare_data(self) -> None:
        """Segment every text the masked tasks use once, so `setup` reads jieba's disk cache."""
        if not {"kmlm", "uktp"} & set(self.tasks) or self.masking_units == "char":
            return
        for split in ("train", "valid"):
            corpus = self._corpus(split)
            for text in corpus.sentences():
                corpus.encode(text)
            for pair in corpus.aligned:
                corpus.encode(pair["sentence"])
        self.segmenter.flush()

    def setup(
        self, stage: str | None = None, *, rank: int | None = None, world_size: int | None = None
    ) -> None:
        """Encode the splits and build this rank's streams. `rank` / `world_size` default to the
        attached Trainer's (0 / 1 without one); pass them to try a rank without a process group."""
        if self.trainer is not None:
            # tensor-parallel ranks of one group must read the same batches
            dp_rank, dp_size = data_parallel_coordinates(self.trainer)
            rank = dp_rank if rank is None else rank
            world_size = dp_size if world_size is None else world_size
        rank, world_size = rank or 0, world_size or 1
        if not 0 <= rank < world_size:
            raise ValueError(f"{NAME}.setup: rank={rank} must be in [0, world_size={world_size})")
        if stage in (None, "fit"):
            self._train = self._stream("train", rank=rank, world_size=world_size)
        if stage in (None, "fit", "validate"):
            valid = self._stream("valid", rank=rank, world_size=world_size)
            self._valid = list(islice(iter(valid), self.val_batches))
        self.segmenter.flush()

    def train_dataloader(self) -> DataLoader:
        stream = self._require_setup("train_dataloader")
        if self.trainer is not None:  # a resumed run continues with the batches it would have had
            stream.batches_per_step = self.trainer.accumulate_grad_batches
            stream.first_batch = self.trainer.global_step * stream.batches_per_step
        return DataLoader(stream, batch_size=None, num_workers=self.num_workers,
                          persistent_workers=self.num_workers > 0)

    def val_dataloader(self) -> DataLoader:
        if self._valid is None:
            raise RuntimeError(f"{NAME}.val_dataloader: call setup('fit' or 'validate') first")
        return DataLoader(FixedBatches(self._valid), batch_size=None)

    # ---- progressive learning (ERNIE 3.0 §3.3.1) ------------------------------------------------
    @property
    def min_seq_len(self) -> int:
        """Shortest NLU length every enabled task can be built at (known after `setup`)."""
        return self._require_setup("min_seq_len").min_seq_len

    @property
    def progress(self) -> Progress:
        """The sizes training batches are built with when no schedule is set."""
        return self._require_setup("progress").progress

    def set_progress(self, *, seq_len: int, batch_size: int) -> None:
        """Build the next training batches with NLU inputs of at most `seq_len` tokens and
        `batch_size` rows; document LM keeps its rows, its segment scaled by seq_len / max_len.

        Batches already built (Lightning prefetches one) keep their sizes; for sizes tied to
        exact steps use `set_progress_schedule`, as `ProgressiveLearning` does.
        """
        stream = self._require_setup("set_progress")
        if self.num_workers > 0:
            raise RuntimeError(f"{NAME}.set_progress needs num_workers=0 (workers hold copies); "
                               "use set_progress_schedule, which workers evaluate themselves")
        stream.progress = stream.check(Progress(seq_len, batch_size))

    def set_progress_schedule(self, schedule: ProgressSchedule | None) -> None:
        """Size the batch of optimizer step s as `schedule(s)` (None: back to `progress`)."""
        self._require_setup("set_progress_schedule").schedule = schedule

    # ---- helpers -------------------------------------------------------------------------------
    @property
    def segmenter(self) -> Segmenter:
        """One jieba segmenter for both splits (loading jieba is the slow part)."""
        if self._segmenter is None:
            self._segmenter = Segmenter.from_triples(self.data_dir / "kg" / "triples.tsv")
        return self._segmenter

    def _corpus(self, split: str) -> PretrainingCorpus:
        return PretrainingCorpus(self.data_dir, split=split, tokenizer=self.tokenizer,
                                 segmenter=self.segmenter,
                                 unit_spans=self.masking_units == "mixed",
                                 poetry_share=self.poetry_share)

    def _stream(self, split: str, *, rank: int, world_size: int) -> MultiTaskStream:
        data = TaskData.from_corpus(
            self._corpus(split), tasks=self.tasks, max_len=self.max_len,
            dlm_batch_size=self.dlm_batch_size, rank=rank, world_size=world_size,
        )
        nlu = NLUBatches(data, self.tokenizer, slot_width=self.batch_size,
                         max_segments=self.max_segments, relation_prob=self.relation_prob,
                         seed=self.seed + rank)
        stream = MultiTaskStream(nlu, data.dlm_rows, tasks=self.tasks, max_len=self.max_len,
                                 seg_len=self.seg_len, batch_size=self.batch_size)
        if stream.min_seq_len > self.max_len:
            raise ValueError(f"{NAME}.max_len={self.max_len} is too short: the {split} split "
                             f"needs {stream.min_seq_len} (UKTP's shortest triple + [CLS] + 2 "
                             "[SEP] + 1)")
        return stream

    def _require_setup(self, what: str) -> MultiTaskStream:
        if self._train is None:
            raise RuntimeError(f"{NAME}.{what}: call setup('fit') first")
        return self._train


def _resolve_data_dir(data_dir: str | Path) -> Path:
    path = Path(data_dir)
    if not path.exists() and not path.is_absolute():
        path = PACKAGE_ROOT.parent / path  # "data_samples" works from notebooks/ too
    if not (path / "vocab.txt").is_file():
        raise FileNotFoundError(f"{NAME}.data_dir={str(data_dir)!r}: no vocab.txt in {path}")
    return path
