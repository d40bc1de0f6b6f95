"""Files are replaced whole, with the umask's mode, and a failure leaves the old one (atomic.py).

Issue 12 §3: the "atomic" data writers made every file 0600 (``mkstemp``), vocab.txt and
config.json were truncated in place, and a failure left half a file. Each test sets its own umask
(the `umask` fixture) so that the expected mode does not depend on the shell's.
"""

from __future__ import annotations

import os
import stat

import pytest

from ernie3_lite.atomic import atomic_open, atomic_write_text, default_mode, replace_folder
from ernie3_lite.config import Ernie3Config
from ernie3_lite.data.formats import NewsDocument
from ernie3_lite.data.writers import write_jsonl, write_news
from ernie3_lite.tokenization import CharTokenizer


@pytest.fixture
def umask():
    old = os.umask(0o027)
    yield 0o027
    os.umask(old)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


class Boom(RuntimeError):
    pass


def test_default_mode_follows_the_umask(umask):
    assert default_mode() == 0o640 and default_mode(folder=True) == 0o750


def test_data_writers_give_the_umask_mode_not_0600(tmp_path, umask):
    write_jsonl(tmp_path / "a.jsonl", [{"x": 1}])
    write_news(tmp_path / "news.jsonl", [NewsDocument("d1", "标题", ("段落。",), ((),))])
    assert mode(tmp_path / "a.jsonl") == mode(tmp_path / "news.jsonl") == 0o640


def test_vocab_and_config_are_written_atomically_with_the_umask_mode(tmp_path, umask):
    vocab, config = tmp_path / "vocab.txt", tmp_path / "config.json"
    CharTokenizer.build(["你好世界"]).save(vocab)
    Ernie3Config.from_name("test").save(config)
    # a hard link still shows the old bytes after a save: the file was replaced, not truncated
    # and rewritten in place (O_TRUNC), so a reader never sees half of it
    old_vocab, old_config = vocab.read_bytes(), config.read_bytes()
    os.link(vocab, tmp_path / "vocab.old")
    os.link(config, tmp_path / "config.old")
    CharTokenizer.build(["完全不同的文本"]).save(vocab)
    Ernie3Config.from_name("nano").save(config)
    assert (tmp_path / "vocab.old").read_bytes() == old_vocab != vocab.read_bytes()
    assert (tmp_path / "config.old").read_bytes() == old_config != config.read_bytes()
    assert mode(vocab) == mode(config) == 0o640


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "file.txt"
    atomic_write_text(target, "old")
    with pytest.raises(Boom), atomic_open(target, "w", encoding="utf-8") as f:
        f.write("half of the new")
        raise Boom
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt"]


def test_replace_folder_swaps_in_the_new_folder_and_keeps_other_files(tmp_path, umask):
    target = tmp_path / "model"
    target.mkdir()
    (target / "a.txt").write_text("old a")
    (target / "notes.md").write_text("kept")
    with replace_folder(target) as new:
        atomic_write_text(new / "a.txt", "new a")
    assert (target / "a.txt").read_text() == "new a"
    assert (target / "notes.md").read_text() == "kept"  # as writing in place kept it
    assert mode(target) == 0o750
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]  # no sibling left


def test_replace_folder_failing_half_way_leaves_the_old_folder(tmp_path):
    target = tmp_path / "model"
    target.mkdir()
    (target / "a.txt").write_text("old a")
    with pytest.raises(Boom), replace_folder(target) as new:
        atomic_write_text(new / "a.txt", "new a")
        raise Boom
    assert (target / "a.txt").read_text() == "old a"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]
