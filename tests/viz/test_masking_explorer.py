"""MaskingExplorer, driven as a user would (set text, switch level, click), asserting on HTML."""

from __future__ import annotations

import html
import re

import pytest

from ernie3_lite import DATA_SAMPLES
from ernie3_lite.data.segmentation import Segmenter
from ernie3_lite.tokenization import CharTokenizer
from ernie3_lite.viz.examples import kg_sentence, news_sentence
from ernie3_lite.viz.masking_explorer import MaskingExplorer
from ernie3_lite.viz.masking_view import mask_sentence, masking_html

UNIT = re.compile(r'<span class="unit unit-(\w+)"[^>]*>([^<]*)</span>')


@pytest.fixture(scope="module")
def tokenizer():
    return CharTokenizer.from_file(DATA_SAMPLES / "vocab.txt")


@pytest.fixture(scope="module")
def segmenter():
    return Segmenter.from_triples(DATA_SAMPLES / "kg" / "triples.tsv", disk_cache=False)


@pytest.fixture
def explorer(tokenizer, segmenter):
    return MaskingExplorer(tokenizer=tokenizer, segmenter=segmenter)


def masked_text_div(value: str) -> str:
    return re.search(r'<div class="masked-text"[^>]*>(.*?)</div>', value).group(1)


def highlighted(value: str) -> list[tuple[str, str]]:
    """(level, text) of every highlighted unit in the sentence line."""
    return [(level, html.unescape(text)) for level, text in UNIT.findall(masked_text_div(value))]


def test_default_shows_a_real_sentence_with_its_units(explorer):
    text = kg_sentence()
    assert explorer.text.value == text
    value = explorer.html.value
    assert html.unescape(re.sub(r"<[^>]+>", "", masked_text_div(value))) == text
    assert len(highlighted(value)) == len(explorer.view.rows) > 0
    hidden = sum(r["end"] - r["start"] for r in explorer.view.rows)
    assert hidden == max(1, round(0.15 * len(explorer.view.encoded)))  # the 15 % budget
    assert f"{hidden} of {len(explorer.view.encoded)} tokens" in value
    assert value.count("<tr>") == len(explorer.view.rows) + 1  # header + one row per unit


def test_char_mode_hides_single_characters(explorer):
    explorer.mode.value = "char"
    units = highlighted(explorer.html.value)
    assert units and all(level == "char" and len(text) == 1 for level, text in units)
    assert "mode</b> char" in explorer.html.value


def test_entity_mode_hides_whole_entities(explorer, segmenter):
    explorer.mode.value = "entity"
    entities = {explorer.text.value[s.start:s.end] for s in segmenter.entities(explorer.text.value)}
    units = highlighted(explorer.html.value)
    entity_texts = [text for level, text in units if level == "entity"]
    assert entity_texts and set(entity_texts) <= entities
    for row in explorer.view.rows:  # an entity unit is a whole entity, never a piece
        if row["level"] == "entity":
            assert row["original"] in entities


def test_phrase_mode_hides_whole_phrases(explorer, segmenter):
    explorer.mode.value = "phrase"
    text = explorer.text.value
    phrases = {text[s.start:s.end] for s in segmenter.phrases(text)}
    phrase_texts = [t for level, t in highlighted(explorer.html.value) if level == "phrase"]
    assert phrase_texts and set(phrase_texts) <= phrases


def test_remask_moves_to_the_next_seed_and_changes_the_selection(explorer):
    explorer.mode.value = "char"
    before = explorer.html.value
    explorer.remask.click()
    assert explorer.seed.value == 1
    assert explorer.html.value != before
    explorer.seed.value = 0  # the same seed gives the same picture back
    assert explorer.html.value == before


def test_typing_a_new_sentence_updates_the_view(explorer):
    sentence = news_sentence(index=2)
    explorer.text.value = sentence
    value = explorer.html.value
    assert html.unescape(re.sub(r"<[^>]+>", "", masked_text_div(value))) == sentence
    assert explorer.summary().splitlines()[0].startswith("mode=entity seed=0")
    explorer.text.value = "   "
    assert explorer.view is None and "type a sentence" in explorer.html.value


def test_user_text_is_escaped(tokenizer, segmenter):
    view = mask_sentence("a<b>&c" * 4, mode="char", seed=0, tokenizer=tokenizer,
                         segmenter=segmenter)
    value = masking_html(view)
    assert "<b>&c" not in value and "&lt;b&gt;&amp;c" in value


def test_unknown_mode_is_rejected(tokenizer, segmenter):
    with pytest.raises(ValueError, match="mode must be one of"):
        mask_sentence("x", mode="word-level", seed=0, tokenizer=tokenizer, segmenter=segmenter)
