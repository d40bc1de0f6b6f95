"""The segment cache is only an optimisation: when it cannot be written or a shard is corrupt,
segmentation goes on with one `SegmentCacheWarning` (issue 12 §3 and §4, segmentation.py).

A read-only cache folder crashed pre-training; a corrupt shard gave a bare decoding or JSON
error that named no file. The choice here, for a cache: warn once (naming the shard and line)
and segment those texts again, with the same results as a fresh Segmenter.
"""

from __future__ import annotations

import errno
import warnings

import pytest

from ernie3_lite import DATA_SAMPLES
from ernie3_lite.data import segmentation
from ernie3_lite.data.segmentation import SegmentCacheWarning, Segmenter
from ernie3_lite.training.datamodule import Ernie3DataModule

NAMES = {"中国", "北京", "人民日报"}
TEXTS = ["中国人民在北京读人民日报。", "今天北京天气很好。", "我们学习中国历史。"]


@pytest.fixture(autouse=True)
def fresh_warnings(monkeypatch):
    monkeypatch.setattr(segmentation, "_WARNED", set())  # warn-once is per process


@pytest.fixture(scope="module")
def expected(tmp_path_factory):
    seg = Segmenter(NAMES, disk_cache=False, cache_dir=tmp_path_factory.mktemp("ok"))
    return [seg.analyse(t) for t in TEXTS]


def cache_warnings(record) -> list[str]:
    return [str(w.message) for w in record if issubclass(w.category, SegmentCacheWarning)]


def unwritable_dir(tmp_path):
    """A cache folder nobody can create, root included: its parent is a regular file."""
    (tmp_path / "a_file").write_text("")
    return tmp_path / "a_file" / "jieba"


def test_an_unwritable_cache_segments_anyway_with_one_warning(tmp_path, expected):
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        seg = Segmenter(NAMES, cache_dir=unwritable_dir(tmp_path))
        assert [seg.analyse(t) for t in TEXTS] == expected
        seg.flush()
        seg.flush()
    [message] = cache_warnings(record)
    assert "is not writable" in message and "segmenting without saving" in message


def test_a_full_disk_while_flushing_gives_one_warning(tmp_path, expected, monkeypatch):
    def no_space(path, text):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(segmentation, "atomic_write_text", no_space)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        seg = Segmenter(NAMES, cache_dir=tmp_path)
        assert [seg.analyse(t) for t in TEXTS] == expected
        seg.flush()
        seg.analyse("又一句新的话。")
        seg.flush()
    [message] = cache_warnings(record)
    assert "could not be written (No space left on device)" in message


@pytest.mark.parametrize("garbage", [b"\xff\xfe not utf-8\n", b"0123\tnot a cache line\n",
                                     b"%s\t{\"words\": [[0, 2" % (b"a" * 32)])
def test_a_corrupt_shard_is_named_and_its_texts_segmented_again(tmp_path, expected, garbage):
    seg = Segmenter(NAMES, cache_dir=tmp_path)
    [seg.analyse(t) for t in TEXTS]
    seg.flush()
    (seg._shard_dir / "0-corrupt.jsonl").write_bytes(garbage)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        again = Segmenter(NAMES, cache_dir=tmp_path)
        assert [again.analyse(t) for t in TEXTS] == expected
    [message] = cache_warnings(record)
    assert "0-corrupt.jsonl" in message and "segmented again" in message


def test_a_broken_entry_inside_a_good_looking_line_is_recomputed(tmp_path, expected):
    seg = Segmenter(NAMES, cache_dir=tmp_path)
    key = segmentation._cache_key(TEXTS[0])
    (seg._shard_dir).mkdir(parents=True)
    (seg._shard_dir / "0-bad.jsonl").write_text(f'{key}\t{{"words": 3}}\n', encoding="utf-8")
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        assert seg.analyse(TEXTS[0]) == expected[0]
    assert len(cache_warnings(record)) == 1


def test_pre_training_data_setup_survives_an_unwritable_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(segmentation, "default_cache_dir", lambda: unwritable_dir(tmp_path))
    data = Ernie3DataModule(data_dir=str(DATA_SAMPLES), batch_size=2, max_len=32,
                            dlm_batch_size=2, seg_len=8, val_batches=1)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        data.prepare_data()
        data.setup("fit")
        batch = next(iter(data.train_dataloader()))
        data.segmenter.flush()
    assert batch and len(cache_warnings(record)) == 1
