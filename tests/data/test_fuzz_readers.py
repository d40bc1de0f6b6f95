"""Property tests: arbitrary bytes and unicode lines thrown at every reader (issue 12 §5).

Each reader of `ernie3_lite.data.formats`, the vocabulary loader of `CharTokenizer`, and the
readers the fine-tuning data module and the evaluation CLI build on them may only fail with a
`DataFormatError` whose message starts with ``<file>:<line>:`` (``<file>:`` for a problem of the
whole file, such as an empty split), and must write nothing. Inputs are raw bytes, lines of any
unicode, and near-valid lines (the right columns or JSON keys holding anything), which reach
past the first checks. Kept small (`max_examples`) so the file runs in seconds.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from argparse import Namespace
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ernie3_lite import DATA_SAMPLES
from ernie3_lite.data.formats import (
    NEWS_KEYS,
    DataFormatError,
    read_aligned,
    read_bio,
    read_classification,
    read_jsonl,
    read_news,
    read_plain_text,
    read_triples,
)
from ernie3_lite.evaluation.cli import read_probe, read_zeroshot
from ernie3_lite.finetune.datamodule import FinetuneDataModule
from ernie3_lite.tokenization import CharTokenizer

FAST = settings(max_examples=40, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow])
SLOW = settings(max_examples=12, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow])
VOCAB = DATA_SAMPLES / "vocab.txt"
TOKENIZER = CharTokenizer.from_file(VOCAB)

#: file name (its suffix picks the format where a reader has two) -> reader
READERS: dict[str, Callable[[Path], object]] = {
    "docs.txt": read_plain_text,
    "records.jsonl": read_jsonl,
    "keys.jsonl": lambda p: read_jsonl(p, required_keys=("a", "b")),
    "reviews.tsv": read_classification,
    "reviews.jsonl": read_classification,
    "ner.bio": read_bio,
    "triples.tsv": read_triples,
    "news.jsonl": read_news,
    "aligned.jsonl": read_aligned,
    "aligned_spans.jsonl": lambda p: read_aligned(p, spans=True),
    "vocab.txt": CharTokenizer.from_file,
}

# ---- inputs --------------------------------------------------------------------------------
scalars = st.none() | st.booleans() | st.integers(-5, 50) | st.floats(allow_nan=False) | \
    st.text(max_size=8)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner,
                                                                 max_size=3),
    max_leaves=8)
unicode_lines = st.lists(st.text(max_size=40), max_size=8).map(
    lambda lines: "\n".join(lines).encode("utf-8", "surrogatepass"))


def near_valid_json(keys: tuple[str, ...]) -> st.SearchStrategy[bytes]:
    """JSON lines that have the keys (most of the time) with values of any type."""
    extra = ("sentence2", "head_span", "tail_span", "x")
    record = st.fixed_dictionaries({k: json_values for k in keys},
                                   optional={k: json_values for k in extra if k not in keys})
    line = record.map(lambda r: json.dumps(r, ensure_ascii=False)) | st.text(max_size=30)
    return st.lists(line, max_size=4).map(lambda ls: "\n".join(ls).encode("utf-8",
                                                                          "surrogatepass"))


def near_valid_rows(header: str, fields: st.SearchStrategy[str]) -> st.SearchStrategy[bytes]:
    """A header (usually the right one) and tab- or space-separated rows of any text."""
    row = st.lists(fields, min_size=1, max_size=4).map(lambda f: ("\t" if len(f) % 2 else " ")
                                                       .join(f))
    return st.tuples(st.sampled_from([header, "", header.upper()]), st.lists(row, max_size=6)) \
        .map(lambda hr: "\n".join([hr[0], *hr[1]]).encode("utf-8", "surrogatepass"))


tags = st.sampled_from(["O", "B-PER", "I-LOC", "E-ORG", "S-X", "B-", "X-PER", "o"]) | st.text(
    max_size=5)
vocab_lines = st.lists(
    st.tuples(st.sampled_from(["[PAD]", "[CLS]", "[SEP]", "[MASK]", "[UNK]", "a", "中"])
              | st.text(max_size=4), st.sampled_from(["", "\t"]),
              st.integers(0, 8).map(str) | st.sampled_from(["²", "١", "-1", " 3", "x"])),
    max_size=9).map(lambda rows: "\n".join(a + b + (c if b else "") for a, b, c in rows)
                    .encode("utf-8", "surrogatepass"))

@st.composite
def aligned_records(draw) -> bytes:
    """Well-formed aligned lines (strings, spans inside the sentence) about any triple: past
    the reader, into the cloze queries (an unknown relation used to be a KeyError)."""
    names = st.sampled_from(["美国", "美元", "货币", "北京", "首都", "中国"]) | st.text(min_size=1,
                                                                                 max_size=3)
    lines = []
    for _ in range(draw(st.integers(0, 3))):
        head, relation, tail = draw(names), draw(names), draw(names)
        sentence = draw(st.sampled_from(["", "在", "的"])) + head + "的" + tail + "。"
        spans = {"head_span": [0, 1], "tail_span": [len(sentence) - 2, len(sentence) - 1]}
        lines.append(json.dumps({"head": head, "relation": relation, "tail": tail,
                                 "sentence": sentence, **spans}, ensure_ascii=False))
    return "\n".join(lines).encode("utf-8", "surrogatepass")


ANY_BYTES = st.binary(max_size=300) | unicode_lines
CONTENT = {
    "docs.txt": ANY_BYTES,
    "records.jsonl": ANY_BYTES | near_valid_json(("a",)),
    "keys.jsonl": ANY_BYTES | near_valid_json(("a", "b")),
    "reviews.tsv": ANY_BYTES | near_valid_rows("label\ttext_a\ttext_b", st.text(max_size=6)),
    "reviews.jsonl": ANY_BYTES | near_valid_json(("sentence", "label")),
    "ner.bio": ANY_BYTES | near_valid_rows("-DOCSTART- O", st.text(max_size=3) | tags),
    "triples.tsv": ANY_BYTES | near_valid_rows("head\trelation\ttail", st.text(max_size=4)),
    "news.jsonl": ANY_BYTES | near_valid_json(NEWS_KEYS),
    "aligned.jsonl": ANY_BYTES | near_valid_json(("head", "relation", "tail", "sentence")),
    "aligned_spans.jsonl": ANY_BYTES | near_valid_json(("head", "relation", "tail",
                                                         "sentence", "head_span", "tail_span")),
    "vocab.txt": ANY_BYTES | vocab_lines,
}


# ---- the property --------------------------------------------------------------------------
def listing(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*"))}


@contextmanager
def only_data_format_errors(folder: Path, files: list[Path]):
    """Run the block; the only exception let through is a DataFormatError that names one of
    `files` (with a line, unless it is about the whole file); nothing in `folder` or the
    working directory changes."""
    before, cwd_before = listing(folder), sorted(os.listdir("."))
    try:
        yield
    except DataFormatError as error:
        named = [f for f in files if str(error).startswith(f"{f}:")]
        assert named, f"{error} names none of {files}"
        where = f"{error.path}:{error.line}: " if error.line is not None else f"{error.path}: "
        assert str(error).startswith(where), error
        assert error.line is not None or error.path in map(str, files), error
        assert "\n" not in str(error), "one line"
    assert listing(folder) == before, "a reader wrote something"
    assert sorted(os.listdir(".")) == cwd_before


def check_reader(name: str, content: bytes, *, line_required: bool = True) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes(content)
        try:
            with only_data_format_errors(Path(tmp), [path]):
                READERS[name](path)
        except AssertionError:
            raise AssertionError(f"{name} on {content!r}") from None


def test_every_reader_is_fuzzed():
    assert set(READERS) == set(CONTENT)


def _reader_test(name: str):
    @FAST
    @given(content=CONTENT[name])
    def test(content: bytes) -> None:
        check_reader(name, content)

    test.__name__ = f"test_{name.replace('.', '_')}_raises_only_data_format_errors"
    return test


for _name in READERS:
    globals()[f"test_fuzz_{_name.replace('.', '_')}"] = _reader_test(_name)


# ---- the tokenizer on any text --------------------------------------------------------------
text_like = st.text(max_size=200) | st.lists(
    st.sampled_from(["ab", "hello", "Ａ", "½", "㎏", "é", "e\u0301", "中", " ", "\u200b", "İ",
                     "x" * 30, "\u0301"]), max_size=40).map("".join)


@settings(max_examples=150, deadline=None, database=None)
@given(text=text_like, n=st.integers(0, 40))
def test_the_tokenizer_takes_any_text(text, n):
    ids, offsets = TOKENIZER.encode_with_offsets(text)
    assert ids == TOKENIZER.encode(text) and len(offsets) == len(ids)
    assert all(0 <= start < end <= len(text) for start, end in offsets)
    assert all(0 <= i < TOKENIZER.vocab_size for i in ids)
    TOKENIZER.decode(ids)
    assert TOKENIZER.encode_head(text, n) == ids[:n]
    assert TOKENIZER.encode_tail(text, n) == (ids[max(len(ids) - n, 0):] if n else [])


# ---- the fine-tuning and evaluation readers -------------------------------------------------
TASK_FILES = {"sentiment": ("reviews", "tsv"), "ner": ("ner", "bio"),
              "headline": ("news", "jsonl")}


@SLOW
@given(task=st.sampled_from(sorted(TASK_FILES)), split=st.sampled_from(["train", "valid", "test"]),
       content=ANY_BYTES | near_valid_rows("label\ttext_a", st.sampled_from(["0", "1", "2"])
                                           | st.text(max_size=6)))
def test_the_fine_tuning_data_module_raises_only_data_format_errors(task, split, content):
    folder, extension = TASK_FILES[task]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        shutil.copytree(DATA_SAMPLES / folder, root / folder)
        bad = root / folder / f"{split}.{extension}"
        bad.write_bytes(content)
        files = [root / folder / f"{s}.{extension}" for s in ("train", "valid", "test")]
        with only_data_format_errors(root, files):
            data = FinetuneDataModule(task, data_dir=str(root), vocab_file=str(VOCAB),
                                      max_len=48, max_target_len=16)
            data.check_splits()
            for s in ("train", "valid", "test"):
                data.examples(s)


@SLOW
@given(relative=st.sampled_from(["reviews/test.tsv", "kg/aligned_test.jsonl", "kg/triples.tsv",
                                 "kg/probe_test.tsv", "kg/aligned_train.jsonl"]),
       content=ANY_BYTES | aligned_records() | near_valid_json(
           ("head", "relation", "tail", "sentence", "head_span", "tail_span")))
def test_the_evaluation_readers_raise_only_data_format_errors(relative, content):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        shutil.copytree(DATA_SAMPLES / "kg", root / "kg")
        shutil.copytree(DATA_SAMPLES / "reviews", root / "reviews")
        (root / relative).write_bytes(content)
        args = Namespace(data=str(root), split="test", limit=None)
        with only_data_format_errors(root, [root / relative]):
            read_zeroshot(args)
            read_probe(args)
