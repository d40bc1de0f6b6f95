"""One micro-batch of every pre-training task per step (ERNIE 3.0 arXiv 2107.02137 §3.2, §3.3).

ERNIE 3.0 trains its five tasks together ("the total batch size of all pre-training tasks is set
to 6144", §3.3.3). We put one micro-batch of each enabled task into every training step, so each
optimizer step sees every task and, under DDP, no parameter goes unused.

Everything a batch contains is a pure function of its *batch index* k (and the seed and rank):

* NLU examples: batch k owns the example slots ``[k * batch_size, (k + 1) * batch_size)`` of an
  endless list made of seeded shuffles of the source, one shuffle per pass. A smaller progressive
  batch takes the first slots of its range and skips the rest, so sizes never shift later batches.
* masking and sampling: every builder's `rng` is reseeded from ``"{seed}/{task}/{k}"``.
* document LM: rows come from `DocumentStream` (contiguous, sharded per rank) and `dlm_segment`
  cuts batch k's segment (both in `data/dlm.py`); its offset is the sum of the segment lengths
  before it, wrapping to a new pass (``reset``) at the end.

So a resumed run continues with exactly the batches it would have seen, and DataLoader workers
can each build every n-th batch and still yield the same sequence as one process.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import NamedTuple

from torch import Tensor
from torch.utils.data import IterableDataset, get_worker_info

from ernie3_lite.data.collate import collate
from ernie3_lite.data.corpus import PretrainingCorpus, check_splits_have_records
from ernie3_lite.data.dlm import DocumentStream, dlm_segment
from ernie3_lite.data.formats import DataFormatError
from ernie3_lite.data.kmlm import KnowledgeMaskedLM, pack_documents
from ernie3_lite.data.masking import EncodedText
from ernie3_lite.data.sentence_tasks import SentenceDistance, SentenceReordering
from ernie3_lite.data.uktp import KnowledgeTextPrediction
from ernie3_lite.model.ernie3 import TASK_ROUTES

TASKS = tuple(TASK_ROUTES)  # ("kmlm", "dlm", "sr", "sd", "uktp")
NLU_TASKS = ("kmlm", "sr", "sd", "uktp")
MIN_DLM_SEG_LEN = 8  # progressive learning never shrinks a document-LM segment below this


class Progress(NamedTuple):
    """Sizes of the NLU micro-batches of one step: `seq_len` tokens at most, `batch_size` rows."""

    seq_len: int
    batch_size: int


ProgressSchedule = Callable[[int], Progress]  # optimizer step -> sizes of that step's batch


def check_progress(
    progress: Progress, *, min_seq_len: int, max_len: int, max_batch_size: int
) -> Progress:
    """`progress` itself, if every NLU task can be built at those sizes."""
    seq_len, batch_size = progress
    if not min_seq_len <= seq_len <= max_len:
        raise ValueError(f"progressive seq_len={seq_len} must be in [min_seq_len={min_seq_len}, "
                         f"max_len={max_len}]")
    if not 1 <= batch_size <= max_batch_size:
        raise ValueError(f"progressive batch_size={batch_size} must be in "
                         f"[1, batch_size={max_batch_size}]")
    return progress


@dataclass
class TaskData:
    """One split of the corpus, tokenized and segmented once; only enabled tasks are filled."""

    chunks: list[EncodedText]  # KMLM: a document's sentences packed up to max_len - 2 tokens
    triples: list[tuple[str, str, str, EncodedText]]  # UKTP: (head, relation, tail, sentence)
    triple_lens: list[int]  # tokens of head + relation + tail, to know what fits a seq_len
    paragraphs: list[list[list[int]]]  # SR: paragraphs of >= 2 sentences, as token ids
    documents: list[list[list[int]]]  # SD: each document as its sentences' token ids
    dlm_rows: Tensor | None  # DLM: (dlm_batch_size, row_len) this rank's rows of the stream

    @classmethod
    def from_corpus(
        cls, corpus: PretrainingCorpus, *, tasks: tuple[str, ...], max_len: int,
        dlm_batch_size: int, rank: int, world_size: int,
    ) -> TaskData:
        tok = corpus.tokenizer
        check_splits_have_records(corpus.data_dir, tasks, splits=(corpus.split,))
        known: dict[str, list[int]] = {}  # SR and SD share sentences; tokenizing is the slow part

        def ids(sentence: str) -> list[int]:
            if sentence not in known:
                known[sentence] = tok.encode(sentence)
            return known[sentence]

        chunks = []
        if "kmlm" in tasks:
            chunks = pack_documents(corpus, max_tokens=max_len - 2, known=known)
        triples = [
            (a["head"], a["relation"], a["tail"], corpus.encode(a["sentence"]))
            for a in (corpus.aligned if "uktp" in tasks else [])
        ]
        triple_lens = [sum(len(ids(part)) for part in t[:3]) for t in triples]
        paragraphs = [[ids(s) for s in p] for p in
                      (corpus.paragraph_sentences if "sr" in tasks else [])]
        documents = [[ids(s) for s in doc] for doc in
                     (corpus.document_sentences if "sd" in tasks else [])]
        rows = None
        if "dlm" in tasks:
            try:
                stream = DocumentStream.from_documents(
                    corpus.document_tokens(), sep_id=tok.sep_id, batch_size=dlm_batch_size,
                    seg_len=1, rank=rank, world_size=world_size)
            except ValueError as error:  # too little text: say which file
                raise DataFormatError(f"document LM: {error}",
                                      path=corpus.files["news"]) from error
            rows = stream.rows  # (dlm_batch_size, row_len), disjoint from other ranks' rows
        # a one-sentence paragraph can only give class 0 (one segment): nothing to learn
        paragraphs = [p for p in paragraphs if sum(1 for s in p if s) >= 2]
        return cls(chunks, triples, triple_lens, paragraphs, documents, rows)


class NLUBatches:
    """Builds micro-batch k of an NLU task at given sizes; a pure function of (seed, task, k)."""

    def __init__(
        self, data: TaskData, tokenizer, *, slot_width: int, max_segments: int,
        relation_prob: float, seed: int,
    ):
        self.data, self.tokenizer, self.slot_width = data, tokenizer, slot_width
        self.max_segments, self.relation_prob, self.seed = max_segments, relation_prob, seed
        self._builders: dict[tuple[str, int], object] = {}
        self._orders: dict[tuple[str, int, int], list[int]] = {}

    def min_seq_len(self, tasks: tuple[str, ...]) -> int:
        """The shortest NLU input every enabled task can still be built at (1: no NLU task)."""
        needs = {"kmlm": 3, "sd": 5, "sr": 2 + 2 * self.max_segments}
        if "uktp" in tasks:  # [CLS] triple [SEP] at least one sentence token [SEP]
            if not self.data.triples:
                raise ValueError("UKTP is enabled but the split has no aligned (triple, sentence)")
            needs["uktp"] = min(self.data.triple_lens) + 4
        return max((needs[t] for t in tasks if t in needs), default=1)

    def batch(self, task: str, index: int, progress: Progress) -> dict[str, Tensor]:
        builder = self._builder(task, progress.seq_len)
        builder.rng.seed(f"{self.seed}/{task}/{index}")  # a str seed is stable across processes
        if task == "sd":
            examples = [builder() for _ in range(progress.batch_size)]
        elif task == "uktp":
            examples = [builder(head=h, relation=r, tail=t, sentence=s)
                        for h, r, t, s in self._items(task, index, progress)]
        else:
            examples = [builder(item) for item in self._items(task, index, progress)]
        return collate(examples, pad_id=self.tokenizer.pad_id)

    def _builder(self, task: str, seq_len: int):
        """One builder per (task, seq_len): progressive learning visits only a few lengths."""
        key = (task, seq_len)
        if key not in self._builders:
            tok = self.tokenizer
            self._builders[key] = {
                "kmlm": lambda: KnowledgeMaskedLM(tok, max_len=seq_len),
                "uktp": lambda: KnowledgeTextPrediction(
                    tok, max_len=seq_len, relation_prob=self.relation_prob),
                "sr": lambda: SentenceReordering(
                    tok, max_len=seq_len, max_segments=self.max_segments),
                "sd": lambda: SentenceDistance(tok, self.data.documents, max_len=seq_len),
            }[task]()
        return self._builders[key]

    def _items(self, task: str, index: int, progress: Progress) -> list:
        source = {"kmlm": self.data.chunks, "sr": self.data.paragraphs,
                  "uktp": self.data.triples}[task]
        pool = range(len(source))
        if task == "uktp":  # the triple is never cut, so a short seq_len leaves some pairs out
            lens = self.data.triple_lens
            pool = [i for i in pool if lens[i] + 4 <= progress.seq_len]
        first = index * self.slot_width
        items = []
        for position in range(first, first + progress.batch_size):
            epoch, i = divmod(position, len(pool))
            items.append(source[pool[self._order(task, len(pool), epoch)[i]]])
        return items

    def _order(self, task: str, n: int, epoch: int) -> list[int]:
        """The shuffle of pass `epoch` over n items (cached: consecutive batches share it)."""
        key = (task, n, epoch)
        if key not in self._orders:
            if len(self._orders) > 32:
                self._orders.clear()
            order = list(range(n))
            random.Random(f"{self.seed}/{task}/pass{epoch}/{n}").shuffle(order)
            self._orders[key] = order
        return self._orders[key]


class MultiTaskStream(IterableDataset):
    """Endless collated batches ``{task: micro-batch}``; batch k is a pure function of k.

    Sizes come from `schedule(step)` when one is set (step = k // batches_per_step), else from
    `progress` (what `Ernie3DataModule.set_progress` last set).
    """

    def __init__(
        self, nlu: NLUBatches, dlm_rows: Tensor | None, *, tasks: tuple[str, ...],
        max_len: int, seg_len: int, batch_size: int,
    ):
        self.nlu, self.dlm_rows, self.tasks = nlu, dlm_rows, tasks
        self.max_len, self.seg_len, self.batch_size = max_len, seg_len, batch_size
        self.min_seq_len = nlu.min_seq_len(tasks)
        self.progress = Progress(max_len, batch_size)
        self.schedule: ProgressSchedule | None = None
        self.first_batch, self.batches_per_step = 0, 1  # a resumed run starts past batch 0

    def check(self, progress: Progress) -> Progress:
        return check_progress(Progress(*progress), min_seq_len=self.min_seq_len,
                              max_len=self.max_len, max_batch_size=self.batch_size)

    def sizes(self, index: int) -> Progress:
        if self.schedule is None:
            return self.progress
        return self.check(self.schedule(index // self.batches_per_step))

    def dlm_len(self, progress: Progress) -> int:
        """`seg_len` scaled like the NLU length, never below 8 (nor above `seg_len`)."""
        scaled = round(self.seg_len * progress.seq_len / self.max_len)
        return max(min(MIN_DLM_SEG_LEN, self.seg_len), min(scaled, self.seg_len))

    def __iter__(self) -> Iterator[dict[str, dict[str, Tensor]]]:
        worker = get_worker_info()
        worker_id, num_workers = (0, 1) if worker is None else (worker.id, worker.num_workers)
        offset, index, first = 0, 0, self.first_batch
        while True:
            progress = self.sizes(index)
            length = self.dlm_len(progress)
            # a batch is built by one worker; the others only move the stream offset past it
            if index >= first and (index - first) % num_workers == worker_id:
                yield self.build(index, progress, dlm_offset=offset, dlm_len=length)
            if self.dlm_rows is not None:
                offset += length
                offset = 0 if offset >= self.dlm_rows.shape[1] - 1 else offset
            index += 1

    def build(
        self, index: int, progress: Progress, *, dlm_offset: int, dlm_len: int
    ) -> dict[str, dict[str, Tensor]]:
        return {
            task: dlm_segment(self.dlm_rows, start=dlm_offset, length=dlm_len) if task == "dlm"
            else self.nlu.batch(task, index, progress)
            for task in self.tasks
        }


class FixedBatches(IterableDataset):
    """Already-built batches, the same every time (validation). Iterable, so under DDP Lightning
    adds no DistributedSampler: each rank already holds its own batches."""

    def __init__(self, batches: list[dict[str, dict[str, Tensor]]]):
        self.batches = batches

    def __iter__(self) -> Iterator[dict[str, dict[str, Tensor]]]:
        return iter(self.batches)

