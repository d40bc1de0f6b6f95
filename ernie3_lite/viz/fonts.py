"""Chinese in matplotlib on any machine: a full system CJK font if one is installed, else the
bundled subset of Noto Sans CJK SC (SIL OFL 1.1, see `fonts/README.md`).

matplotlib's default DejaVu Sans has no hanzi: tick labels come out as empty boxes and every draw
warns `Glyph ... missing from font(s) DejaVu Sans` on stderr, which also breaks nbval. Call
`use_cjk_font()` once before creating figures (rcParams are read when a text is created).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib as mpl
from matplotlib import font_manager

FONT_DIR = Path(__file__).resolve().parent / "fonts"
BUNDLED_FONT = FONT_DIR / "NotoSansCJKsc-Subset.otf"
#: the family name written into the subset by `fonts/make_subset.py`
BUNDLED_FAMILY = "Noto Sans CJK SC Subset"
#: full CJK fonts worth preferring when installed (simplified Chinese first)
SYSTEM_CJK_FAMILIES = (
    "Noto Sans CJK SC",
    "Source Han Sans SC",
    "Source Han Sans CN",
    "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei",
    "Microsoft YaHei",
    "PingFang SC",
)
#: where glyphs the CJK font lacks (some maths symbols) come from
FALLBACK_FAMILY = "DejaVu Sans"


def installed_families() -> set[str]:
    """Family names matplotlib's font manager knows (its cache is built once per install)."""
    return {entry.name for entry in font_manager.fontManager.ttflist}


def system_cjk_family() -> str | None:
    """The first of `SYSTEM_CJK_FAMILIES` that matplotlib can find, or None."""
    known = installed_families()
    return next((family for family in SYSTEM_CJK_FAMILIES if family in known), None)


def register_bundled_font() -> str:
    """Add the bundled subset to matplotlib's font manager (once) and return its family name."""
    registered = {Path(entry.fname).resolve() for entry in font_manager.fontManager.ttflist}
    if BUNDLED_FONT.resolve() not in registered:
        font_manager.fontManager.addfont(str(BUNDLED_FONT))
    return BUNDLED_FAMILY


def use_cjk_font(*, prefer_system: bool = True) -> str:
    """Make matplotlib draw Chinese: set `font.family` to [CJK family(s), DejaVu Sans].

    Prefers a full system CJK font (`prefer_system`); the bundled subset, which covers every
    character of the shipped data and all of GB 2312, is always registered and comes next, so a
    glyph the system font lacks still has a CJK fallback (matplotlib >= 3.6 falls back along
    `font.family`). Idempotent; returns the CJK family now first in `rcParams["font.family"]`.
    """
    bundled = register_bundled_font()
    system = system_cjk_family() if prefer_system else None
    families = [system, bundled] if system else [bundled]
    mpl.rcParams["font.family"] = [*families, FALLBACK_FAMILY]
    return families[0]
