"""Bad vocab files name file and line (issue 12 §4): a GBK vocab.txt was a bare
UnicodeDecodeError, a superscript id a bare ValueError from int()."""

from __future__ import annotations

import pytest

from ernie3_lite.data.formats import DataFormatError
from ernie3_lite.tokenization import SPECIAL_TOKENS, UNK_TOKEN, CharTokenizer

TOKENS = [*SPECIAL_TOKENS, "中", "文", "\u2028", "\x85", UNK_TOKEN]


def test_a_gbk_vocab_names_the_line_of_its_first_bad_byte(tmp_path):
    path = tmp_path / "vocab.txt"
    lines = [f"{token}\t{i}" for i, token in enumerate([*SPECIAL_TOKENS, "中", "文", UNK_TOKEN])]
    path.write_bytes("\n".join(lines).encode("gbk"))
    with pytest.raises(DataFormatError, match=r"vocab\.txt:5: not valid UTF-8 \(byte 0xd6: "):
        CharTokenizer.from_file(path)


def test_a_non_ascii_digit_id_is_a_format_error(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_text("[PAD]\t\u00b2\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"vocab\.txt:1: expected 'token<TAB>id'"):
        CharTokenizer.from_file(path)


def test_tokens_that_are_unicode_line_breaks_survive_save_and_load(tmp_path):
    tokenizer = CharTokenizer(TOKENS)
    tokenizer.save(tmp_path / "vocab.txt")
    assert CharTokenizer.from_file(tmp_path / "vocab.txt").tokens == TOKENS
    (tmp_path / "crlf.txt").write_bytes(b"\xef\xbb\xbf" + "\r\n".join(
        f"{t}\t{i}" for i, t in enumerate(TOKENS)).encode("utf-8") + b"\r\n")
    assert CharTokenizer.from_file(tmp_path / "crlf.txt").tokens == TOKENS
