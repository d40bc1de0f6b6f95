"""Chinese draws in matplotlib without missing glyphs, with the bundled subset font alone."""

from __future__ import annotations

import unicodedata
import warnings

import matplotlib as mpl
import pytest
from fontTools.ttLib import TTFont
from matplotlib import font_manager
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ernie3_lite import DATA_SAMPLES
from ernie3_lite.data.formats import read_news
from ernie3_lite.viz import fonts


def _vocab_characters() -> str:
    tokens = [line.split("\t")[0] for line in
              (DATA_SAMPLES / "vocab.txt").read_text(encoding="utf-8").splitlines()]
    chars = sorted({c for token in tokens if not token.startswith("[") for c in token})
    # private-use code points (4 in the vocab, from mojibake reviews) have no standard glyph
    return "".join(c for c in chars if unicodedata.category(c) != "Co")


def _missing_glyph_warnings(draw) -> list[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        draw()
    return [str(w.message) for w in caught if "missing from font" in str(w.message)]


def _draw_corpus_figure() -> None:
    headline = read_news(DATA_SAMPLES / "news" / "train.jsonl")[0].headline
    chars = _vocab_characters()
    fig = Figure(figsize=(6, 6))
    ax = fig.subplots()
    ax.set_title(headline)
    ax.set_xticks(range(len(headline)), list(headline))
    ax.set_yticks(range(8), list(chars[:8]))
    for row, start in enumerate(range(0, len(chars), 120)):
        ax.text(0, row, chars[start:start + 120], fontsize=3)
    FigureCanvasAgg(fig).draw()  # a bare Figure's canvas does not render


@pytest.fixture
def clean_rc():
    with mpl.rc_context():
        yield


def test_default_font_misses_chinese_glyphs(clean_rc):
    """The test of the test: without `use_cjk_font` the same figure does warn."""
    mpl.rcParams["font.family"] = ["DejaVu Sans"]
    assert _missing_glyph_warnings(_draw_corpus_figure)


def test_bundled_font_draws_every_vocab_character(clean_rc):
    family = fonts.use_cjk_font(prefer_system=False)
    assert family == fonts.BUNDLED_FAMILY
    assert mpl.rcParams["font.family"] == [fonts.BUNDLED_FAMILY, "DejaVu Sans"]
    assert _missing_glyph_warnings(_draw_corpus_figure) == []


def test_use_cjk_font_default_draws_chinese(clean_rc):
    """Whatever family is chosen on this machine (system or bundled), nothing is missing."""
    family = fonts.use_cjk_font()
    assert family in (fonts.BUNDLED_FAMILY, *fonts.SYSTEM_CJK_FAMILIES)
    assert _missing_glyph_warnings(_draw_corpus_figure) == []


def test_use_cjk_font_is_idempotent(clean_rc):
    fonts.use_cjk_font(prefer_system=False)
    before = len(font_manager.fontManager.ttflist)
    assert fonts.use_cjk_font(prefer_system=False) == fonts.BUNDLED_FAMILY
    assert len(font_manager.fontManager.ttflist) == before


def test_prefers_an_installed_system_font(clean_rc, monkeypatch):
    monkeypatch.setattr(fonts, "installed_families", lambda: {"DejaVu Sans", "WenQuanYi Zen Hei"})
    assert fonts.use_cjk_font() == "WenQuanYi Zen Hei"
    # the bundled subset stays next in line for glyphs the system font lacks
    assert mpl.rcParams["font.family"] == ["WenQuanYi Zen Hei", fonts.BUNDLED_FAMILY,
                                           "DejaVu Sans"]


def test_bundled_font_file_is_small_and_documented():
    font = TTFont(fonts.BUNDLED_FONT)
    cmap = font.getBestCmap()
    assert fonts.BUNDLED_FONT.stat().st_size < 3_000_000
    assert all(ord(c) in cmap for c in _vocab_characters() + "，。！？、《》“”（）：；")
    assert font["name"].getDebugName(1) == fonts.BUNDLED_FAMILY
    readme = (fonts.FONT_DIR / "README.md").read_text(encoding="utf-8")
    assert f"{len(font.getGlyphOrder()):,} glyphs" in readme
    assert (fonts.FONT_DIR / "OFL.txt").read_text(encoding="utf-8").count("OPEN FONT LICENSE")
