"""Writers for the file formats of `ernie3_lite.data.formats` (see data_samples/README.md).

Every writer is atomic (`ernie3_lite.atomic.atomic_write_text`): it writes a temporary file
beside the target, fsyncs it, gives it the umask's mode and renames it over the target, so a crash
never leaves half a file. What they write, the readers of `formats` read back unchanged
(tests/data/test_formats.py round-trips each format). Stdlib only.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from ernie3_lite.atomic import atomic_write_text
from ernie3_lite.data.formats import (
    TRIPLES_HEADER,
    ClassificationExample,
    NerSentence,
    NewsDocument,
    PathLike,
    Triple,
)


def write_jsonl(path: PathLike, records: Iterable[dict]) -> None:
    lines = (json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    atomic_write_text(path, "".join(lines))


def write_news(path: PathLike, docs: Iterable[NewsDocument]) -> None:
    write_jsonl(path, ({"doc_id": d.doc_id, "headline": d.headline, "paragraphs": d.paragraphs,
                        "entities": d.entities} for d in docs))


def _tsv_row(fields: Iterable[str]) -> str:
    fields = list(fields)
    if any("\t" in f or "\n" in f or "\r" in f for f in fields):
        raise ValueError(f"a TSV field contains a tab or line break: {fields}")
    return "\t".join(fields) + "\n"


def write_triples(path: PathLike, triples: Iterable[Triple | tuple[str, str, str]]) -> None:
    rows = (_tsv_row(t.__dict__.values() if isinstance(t, Triple) else t) for t in triples)
    atomic_write_text(path, TRIPLES_HEADER + "\n" + "".join(rows))


def write_classification(path: PathLike, examples: Iterable[ClassificationExample]) -> None:
    """TSV with header `label<TAB>text_a` (plus `<TAB>text_b` if any example has a text_b)."""
    examples = list(examples)
    pairs = any(e.text_b is not None for e in examples)
    header = ["label", "text_a", "text_b"] if pairs else ["label", "text_a"]
    rows = (_tsv_row([e.label, e.text, e.text_b or ""][: len(header)]) for e in examples)
    atomic_write_text(path, _tsv_row(header) + "".join(rows))


def write_bio(path: PathLike, sentences: Iterable[NerSentence]) -> None:
    """`token tag` per line, a blank line after each sentence (tokens must not be whitespace)."""
    blocks = []
    for sent in sentences:
        if len(sent.tokens) != len(sent.tags) or any(not t.strip() or t.split() != [t]
                                                     for t in sent.tokens):
            raise ValueError(f"bad NER sentence (lengths differ or a token has spaces): {sent}")
        blocks.append("".join(f"{tok} {tag}\n" for tok, tag in zip(sent.tokens, sent.tags)) + "\n")
    atomic_write_text(path, "".join(blocks))
