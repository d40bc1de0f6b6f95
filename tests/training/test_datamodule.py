"""Multi-task batches on real data (ernie3_lite/training/datamodule.py and multitask.py)."""

from __future__ import annotations

import logging
from itertools import islice

import lightning as L  # noqa: F401  (imported first so its loggers exist before we quiet them)
import pytest
import torch

from ernie3_lite import DATA_SAMPLES
from ernie3_lite.data.corpus import PretrainingCorpus
from ernie3_lite.data.dlm import DocumentStream
from ernie3_lite.data.masking import IGNORE_INDEX
from ernie3_lite.training.datamodule import TASKS, Ernie3DataModule, Progress

for _name in ("lightning.pytorch", "lightning.fabric"):
    logging.getLogger(_name).setLevel(logging.ERROR)

SMALL = dict(data_dir=str(DATA_SAMPLES), batch_size=4, max_len=64, dlm_batch_size=3, seg_len=16,
             val_batches=3)
NLU_KEYS = {"input_ids", "token_type_ids", "task_type_ids", "attention_mask", "labels"}
DLM_KEYS = {"input_ids", "labels", "task_type_ids", "reset"}


def make(rank: int = 0, world_size: int = 1, **overrides) -> Ernie3DataModule:
    dm = Ernie3DataModule(**{**SMALL, **overrides})
    dm.setup("fit", rank=rank, world_size=world_size)
    return dm


def take(dm: Ernie3DataModule, n: int) -> list[dict]:
    return list(islice(iter(dm.train_dataloader()), n))


def assert_same(a: list[dict], b: list[dict], tasks: tuple[str, ...] | None = None) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert x.keys() == y.keys()
        for task in tasks or x:
            assert x[task].keys() == y[task].keys()
            for key in x[task]:
                assert torch.equal(x[task][key], y[task][key]), (task, key)


def differs(a: list[dict], b: list[dict], task: str) -> bool:
    return any(not torch.equal(x[task]["input_ids"], y[task]["input_ids"])
               if x[task]["input_ids"].shape == y[task]["input_ids"].shape else True
               for x, y in zip(a, b, strict=True))


@pytest.fixture(scope="module")
def dm() -> Ernie3DataModule:
    data = Ernie3DataModule(**SMALL)
    data.prepare_data()  # warms jieba's disk cache once for every later data module
    data.setup("fit")
    return data


@pytest.fixture(scope="module")
def batches(dm) -> list[dict]:
    return take(dm, 6)


# ---- the batch contract ----------------------------------------------------------------------
def test_batch_has_every_task_with_the_contract_keys_and_shapes(dm, batches):
    for batch in batches:
        assert tuple(batch) == TASKS
        for task in ("kmlm", "uktp", "sr", "sd"):
            b = batch[task]
            assert set(b) == NLU_KEYS
            rows, length = b["input_ids"].shape
            assert rows == 4 and length <= 64
            for key in ("token_type_ids", "task_type_ids", "attention_mask"):
                assert b[key].shape == (rows, length) and b[key].dtype == torch.long
            assert b["labels"].shape == ((rows, length) if task in ("kmlm", "uktp") else (rows,))
            assert (b["task_type_ids"] == 0).all()  # TaskType.NLU
            # padding is exactly where the attention mask is 0
            assert torch.equal(b["attention_mask"] == 0, b["input_ids"] == dm.tokenizer.pad_id)
        d = batch["dlm"]
        assert set(d) == DLM_KEYS
        assert d["input_ids"].shape == d["labels"].shape == d["task_type_ids"].shape == (3, 16)
        assert (d["task_type_ids"] == 1).all()  # TaskType.NLG
        assert d["reset"].shape == () and d["reset"].dtype == torch.bool


def test_labels_are_valid_for_every_task(dm, batches):
    vocab = dm.vocab_size
    assert dm.num_sr_classes == 9  # 1! + 2! + 3!
    for batch in batches:
        for task in ("kmlm", "uktp"):
            labels = batch[task]["labels"]
            masked = labels != IGNORE_INDEX
            assert ((labels >= 0) & (labels < vocab) | ~masked).all()
            assert masked.any(dim=1).all()  # every row has something to predict
            assert not (masked & (batch[task]["attention_mask"] == 0)).any()
        assert ((batch["sr"]["labels"] >= 0) & (batch["sr"]["labels"] < 9)).all()
        assert set(batch["sd"]["labels"].tolist()) <= {0, 1, 2}
        for task in TASKS:
            ids = batch[task]["input_ids"]
            assert ids.min() >= 0 and ids.max() < vocab
        assert batch["dlm"]["labels"].min() >= 0 and batch["dlm"]["labels"].max() < vocab


def test_all_sentence_distance_classes_and_several_reorderings_occur(dm):
    many = take(dm, 20)
    assert set(torch.cat([b["sd"]["labels"] for b in many]).tolist()) == {0, 1, 2}
    assert len(set(torch.cat([b["sr"]["labels"] for b in many]).tolist())) >= 3


def test_weight_zero_drops_the_task():
    data = make(task_weights={"sr": 0.0, "dlm": 0, "uktp": 2.5})
    assert data.tasks == ("kmlm", "sd", "uktp")
    assert data.task_weights == {"kmlm": 1.0, "dlm": 0.0, "sr": 0.0, "sd": 1.0, "uktp": 2.5}
    for batch in take(data, 2):
        assert tuple(batch) == ("kmlm", "sd", "uktp")


# ---- document LM stream ------------------------------------------------------------------------
def test_dlm_segments_continue_row_by_row_and_reset_only_at_a_pass_start():
    data = make(task_weights={t: float(t == "dlm") for t in TASKS}, dlm_batch_size=8, seg_len=512)
    corpus = PretrainingCorpus(DATA_SAMPLES, split="train")
    reference = DocumentStream.from_documents(
        corpus.document_tokens(), sep_id=corpus.tokenizer.sep_id, batch_size=8, seg_len=512)
    passes = len(reference)
    got = [b["dlm"] for b in take(data, 2 * passes + 3)]
    for k, seg in enumerate(got):  # the brute-force truth: DocumentStream, pass after pass
        want = list(reference)[k % passes]
        assert torch.equal(seg["input_ids"], want["input_ids"])
        assert torch.equal(seg["labels"], want["labels"])
        assert bool(seg["reset"]) == (k % passes == 0)
    for prev, seg in zip(got, got[1:], strict=False):
        if not seg["reset"]:  # memory flows: the next input is the previous segment's last label
            assert torch.equal(seg["input_ids"][:, 0], prev["labels"][:, -1])


def test_two_ranks_get_disjoint_dlm_rows_and_their_own_deterministic_nlu_batches(dm, batches):
    rank0, rank1 = make(rank=0, world_size=2), make(rank=1, world_size=2)
    first0, first1 = take(rank0, 3), take(rank1, 3)
    documents = PretrainingCorpus(DATA_SAMPLES, split="train").document_tokens()
    for rank, first in ((0, first0), (1, first1)):
        reference = DocumentStream.from_documents(
            documents, sep_id=dm.tokenizer.sep_id, batch_size=3, seg_len=16, rank=rank,
            world_size=2)
        for got, want in zip(first, reference, strict=False):
            assert torch.equal(got["dlm"]["input_ids"], want["input_ids"])
    rows0, rows1 = rank0._train.dlm_rows, rank1._train.dlm_rows
    assert rows0.shape == rows1.shape
    # the ranks' rows are neighbouring slices of one stream cut into 2 * 3 rows
    whole = torch.cat([rows0, rows1]).flatten()
    stream = torch.tensor([t for doc in documents for t in (*doc, dm.tokenizer.sep_id)])
    assert torch.equal(whole, stream[: whole.numel()])
    for task in ("kmlm", "uktp", "sr", "sd"):
        assert differs(first0, first1, task)
    # rank 0 of 2 samples NLU examples like a single process (seed + 0)
    assert_same(first0, batches[:3], tasks=("kmlm", "uktp", "sr", "sd"))
    assert_same(first1, take(make(rank=1, world_size=2), 3))


# ---- determinism ---------------------------------------------------------------------------------
def test_same_seed_same_batches_other_seed_other_batches(batches):
    assert_same(take(make(), 6), batches)
    other = take(make(seed=1), 6)
    for task in ("kmlm", "uktp", "sr", "sd"):
        assert differs(other, batches, task)


def test_workers_yield_the_same_batches_as_one_process(batches):
    assert_same(take(make(num_workers=2), 6), batches)


def test_a_stream_started_at_batch_k_continues_the_full_stream(dm, batches):
    dm._train.first_batch = 4  # what train_dataloader does for a run resumed at step 4
    try:
        assert_same(take(dm, 2), batches[4:6])
    finally:
        dm._train.first_batch = 0


# ---- progressive sizes ---------------------------------------------------------------------------
def test_set_progress_sizes_the_next_batches_and_keeps_the_stream_contiguous():
    data = make()
    before = take(data, 1)[0]
    it = iter(data.train_dataloader())
    first = next(it)
    data.set_progress(seq_len=32, batch_size=2)
    nxt = next(it)
    assert data.progress == Progress(32, 2)
    for task in ("kmlm", "uktp", "sr", "sd"):
        assert first[task]["input_ids"].shape[0] == 4
        assert nxt[task]["input_ids"].shape[0] == 2 and nxt[task]["input_ids"].shape[1] <= 32
    assert nxt["kmlm"]["input_ids"].shape[1] == 32  # packed text fills the shorter length
    assert first["dlm"]["input_ids"].shape == (3, 16)
    assert nxt["dlm"]["input_ids"].shape == (3, 8)  # 16 * 32 / 64, rows unchanged
    assert torch.equal(nxt["dlm"]["input_ids"][:, 0], first["dlm"]["labels"][:, -1])
    assert torch.equal(first["kmlm"]["input_ids"], before["kmlm"]["input_ids"])


def test_a_progress_schedule_sizes_each_batch_by_its_step():
    data = make()
    data.set_progress_schedule(lambda step: Progress(16 + 8 * min(step, 6), 1 + step % 4))
    for step, batch in enumerate(take(data, 7)):
        seq_len = 16 + 8 * min(step, 6)
        for task in ("kmlm", "uktp", "sr", "sd"):
            assert batch[task]["input_ids"].shape[0] == 1 + step % 4
            assert batch[task]["input_ids"].shape[1] <= seq_len
        assert batch["dlm"]["input_ids"].shape[1] == max(8, round(16 * seq_len / 64))
    data.set_progress_schedule(lambda step: Progress(72, 4))
    with pytest.raises(ValueError, match="seq_len=72 must be in \\[min_seq_len=10, max_len=64\\]"):
        take(data, 1)


@pytest.mark.parametrize("seq_len, batch_size, fragment", [
    (65, 2, "seq_len=65"), (9, 2, "min_seq_len=10"), (32, 5, "batch_size=5"),
])
def test_set_progress_checks_the_sizes(dm, seq_len, batch_size, fragment):
    with pytest.raises(ValueError, match=fragment):
        dm.set_progress(seq_len=seq_len, batch_size=batch_size)


# ---- validation ------------------------------------------------------------------------------
def test_validation_batches_are_fixed_and_have_their_own_stream(dm, batches):
    first, second = list(dm.val_dataloader()), list(dm.val_dataloader())
    assert len(first) == 3
    assert_same(first, second)
    assert [bool(b["dlm"]["reset"]) for b in first] == [True, False, False]
    for prev, seg in zip(first, first[1:], strict=False):
        assert torch.equal(seg["dlm"]["input_ids"][:, 0], prev["dlm"]["labels"][:, -1])
    assert not torch.equal(first[0]["dlm"]["input_ids"], batches[0]["dlm"]["input_ids"])


# ---- arguments ---------------------------------------------------------------------------------
@pytest.mark.parametrize("overrides, fragment", [
    ({"batch_size": 0}, "Ernie3DataModule.batch_size=0 must be >= 1"),
    ({"dlm_batch_size": -1}, "Ernie3DataModule.dlm_batch_size=-1 must be >= 1"),
    ({"seg_len": 0}, "Ernie3DataModule.seg_len=0"),
    ({"max_len": 7}, "Ernie3DataModule.max_len=7 must be >= 8"),
    ({"val_batches": 0}, "Ernie3DataModule.val_batches=0"),
    ({"num_workers": -1}, "Ernie3DataModule.num_workers=-1"),
    ({"uktp_relation_prob": 1.5}, "Ernie3DataModule.uktp_relation_prob=1.5"),
    ({"task_weights": {"mlm": 1.0}}, "Ernie3DataModule.task_weights has unknown tasks \\['mlm'\\]"),
    ({"task_weights": {"sr": -1}}, "Ernie3DataModule.task_weights\\['sr'\\]=-1"),
    ({"task_weights": dict.fromkeys(TASKS, 0)}, "at least one task"),
    ({"data_dir": "no/such/dir"}, "Ernie3DataModule.data_dir='no/such/dir'"),
])
def test_bad_arguments_are_named(overrides, fragment):
    with pytest.raises((ValueError, TypeError, FileNotFoundError), match=fragment):
        Ernie3DataModule(**{**SMALL, **overrides})


def test_batch_size_must_be_an_int():
    with pytest.raises(TypeError, match="Ernie3DataModule.batch_size=2.0 must be an int"):
        Ernie3DataModule(**{**SMALL, "batch_size": 2.0})


def test_max_len_too_short_for_uktp_names_max_len():
    with pytest.raises(ValueError, match="Ernie3DataModule.max_len=8 is too short"):
        make(max_len=8)
    make(max_len=8, task_weights={"uktp": 0})  # without UKTP, 8 fits sentence reordering


def test_dataloaders_need_setup():
    data = Ernie3DataModule(**SMALL)
    assert data.vocab_size == data.tokenizer.vocab_size  # known before setup, for the CLI
    with pytest.raises(RuntimeError, match="call setup"):
        data.train_dataloader()
    with pytest.raises(RuntimeError, match="call setup"):
        data.set_progress(seq_len=32, batch_size=2)
