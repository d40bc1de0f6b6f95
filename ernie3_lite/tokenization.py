"""The char-level tokenizer ERNIE uses for Chinese (ERNIE 1.0 arXiv 1904.09223; ERNIE 3.0 §3.1).

ERNIE's vocabulary is mostly single Chinese characters: one CJK character is one token, and the
knowledge masking of ERNIE 1.0/3.0 happens over *spans of characters* (phrases, entities), not in
the vocabulary. So the tokenizer is small:

* text is normalised with NFKC + lower-case (full-width ``１９９８`` -> ``1998``, ``Ａ`` -> ``a``);
* whitespace and invisible control/format characters produce no token;
* a run of ASCII letters is one word token if the vocabulary has it, else one token per letter;
* every other character (CJK, digit, punctuation, symbol) is one token; unknown ones map to [UNK].

Offsets always point into the ORIGINAL text. NFKC can change the length (``㎏`` -> ``kg``), so we
normalise one character (plus its combining marks) at a time and remember where each piece came
from; every token made from that piece gets the piece's original span.
"""

from __future__ import annotations

import codecs
import functools
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from itertools import groupby
from pathlib import Path

from ernie3_lite.atomic import atomic_write_text
from ernie3_lite.errors import DataFormatError
from ernie3_lite.files import read_bytes

SPECIAL_TOKENS = ("[PAD]", "[CLS]", "[SEP]", "[MASK]")  # ids 0..3
UNK_TOKEN = "[UNK]"  # always the last id, as in ERNIE's own vocab.txt


def normalize(text: str) -> str:
    """NFKC + lower-case: the text form every token is made from."""
    return unicodedata.normalize("NFKC", text).lower()


def _is_letter(ch: str) -> bool:
    return "a" <= ch <= "z"


def _is_letter_token(token: str) -> bool:
    return token.isascii() and token.isalpha()


def _is_invisible(ch: str) -> bool:
    return ch.isspace() or unicodedata.category(ch) in ("Cc", "Cf")


def _normalised_chars(text: str) -> list[tuple[str, int, int]]:
    """(normalised char, start, end) with start/end the span in `text` the char came from."""
    out: list[tuple[str, int, int]] = []
    i = 0
    while i < len(text):
        j = i + 1
        while j < len(text) and unicodedata.combining(text[j]):  # keep é = e + U+0301 together
            j += 1
        out.extend((ch, i, j) for ch in normalize(text[i:j]))
        i = j
    return out


def _pieces(text: str, is_word) -> list[tuple[str, int, int]]:
    """(token string, start, end) pieces of `text`; `is_word(run)`: keep a letter run whole?"""
    out: list[tuple[str, int, int]] = []
    for letters, group in groupby(_normalised_chars(text), key=lambda c: _is_letter(c[0])):
        group = list(group)
        if not letters:
            out.extend(c for c in group if not _is_invisible(c[0]))
            continue
        run = "".join(ch for ch, _, _ in group)
        out.extend([(run, group[0][1], group[-1][2])] if is_word(run) else group)
    return out


class CharTokenizer:
    """Char-level tokenizer over a fixed vocabulary: [PAD] [CLS] [SEP] [MASK] ... [UNK]."""

    pad_id, cls_id, sep_id, mask_id = 0, 1, 2, 3

    def __init__(self, tokens: Sequence[str]):
        tokens = list(tokens)
        if tuple(tokens[:4]) != SPECIAL_TOKENS or len(tokens) < 5 or tokens[-1] != UNK_TOKEN:
            raise ValueError(f"tokens must start with {list(SPECIAL_TOKENS)}, end with {UNK_TOKEN}")
        self._id_to_token = tokens
        self._token_to_id = {tok: i for i, tok in enumerate(tokens)}
        if len(self._token_to_id) != len(tokens):
            dupes = sorted(t for t, n in Counter(tokens).items() if n > 1)
            raise ValueError(f"duplicate tokens in vocabulary: {dupes[:5]}")
        self.unk_id = len(tokens) - 1

    @property
    def vocab_size(self) -> int:
        return len(self._id_to_token)

    @property
    def tokens(self) -> list[str]:
        """All tokens in id order (a copy)."""
        return list(self._id_to_token)

    def __len__(self) -> int:
        return self.vocab_size

    # ---- building, loading and saving ----------------------------------------------------------
    @classmethod
    def build(
        cls, texts: Iterable[str], *, min_freq: int = 1, max_size: int | None = None
    ) -> CharTokenizer:
        """Count tokens in `texts` and keep those seen >= min_freq times, most frequent first.

        Ties break by codepoint order, so the result is deterministic. Every letter run is counted
        both as a word and letter by letter, so words that miss the cut still fall back to letters.
        `max_size` bounds the whole vocabulary, the 5 special tokens included.
        """
        if max_size is not None and max_size < len(SPECIAL_TOKENS) + 1:
            raise ValueError(f"max_size must be >= {len(SPECIAL_TOKENS) + 1}, got {max_size}")
        counts: Counter[str] = Counter()
        for text in texts:
            for piece, _, _ in _pieces(text, is_word=lambda run: True):
                counts[piece] += 1
                if len(piece) > 1:  # a letter run: its letters are fallback candidates too
                    counts.update(piece)
        specials = set(SPECIAL_TOKENS) | {UNK_TOKEN}
        kept = [t for t, n in counts.items() if n >= min_freq and t not in specials]
        kept.sort(key=lambda t: (-counts[t], t))
        if max_size is not None:
            kept = kept[: max_size - len(SPECIAL_TOKENS) - 1]
        return cls([*SPECIAL_TOKENS, *kept, UNK_TOKEN])

    @classmethod
    def from_file(cls, path: str | Path) -> CharTokenizer:
        """Read ERNIE's `token<TAB>id` vocab.txt, or a BERT vocab.txt (one token per line).

        ERNIE files must list ids 0..n-1 in order, specials first and [UNK] last. A BERT file has
        its specials elsewhere ([UNK]=100, [CLS]=101, ...): we take [PAD] [CLS] [SEP] [MASK] as ids
        0..3 (by name), the other tokens in file order as ids 4.., and [UNK] as the last id. So ids
        differ from the BERT file's own; special tokens the file lacks are added.
        """
        # a regular file of bounded size: a vocab.txt symlinked to /dev/zero is refused unread
        lines = _vocab_lines(path, read_bytes(path))
        if not lines:
            _vocab_error(path, 1, "empty vocabulary file")
        if "\t" in lines[0]:
            return cls(_parse_ernie_vocab(path, lines))
        seen: dict[str, int] = {}
        for lineno, token in enumerate(lines, start=1):
            if not token.strip() or "\t" in token:
                _vocab_error(path, lineno, f"expected one token per line, got {token!r}")
            _check_new(path, lineno, token, seen)
        specials = set(SPECIAL_TOKENS) | {UNK_TOKEN}
        return cls([*SPECIAL_TOKENS, *(t for t in seen if t not in specials), UNK_TOKEN])

    def save(self, path: str | Path) -> None:
        """Write ERNIE's format: one `token<TAB>id` per line, in id order."""
        lines = (f"{tok}\t{i}\n" for i, tok in enumerate(self._id_to_token))
        atomic_write_text(path, "".join(lines))  # a killed build never leaves half a vocab

    # ---- text <-> ids ------------------------------------------------------------------------
    def tokenize(self, text: str) -> list[str]:
        """Token strings (normalised surface forms; unknown ones are kept as they are)."""
        return [tok for tok, _, _ in _pieces(text, self._token_to_id.__contains__)]

    def encode(self, text: str, *, add_special_tokens: bool = False) -> list[int]:
        ids = self.convert_tokens_to_ids(self.tokenize(text))
        return [self.cls_id, *ids, self.sep_id] if add_special_tokens else ids

    def encode_with_offsets(self, text: str) -> tuple[list[int], list[tuple[int, int]]]:
        """Ids and (start, end) spans into the ORIGINAL `text`, end exclusive."""
        pieces = _pieces(text, self._token_to_id.__contains__)
        ids = self.convert_tokens_to_ids([tok for tok, _, _ in pieces])
        return ids, [(start, end) for _, start, end in pieces]

    def encode_head(self, text: str, max_tokens: int) -> list[int]:
        """``encode(text)[:max_tokens]``, tokenizing only as much of `text` as those need.

        A 50 MB one-line review took 72 s and 3.6 GB to become one 128-token example. We
        tokenize a prefix cut at a safe boundary (`_safe_cut`): there the prefix's tokens are
        exactly the full text's first tokens. Whitespace gives no token, so a prefix may give
        too few: then a 4x longer one is tried. Only text with no safe boundary for 256
        characters (a run of full-width letters, say) is tokenized whole.
        """
        if max_tokens < 1:
            return []
        size = 4 * max_tokens + 64  # NFKC can make one character several tokens (½ -> 1⁄2)
        while size < len(text):
            cut = _safe_cut(text, size, self._longest_word)
            if cut is None:
                break
            ids = self.encode(text[:cut])
            if len(ids) >= max_tokens:
                return ids[:max_tokens]
            size *= 4
        return self.encode(text)[:max_tokens]

    def encode_tail(self, text: str, max_tokens: int) -> list[int]:
        """``encode(text)[-max_tokens:]``, tokenizing only as much of `text`'s end as those need
        (zero-shot scoring keeps a long review's end, next to the label word).

        The suffix starts where a character that is not a letter (nor a combining mark)
        begins a token: there the suffix's tokens are exactly the full text's last tokens, as
        nothing before it can join them. Too few tokens (whitespace), and a 4x longer suffix
        is tried; text with no such start in 256 characters is tokenized whole.
        """
        if max_tokens < 1:
            return []
        size = 4 * max_tokens + 64  # NFKC can make one character several tokens (½ -> 1⁄2)
        while size < len(text):
            cut = _safe_tail_cut(text, len(text) - size)
            if cut is None:
                break
            ids = self.encode(text[cut:])
            if len(ids) >= max_tokens:
                return ids[len(ids) - max_tokens:]
            size *= 4
        ids = self.encode(text)
        return ids[max(len(ids) - max_tokens, 0):]

    @functools.cached_property
    def _longest_word(self) -> int:
        """Letters in the longest letter-run token of the vocabulary (1 if it has none)."""
        return max((len(t) for t in self._id_to_token if _is_letter_token(t)), default=1)

    def decode(self, ids: Iterable[int], *, skip_special_tokens: bool = True) -> str:
        """Join tokens back into text: CJK and symbols without spaces, English words with them.

        [PAD] [CLS] [SEP] [MASK] are dropped when `skip_special_tokens`; [UNK] is always kept so
        the reader sees where a character was lost. Letter tokens are spaced so that tokenizing the
        result gives the same tokens again: a word token is a whole letter run, so it had space
        around it; a row of single letters is glued back into one run unless that run is itself
        a vocabulary word (then it cannot have been one run, and the letters are spaced).
        """
        tokens = self.convert_ids_to_tokens(ids)
        if skip_special_tokens:
            tokens = [t for t in tokens if t not in SPECIAL_TOKENS]
        out: list[str] = []
        for letters, group in groupby(tokens, key=_is_letter_token):
            if not letters:
                out.extend(group)
                continue
            words: list[str] = []
            for single, sub in groupby(group, key=lambda t: len(t) == 1):
                sub = list(sub)
                glued = "".join(sub)
                keep_apart = not single or (len(sub) > 1 and glued in self._token_to_id)
                words.extend(sub if keep_apart else [glued])
            out.append(" ".join(words))
        return "".join(out)

    def convert_tokens_to_ids(self, tokens: Iterable[str]) -> list[int]:
        return [self._token_to_id.get(tok, self.unk_id) for tok in tokens]

    def convert_ids_to_tokens(self, ids: Iterable[int]) -> list[str]:
        return [self._id_to_token[int(i)] for i in ids]


def _safe_cut(text: str, start: int, longest_word: int, *, window: int = 256) -> int | None:
    """The first k in [start, start + window) where ``text[:k]`` tokenizes to exactly the
    tokens of `text` that begin before k; None if there is none.

    Characters are normalised with their combining marks (so text[k] must not be one), and a
    letter run is one token or one per letter depending on the whole run. So k is safe where
    text[k] starts something that is not a letter (it ends any run), or inside a run of plain
    ASCII letters longer than the longest word token (all single letters either way).
    """
    for k in range(start, min(start + window, len(text))):
        if unicodedata.combining(text[k]):
            continue
        first = normalize(text[k])[:1]
        if first and not _is_letter(first):
            return k
        run = text[max(k - longest_word - 1, 0) : k]
        if len(run) > longest_word and run.isascii() and run.isalpha():
            return k
    return None


def _safe_tail_cut(text: str, start: int, *, window: int = 256) -> int | None:
    """The last k in (start - window, start] where ``text[k:]`` tokenizes to exactly the
    tokens of `text` that begin at k or later: text[k] is neither a combining mark (it would
    join the character before) nor, once normalised, a letter (a letter run is tokenized as a
    whole, so a run cut in two could change). None if there is none."""
    for k in range(start, max(start - window, 0), -1):
        if unicodedata.combining(text[k]):
            continue
        first = normalize(text[k])[:1]
        if first and not _is_letter(first):
            return k
    return None


def _vocab_lines(path: str | Path, data: bytes) -> list[str]:
    """The lines of a vocab file: UTF-8 (a BOM is dropped), split at LF only (a token may be
    any other character, U+2028 too) with a CR before it dropped. An undecodable byte (a GBK
    vocab.txt) names its line, as the data readers do."""
    data = data.removeprefix(codecs.BOM_UTF8)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        lineno = data.count(b"\n", 0, error.start) + 1
        _vocab_error(path, lineno, f"not valid UTF-8 (byte {data[error.start]:#04x}: "
                                   f"{error.reason}); vocab files are UTF-8")
    lines = [line.removesuffix("\r") for line in text.split("\n")]
    return lines[:-1] if lines and not lines[-1] else lines


def _is_number(text: str) -> bool:
    return text.isascii() and text.isdigit()  # "²".isdigit() too, but int("²") fails


def _parse_ernie_vocab(path: str | Path, lines: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    for lineno, line in enumerate(lines, start=1):
        fields = line.split("\t")
        if len(fields) != 2 or not fields[0] or not _is_number(fields[1].strip()):
            _vocab_error(path, lineno, f"expected 'token<TAB>id', got {line!r}")
        if int(fields[1]) != lineno - 1:
            _vocab_error(path, lineno, f"expected id {lineno - 1}, got {fields[1].strip()}")
        _check_new(path, lineno, fields[0], seen)
    tokens = list(seen)
    if tuple(tokens[:4]) != SPECIAL_TOKENS:
        _vocab_error(path, 1, f"an ERNIE vocab starts with {list(SPECIAL_TOKENS)} as ids 0..3")
    if tokens[-1] != UNK_TOKEN:
        _vocab_error(path, len(lines), f"an ERNIE vocab ends with {UNK_TOKEN}")
    return tokens


def _check_new(path: str | Path, lineno: int, token: str, seen: dict[str, int]) -> None:
    if token in seen:
        _vocab_error(path, lineno, f"duplicate token {token!r} (first on line {seen[token]})")
    seen[token] = lineno


def _vocab_error(path: str | Path, lineno: int, message: str):
    raise DataFormatError(message, path=path, line=lineno)
