"""Readers for the file formats ernie3_lite trains on (see data_samples/README.md).

Plain text (documents split by blank lines), JSONL, CLUE-style classification (TSV or JSONL),
BIO/BIOES NER files, knowledge-graph triples (TSV) and the People's Daily news JSONL layout.
Every reader checks each line and raises `DataFormatError("path:line: what was expected")`, so a
user who brings their own data learns exactly which line to fix. Files are UTF-8 (a BOM is
accepted), with LF or CRLF line ends. Stdlib only: this module sits below torch and jieba.
The matching writers are in `ernie3_lite.data.writers`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ernie3_lite.errors import DataFormatError, PathLike


@dataclass(frozen=True)
class ClassificationExample:
    text: str
    label: str  # kept as written in the file ("1", "entailment", ...); map to ids downstream
    text_b: str | None = None
    #: 1-based line in the file it was read from (None when built in code), so a check further
    #: down (an unknown label, say) can point at it; not part of equality
    line: int | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class NerSentence:
    tokens: tuple[str, ...]
    tags: tuple[str, ...]  # "O", "B-PER", "I-PER", ... as written (no repair, see read_bio)
    #: 1-based line of the first token (token k is on line + k); None when built in code
    line: int | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Triple:
    head: str
    relation: str
    tail: str


@dataclass(frozen=True)
class NewsDocument:
    doc_id: str
    headline: str
    paragraphs: tuple[str, ...]
    entities: tuple[tuple[tuple[int, int, str], ...], ...]  # per paragraph: (start, end, label)


def numbered_lines(path: PathLike) -> Iterator[tuple[int, str]]:
    """(1-based line number, line without its line end); undecodable bytes name their line."""
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, start=1):
            try:
                line = raw.decode("utf-8-sig" if lineno == 1 else "utf-8")
            except UnicodeDecodeError as err:
                raise DataFormatError(f"not valid UTF-8 ({err.reason})", path=path, line=lineno)
            yield lineno, line.rstrip("\r\n")


# ---- plain text and JSONL ----------------------------------------------------------------------
def read_plain_text(path: PathLike) -> list[str]:
    """Documents separated by one or more blank lines; a document's lines are joined with '\\n'."""
    docs, current = [], []
    for _, line in numbered_lines(path):
        if line.strip():
            current.append(line.rstrip())
        elif current:
            docs.append("\n".join(current))
            current = []
    if current:
        docs.append("\n".join(current))
    return docs


def read_jsonl(path: PathLike, *, required_keys: Iterable[str] = ()) -> list[dict]:
    """One JSON object per line (blank lines skipped), each with at least `required_keys`."""
    required = list(required_keys)
    records = []
    for lineno, record in _json_records(path, required):
        missing = [k for k in required if k not in record]
        if missing:
            raise DataFormatError(f"expected a JSON object with keys {required}; missing {missing}",
                                  path=path, line=lineno)
        records.append(record)
    return records


def _json_records(path: PathLike, keys: list[str] | None = None) -> Iterator[tuple[int, dict]]:
    """(line number, object) for each non-blank line; `keys` only words the error message."""
    expected = f"expected a JSON object with keys {keys}" if keys else "expected a JSON object"
    for lineno, line in numbered_lines(path):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise DataFormatError(f"{expected}; invalid JSON: {err.msg}", path=path, line=lineno)
        if not isinstance(record, dict):
            got = type(record).__name__
            raise DataFormatError(f"{expected}, got {got}", path=path, line=lineno)
        yield lineno, record


# ---- classification ----------------------------------------------------------------------------
def read_classification(path: PathLike) -> list[ClassificationExample]:
    """CLUE-style classification data.

    `.json`/`.jsonl` files: one object per line with `sentence` (or `sentence1` [+ `sentence2`])
    and `label`. Anything else is a TSV whose header names the columns: `label` and `text_a`
    are required, `text_b` is optional, other columns are ignored.
    """
    if Path(path).suffix in (".json", ".jsonl"):
        records = _json_records(path, ["sentence", "label"])
        return [_classification_from_json(path, lineno, rec) for lineno, rec in records]
    rows = numbered_lines(path)
    _, header_line = next(rows, (1, ""))
    header = header_line.split("\t")
    if "label" not in header or "text_a" not in header:
        raise DataFormatError(f"expected a header with 'label' and 'text_a', got {header_line!r}",
                              path=path, line=1)
    col = {name: i for i, name in enumerate(header)}
    examples = []
    for lineno, line in rows:
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != len(header):
            raise DataFormatError(f"expected {len(header)} tab-separated fields {header}, got "
                                  f"{len(fields)}", path=path, line=lineno)
        label, text = fields[col["label"]].strip(), fields[col["text_a"]]
        if not label or not text.strip():
            raise DataFormatError("empty label or text_a", path=path, line=lineno)
        text_b = fields[col["text_b"]] if "text_b" in col else None
        examples.append(ClassificationExample(text, label, text_b, line=lineno))
    return examples


def _classification_from_json(path: PathLike, lineno: int, rec: dict) -> ClassificationExample:
    text, label = rec.get("sentence", rec.get("sentence1")), rec.get("label")
    text_b = rec.get("sentence2")
    # the same rules as a TSV row: non-empty text and label; CLUE files give int labels too
    ok = (isinstance(text, str) and text.strip() and isinstance(text_b, str | None)
          and isinstance(label, str | int) and not isinstance(label, bool) and str(label).strip())
    if not ok:
        raise DataFormatError("expected a JSON object with keys ['sentence', 'label'] (or "
                              "'sentence1'/'sentence2'): non-empty strings, an int or string "
                              "label", path=path, line=lineno)
    return ClassificationExample(text, str(label).strip(), text_b, line=lineno)


# ---- NER ---------------------------------------------------------------------------------------
_TAG = re.compile(r"O|[BIES]-\S+")


def read_bio(path: PathLike) -> list[NerSentence]:
    """One token per line, `token tag` (space or tab; CoNLL files: first column token, last tag).

    A blank line ends a sentence; `-DOCSTART-` lines are skipped. Tags are O or B-/I-/E-/S-X
    (BIO and BIOES). Tags are returned exactly as written: an I-X after O (or after another type)
    is NOT rewritten here; `tag_spans` treats it as the start of an X entity (conlleval rule).
    """
    sentences, tokens, tags, first = [], [], [], None
    for lineno, line in numbered_lines(path):
        fields = line.split()
        if not fields or fields[0] == "-DOCSTART-":
            if tokens:
                sentences.append(NerSentence(tuple(tokens), tuple(tags), line=first))
                tokens, tags = [], []
            continue
        if len(fields) < 2:
            raise DataFormatError(f"expected 'token tag', got {line!r}", path=path, line=lineno)
        if not _TAG.fullmatch(fields[-1]):
            raise DataFormatError(f"expected a tag O, B-X, I-X, E-X or S-X, got {fields[-1]!r}",
                                  path=path, line=lineno)
        if not tokens:
            first = lineno
        tokens.append(fields[0])
        tags.append(fields[-1])
    if tokens:
        sentences.append(NerSentence(tuple(tokens), tuple(tags), line=first))
    return sentences


def tag_spans(tags: Iterable[str]) -> list[tuple[int, int, str]]:
    """(start, end, label) entity spans, end exclusive, from BIO or BIOES tags.

    An entity starts at B-X or S-X, or at an I-X/E-X that does not continue an X entity; it ends
    after E-X or S-X, or before any tag that does not continue it.
    """
    spans: list[tuple[int, int, str]] = []
    start, label = None, None
    for i, tag in enumerate([*tags, "O"]):
        prefix, _, kind = tag.partition("-")
        continues = prefix in ("I", "E") and kind == label and start is not None
        if not continues and start is not None:
            spans.append((start, i, label))
            start = label = None
        if prefix in ("B", "S") or (prefix in ("I", "E") and not continues):
            start, label = i, kind
        if prefix in ("E", "S") and start is not None:
            spans.append((start, i + 1, label))
            start = label = None
    return spans


def spans_to_bio(length: int, spans: Iterable[tuple[int, int, str]]) -> list[str]:
    """BIO tags for `length` tokens from non-overlapping (start, end, label) spans."""
    tags = ["O"] * length
    for start, end, label in spans:
        if not 0 <= start < end <= length or any(t != "O" for t in tags[start:end]):
            raise ValueError(f"span {(start, end, label)} is out of range or overlaps another")
        tags[start:end] = [f"B-{label}"] + [f"I-{label}"] * (end - start - 1)
    return tags


# ---- knowledge-graph triples -------------------------------------------------------------------
TRIPLES_HEADER = "head\trelation\ttail"


def read_triples(path: PathLike) -> list[Triple]:
    """`head<TAB>relation<TAB>tail` rows after the header line `head<TAB>relation<TAB>tail`."""
    rows = numbered_lines(path)
    _, header = next(rows, (1, ""))
    if header != TRIPLES_HEADER:
        raise DataFormatError(f"expected the header {TRIPLES_HEADER!r}, got {header!r}",
                              path=path, line=1)
    triples = []
    for lineno, line in rows:
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != 3 or not all(f.strip() for f in fields):
            raise DataFormatError(f"expected 'head<TAB>relation<TAB>tail', got {line!r}",
                                  path=path, line=lineno)
        triples.append(Triple(*fields))
    return triples


# ---- aligned (triple, sentence) pairs ---------------------------------------------------------
ALIGNED_KEYS = ("head", "relation", "tail", "sentence")
SPAN_KEYS = ("head_span", "tail_span")


def read_aligned(path: PathLike, *, spans: bool = False) -> list[dict]:
    """kg/aligned_*.jsonl: {"head", "relation", "tail", "sentence"} non-empty strings, and
    "head_span" / "tail_span" [start, end] inside the sentence where given (required with
    ``spans=True``: the cloze queries cut the sentence there). Other keys pass through."""
    records = []
    for lineno, rec in _json_records(path, [*ALIGNED_KEYS, *(SPAN_KEYS if spans else ())]):
        bad = [k for k in ALIGNED_KEYS if not (isinstance(rec.get(k), str) and rec[k].strip())]
        bad += [k for k in SPAN_KEYS if (spans or k in rec) and not _is_span(rec.get(k),
                                                                             rec.get("sentence"))]
        if bad:
            raise DataFormatError(f"expected non-empty strings {list(ALIGNED_KEYS)} and spans "
                                  f"[start, end] inside the sentence; bad: {bad}", path=path,
                                  line=lineno)
        records.append(rec)
    return records


def _is_span(span: object, text: object) -> bool:
    return (isinstance(span, list) and len(span) == 2 and all(type(x) is int for x in span)
            and isinstance(text, str) and 0 <= span[0] < span[1] <= len(text))


# ---- People's Daily news JSONL -----------------------------------------------------------------
NEWS_KEYS = ("doc_id", "headline", "paragraphs", "entities")


def read_news(path: PathLike) -> list[NewsDocument]:
    """The news layout: {"doc_id", "headline", "paragraphs": [...], "entities": [[[s, e, label]]]}.

    Entity offsets are characters into their paragraph, end exclusive, and must lie inside it.
    """
    docs = []
    for lineno, rec in _json_records(path, list(NEWS_KEYS)):
        docs.append(_news_document(path, lineno, rec))
    return docs


def _news_document(path: PathLike, lineno: int, rec: dict) -> NewsDocument:
    def fail(message: str):
        raise DataFormatError(f"expected a JSON object with keys {list(NEWS_KEYS)}; {message}",
                              path=path, line=lineno)

    missing = [k for k in NEWS_KEYS if k not in rec]
    if missing:
        fail(f"missing {missing}")
    paragraphs, entities = rec["paragraphs"], rec["entities"]
    if not isinstance(rec["doc_id"], str) or not isinstance(rec["headline"], str):
        fail("doc_id and headline must be strings")
    if not isinstance(paragraphs, list) or not all(isinstance(p, str) for p in paragraphs):
        fail("paragraphs must be a list of strings")
    if not isinstance(entities, list) or len(entities) != len(paragraphs):
        fail(f"entities must be a list with one entry per paragraph ({len(paragraphs)})")
    checked = []
    for k, (paragraph, spans) in enumerate(zip(paragraphs, entities)):
        if not isinstance(spans, list):
            fail(f"entities[{k}] must be a list of [start, end, label]")
        for span in spans:
            ok = (isinstance(span, list) and len(span) == 3 and isinstance(span[2], str)
                  and all(type(x) is int for x in span[:2]))
            if not ok or not 0 <= span[0] < span[1] <= len(paragraph) or not span[2]:
                fail(f"entity {span!r} in paragraph {k} is not [start, end, label] with "
                     f"0 <= start < end <= {len(paragraph)}")
        checked.append(tuple((s, e, label) for s, e, label in spans))
    return NewsDocument(rec["doc_id"], rec["headline"], tuple(paragraphs), tuple(checked))
