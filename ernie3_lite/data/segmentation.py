"""Words, phrases and entities: the units of knowledge masking (ERNIE 1.0 arXiv 1904.09223 §3.2).

ERNIE 1.0 masks whole phrases and entities instead of single characters, and ERNIE 3.0 keeps that
"knowledge masking" for its universal representation (arXiv 2107.02137 §3.2.1). This module finds
those units in raw Chinese text, as character spans (one char = one token, see tokenization.py):

* entities: longest match against the knowledge-graph names (label "KG"); where no KG name matches,
  jieba's POS tags nr/ns/nt give a weaker fallback (labels PER/LOC/ORG; jieba tags 百度 as plain n);
* words: jieba (precise mode + HMM, with POS flags) with the KG names added to its dictionary;
  a KG name is never split (a word may contain one: 中国共产党 holds 中国);
* phrases: words chunked by POS (`phrases.chunk_phrases`).

Segmentation costs about as much as a forward pass of a small model, so `analyse` results are cached
in memory and on disk (shard files of JSON lines under `cache_dir/segments/<fingerprint>/`, written
atomically); the fingerprint covers the KG names, jieba's version and the chunking rules.

The disk cache is only an optimisation, so it never stops a run: a cache folder that cannot be
written (read-only checkout, full disk) gives one `SegmentCacheWarning` and the analyses stay in
memory; a corrupt shard gives one warning naming the file and line, and its texts are segmented
again.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
import time
import warnings
import weakref
from collections import OrderedDict
from collections.abc import Iterable
from pathlib import Path

from ernie3_lite import PACKAGE_ROOT
from ernie3_lite.data.formats import Triple, read_triples
from ernie3_lite.data.phrases import chunk_phrases
from ernie3_lite.data.spans import SegmentedText, Span
from ernie3_lite.data.writers import atomic_write_text

#: bump when the segmentation or chunking rules change, so stale disk caches are not reused
RULES_VERSION = 1
POS_ENTITY_LABELS = {"nr": "PER", "ns": "LOC", "nt": "ORG"}
MIN_ENTITY_NAME_LEN = 2  # one-character "names" would match everywhere
FLUSH_EVERY = 1000  # new analyses kept in memory before a shard is written
_CACHE_LINE = re.compile(r"[0-9a-f]{32}\t\{.*\}")  # key<TAB>{json}


class SegmentCacheWarning(UserWarning):
    """The disk cache of segmentations could not be used; segmentation goes on without it."""


def default_cache_dir() -> Path:
    """`<repo>/.cache/jieba` in a source checkout, else `~/.cache/ernie3_lite`."""
    repo = PACKAGE_ROOT.parent
    if (repo / "pyproject.toml").is_file():
        return repo / ".cache" / "jieba"
    return Path.home() / ".cache" / "ernie3_lite"


class Segmenter:
    """jieba on a private `jieba.Tokenizer` (the global `jieba.dt` is never touched) + KG names.

    jieba is loaded on first use (about 1-2 s) and the object pickles without it, so DataLoader
    workers started with `spawn` rebuild it themselves.
    """

    def __init__(self, entity_names: Iterable[str] = (), *, cache_dir: Path | None = None,
                 disk_cache: bool = True, memory_cache_size: int = 100_000):
        names = {n.strip() for n in entity_names}
        self.entity_names = frozenset(n for n in names if len(n) >= MIN_ENTITY_NAME_LEN)
        lengths: dict[str, set[int]] = {}
        for name in self.entity_names:
            lengths.setdefault(name[0], set()).add(len(name))
        # first character -> the lengths of the names starting with it, longest first
        self._lengths = {ch: sorted(ls, reverse=True) for ch, ls in lengths.items()}
        self.cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        self.disk_cache, self.memory_cache_size = disk_cache, memory_cache_size
        self._init_state()

    @classmethod
    def from_triples(cls, path_or_triples: str | Path | Iterable[Triple | tuple[str, str, str]],
                     **kwargs) -> Segmenter:
        """A Segmenter knowing every head and tail of a triples TSV (or of the given triples)."""
        triples = (read_triples(path_or_triples) if isinstance(path_or_triples, str | Path)
                   else path_or_triples)
        names = set()
        for head, _, tail in (t.__dict__.values() if isinstance(t, Triple) else t for t in triples):
            names.update((head, tail))
        return cls(names, **kwargs)

    def _init_state(self) -> None:
        self._pos = None  # jieba.posseg.POSTokenizer, built lazily
        self._memory: OrderedDict[str, SegmentedText] = OrderedDict()  # LRU
        self._disk: dict[str, str] | None = None  # key -> JSON line, read lazily
        self._pending: list[str] = []  # "key\tjson" lines not yet written
        self._shard_dir = self._fingerprint_dir()
        # whatever is still pending when the Segmenter is collected (or Python exits) is written
        self._finalizer = weakref.finalize(self, _write_shard, self._pending, self._shard_dir)

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k in _PICKLED}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._init_state()

    # ---- jieba -------------------------------------------------------------------------------
    @property
    def pos_tokenizer(self):
        """The private jieba.posseg.POSTokenizer, with every KG name added as a word."""
        if self._pos is None:
            self._pos = self._load_jieba()
        return self._pos

    def _load_jieba(self):
        import jieba
        import jieba.posseg

        jieba.setLogLevel(logging.WARNING)  # jieba logs to stderr, which breaks notebook diffs
        tokenizer = jieba.Tokenizer()
        # jieba's dictionary cache: cache_dir/jieba.cache, or $TMPDIR if the cache is read-only
        if _writable(self._shard_dir if self.disk_cache else self.cache_dir):
            tokenizer.tmp_dir = str(self.cache_dir)
        tokenizer.initialize()
        pos = jieba.posseg.POSTokenizer(tokenizer)
        for name in sorted(self.entity_names):
            # keep jieba's own tag for names it knows (中国 -> ns), else "nz" (other proper noun)
            tokenizer.add_word(name, tag=pos.word_tag_tab.get(name, "nz"))
        return pos

    # ---- the three kinds of span -------------------------------------------------------------
    def kg_spans(self, text: str) -> list[Span]:
        """Left-to-right, longest-first, non-overlapping matches of KG names (label "KG")."""
        spans, i = [], 0
        while i < len(text):
            length = next((n for n in self._lengths.get(text[i], ())
                           if i + n <= len(text) and text[i : i + n] in self.entity_names), 0)
            if length:
                spans.append(Span(i, i + length, "KG"))
            i += length or 1
        return spans

    def words(self, text: str) -> list[Span]:
        return list(self.analyse(text).words)

    def entities(self, text: str) -> list[Span]:
        return list(self.analyse(text).entities)

    def phrases(self, text: str) -> list[Span]:
        return list(self.analyse(text).phrases)

    def segment_words(self, text: str) -> list[Span]:
        """jieba words, POS flag as label, whitespace dropped; no KG name is split (uncached).

        jieba already keeps most KG names whole (they were added as words), and a word may contain
        a name (中国共产党 holds 中国). Where jieba still cuts inside a KG match, that match is made
        a word of its own and the text on either side is cut again, until no match is split.
        """
        kg = self.kg_spans(text)
        forced: list[Span] = []
        while True:
            words = self._cut_around(text, forced)
            broken = [s for s in kg if any(s.start < w.end < s.end for w in words)]
            if not broken:
                return words
            forced = sorted({*forced, *broken}, key=lambda s: s.start)

    def _cut_around(self, text: str, forced: list[Span]) -> list[Span]:
        """jieba on the text between the `forced` spans, each forced span one word."""
        words, pos, pos_tokenizer = [], 0, self.pos_tokenizer
        for span in [*forced, Span(len(text), len(text), "")]:
            for piece in pos_tokenizer.cut(text[pos:span.start]):
                end = pos + len(piece.word)
                if not piece.word.isspace():
                    words.append(Span(pos, end, piece.flag))
                pos = end
            if span.end > span.start:
                name = text[span.start:span.end]
                words.append(Span(span.start, span.end, pos_tokenizer.word_tag_tab.get(name, "nz")))
            pos = span.end
        return words

    def analyse(self, text: str) -> SegmentedText:
        """Words, phrases and entities of `text`, from the cache when it was seen before."""
        key = _cache_key(text)
        if key in self._memory:
            self._memory.move_to_end(key)
            return self._memory[key]
        line = self._disk_entries().get(key)
        result = None if line is None else _from_cache(text, line, self._shard_dir)
        if result is None:
            result = self._analyse(text)
            if self.disk_cache:
                self._disk[key] = result.to_json()
                self._pending.append(f"{key}\t{self._disk[key]}\n")
                if len(self._pending) >= FLUSH_EVERY:
                    self.flush()
        self._memory[key] = result
        if len(self._memory) > self.memory_cache_size:
            self._memory.popitem(last=False)
        return result

    def _analyse(self, text: str) -> SegmentedText:
        words, kg = self.segment_words(text), self.kg_spans(text)
        fallback = [Span(w.start, w.end, POS_ENTITY_LABELS[w.label]) for w in words
                    if w.label in POS_ENTITY_LABELS and not _overlaps_any(w, kg)]
        entities = sorted([*kg, *fallback], key=lambda s: s.start)
        return SegmentedText(text, tuple(words), tuple(chunk_phrases(words)), tuple(entities))

    # ---- disk cache --------------------------------------------------------------------------
    def _fingerprint_dir(self) -> Path:
        import jieba

        names = "\n".join(sorted(self.entity_names))
        fingerprint = hashlib.blake2b(
            f"{jieba.__version__}|{RULES_VERSION}|{names}".encode(), digest_size=8).hexdigest()
        return self.cache_dir / "segments" / fingerprint

    def _disk_entries(self) -> dict[str, str]:
        if self._disk is None:
            self._disk = {}
            if self.disk_cache and self._shard_dir.is_dir():
                for shard in sorted(self._shard_dir.glob("*.jsonl")):
                    self._disk |= _read_shard(shard)
        return self._disk

    def flush(self) -> None:
        """Write the analyses made since the last flush as one new shard file (atomically)."""
        _write_shard(self._pending, self._shard_dir)


_PICKLED = ("entity_names", "_lengths", "cache_dir", "disk_cache", "memory_cache_size")


def _write_shard(pending: list[str], shard_dir: Path) -> None:
    if pending:
        # pid + time in the name: processes sharing a cache never write the same file
        name = f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}-{time.monotonic_ns()}.jsonl"
        if _writable(shard_dir):
            try:
                atomic_write_text(shard_dir / name, "".join(pending))
            except OSError as error:  # a full disk: the analyses are still in memory
                _warn_once(shard_dir, f"segment cache {shard_dir} could not be written "
                                      f"({error.strerror or error}); going on without it")
        pending.clear()


def _writable(folder: Path) -> bool:
    """Whether files can be created in `folder` (made if missing); one warning if not."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
        return True
    except OSError as error:
        _warn_once(folder, f"segment cache {folder} is not writable ({error.strerror or error}); "
                           "segmenting without saving to it (slower next time)")
        return False


def _read_shard(shard: Path) -> dict[str, str]:
    """{key: JSON} of one cache shard; a corrupt shard is skipped with one warning."""
    try:
        lines = shard.read_bytes().decode("utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        _warn_once(shard, f"segment cache shard {shard} is unreadable ({error}); ignoring it, "
                          "its texts are segmented again")
        return {}
    for lineno, line in enumerate(lines, start=1):
        if not _CACHE_LINE.fullmatch(line):
            _warn_once(shard, f"segment cache shard {shard}:{lineno} is corrupt (expected "
                              "key<TAB>{json}); ignoring the shard, its texts are segmented again")
            return {}
    return dict(line.split("\t", 1) for line in lines)


def _from_cache(text: str, line: str, shard_dir: Path) -> SegmentedText | None:
    """The cached analysis, or None (one warning) if its JSON is broken."""
    try:
        return SegmentedText.from_json(text, line)
    except (ValueError, KeyError, TypeError) as error:
        _warn_once(shard_dir, f"segment cache {shard_dir} holds a broken entry ({error}); "
                              "segmenting that text again")
        return None


_WARNED: set[str] = set()


def _warn_once(where: Path, message: str) -> None:
    if str(where) not in _WARNED:
        _WARNED.add(str(where))
        warnings.warn(message, SegmentCacheWarning, stacklevel=3)


def _cache_key(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()


def _overlaps_any(span: Span, others: list[Span]) -> bool:
    return any(span.start < o.end and o.start < span.end for o in others)
