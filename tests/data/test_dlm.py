"""Document LM streams and segments on real documents (ernie3_lite/data/dlm.py)."""

from __future__ import annotations

from functools import cache

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from ernie3_lite import DATA_SAMPLES
from ernie3_lite.data.collate import TaskType
from ernie3_lite.data.dlm import DocumentStream, dlm_segment
from ernie3_lite.data.formats import read_news
from ernie3_lite.tokenization import CharTokenizer


# ---- real data: the People's Daily slice in data_samples/ -------------------------------------
@cache
def documents() -> list[str]:
    return ["".join(d.paragraphs) for d in read_news(DATA_SAMPLES / "news" / "train.jsonl")]


@cache
def tokenizer() -> CharTokenizer:
    return CharTokenizer.from_file(DATA_SAMPLES / "vocab.txt")


@cache
def stream() -> list[int]:
    """The documents as one token stream, [SEP] after each (what `from_documents` builds)."""
    tok = tokenizer()
    return [t for doc in documents() for t in (*tok.encode(doc), tok.sep_id)]


def rows_of(ds: DocumentStream) -> torch.Tensor:
    """Glue the segments back together per row: inputs, then the very last label."""
    segments = list(ds)
    inputs = torch.cat([s["input_ids"] for s in segments], dim=1)  # (B, num_targets)
    return torch.cat([inputs, segments[-1]["labels"][:, -1:]], dim=1)  # (B, num_targets + 1)


def test_from_documents_joins_with_sep():
    tok = tokenizer()
    ds = DocumentStream.from_documents(
        (tok.encode(d) for d in documents()), sep_id=tok.sep_id, batch_size=1, seg_len=64
    )
    assert rows_of(ds)[0].tolist() == stream()  # one row: the whole stream, nothing dropped


@settings(max_examples=40, deadline=None)
@given(batch_size=st.integers(1, 8), seg_len=st.integers(16, 400), drop_last=st.booleans())
def test_segments_reassemble_each_row_and_labels_are_shifted_inputs(batch_size, seg_len, drop_last):
    data = torch.tensor(stream())
    ds = DocumentStream(data, batch_size=batch_size, seg_len=seg_len, drop_last=drop_last)
    row_len = data.numel() // batch_size
    segments = list(ds)
    assert len(segments) == len(ds) > 0
    for k, seg in enumerate(segments):
        x, y = seg["input_ids"], seg["labels"]
        assert x.shape == y.shape and x.shape[0] == batch_size
        assert x.shape[1] == seg_len or (k == len(segments) - 1 and not drop_last)
        assert seg["reset"] == (k == 0)
        assert torch.equal(y[:, :-1], x[:, 1:])  # next token inside the segment
        if k + 1 < len(segments):  # ... and across the boundary: memory sees a continuous text
            assert torch.equal(y[:, -1], segments[k + 1]["input_ids"][:, 0])
        assert bool((seg["task_type_ids"] == TaskType.NLG).all())
    if not drop_last:  # rows in order are the stream, cut into equal contiguous pieces
        assert torch.equal(rows_of(ds).flatten(), data[: batch_size * row_len])
    else:
        covered = sum(s["input_ids"].shape[1] for s in segments)
        assert covered == (row_len - 1) // seg_len * seg_len


@settings(max_examples=30, deadline=None)
@given(start=st.integers(0, 600), length=st.integers(1, 300))
def test_a_segment_at_any_offset_and_length_reads_the_rows_and_the_next_tokens(start, length):
    rows = DocumentStream(torch.tensor(stream()), batch_size=3, seg_len=1).rows  # (3, row_len)
    seg = dlm_segment(rows, start=start, length=length)
    stop = min(start + length, rows.shape[1] - 1)  # the last token of a row has no label
    assert torch.equal(seg["input_ids"], rows[:, start:stop])
    assert torch.equal(seg["labels"], rows[:, start + 1 : stop + 1])
    assert seg["reset"].dtype == torch.bool and bool(seg["reset"]) == (start == 0)
    assert bool((seg["task_type_ids"] == TaskType.NLG).all())


@pytest.mark.parametrize("world_size, batch_size", [(2, 3), (3, 2), (4, 1)])
def test_rank_shards_are_disjoint_contiguous_and_cover_the_stream(world_size, batch_size):
    data = torch.tensor(stream())
    shards = [
        DocumentStream(data, batch_size=batch_size, seg_len=100, rank=r, world_size=world_size)
        for r in range(world_size)
    ]
    assert len({len(s) for s in shards}) == 1  # every rank runs the same number of steps
    glued = torch.cat([rows_of(s).flatten() for s in shards])  # rank 0 rows, rank 1 rows, ...
    n_rows = world_size * batch_size
    assert torch.equal(glued, data[: data.numel() // n_rows * n_rows])
    assert data.numel() - glued.numel() < n_rows  # only the ragged tail is dropped


def test_rejects_bad_arguments():
    data = torch.tensor(stream()[:10])
    with pytest.raises(ValueError, match="rank"):
        DocumentStream(data, batch_size=1, seg_len=4, rank=2, world_size=2)
    with pytest.raises(ValueError, match="cannot fill"):
        DocumentStream(data, batch_size=6, seg_len=4)
    with pytest.raises(ValueError, match="seg_len"):
        DocumentStream(data, batch_size=1, seg_len=0)
