"""Rebuild `NotoSansCJKsc-Subset.otf` from the Debian `fonts-noto-cjk` package (see README.md).

    cd /tmp && apt-get download fonts-noto-cjk && dpkg-deb -x fonts-noto-cjk_*.deb fontsx
    python ernie3_lite/viz/fonts/make_subset.py \
        --ttc /tmp/fontsx/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc

Build-time only: it needs `fontTools` (already installed as a matplotlib dependency). The
character set is every character of the shipped data (text, knowledge graph, vocab.txt; also
`data/full` when it has been built), all of GB 2312 (so users' own simplified Chinese works),
ASCII, Latin-1 and the common CJK punctuation / full-width blocks. Hinting, layout features and
vertical metrics are dropped: matplotlib draws horizontal text from outlines and advances only.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
OUTPUT = HERE / "NotoSansCJKsc-Subset.otf"
#: the subset's own family name: a Modified Version under the OFL, and distinct from a full
#: system Noto Sans CJK SC, so `use_cjk_font` can tell which one matplotlib picked
FAMILY = "Noto Sans CJK SC Subset"
SC_INDEX_IN_TTC = 2  # JP, KR, SC, TC, HK, then the Mono faces (Noto CJK 2.004)
TEXT_SUFFIXES = {".jsonl", ".tsv", ".bio", ".txt"}

# (first, last) code points, inclusive
BLOCKS = [
    (0x0020, 0x007E),  # ASCII
    (0x00A0, 0x00FF),  # Latin-1 supplement (·, °, ×, ...)
    (0x2010, 0x203A),  # general punctuation: dashes, quotes, …, ‰
    (0x2190, 0x2193),  # arrows
    (0x3000, 0x303F),  # CJK symbols and punctuation: 、。〈〉《》「」【】
    (0xFF01, 0xFF5E),  # full-width ASCII forms: ，！？（）：；
    (0xFFE0, 0xFFE6),  # full-width ¢ £ ¬ ¥
]


def gb2312_characters() -> set[str]:
    """Every character GB 2312 encodes (6,763 hanzi plus its symbols)."""
    chars = set()
    for high in range(0xA1, 0xF8):
        for low in range(0xA1, 0xFF):
            try:
                chars.add(bytes([high, low]).decode("gb2312"))
            except UnicodeDecodeError:
                continue
    return chars


def data_characters(folder: Path, *, skip: tuple[str, ...] = ()) -> set[str]:
    """Every character of the text files under `folder` (JSON escapes decoded), but those in
    its sub-folders named in `skip`."""
    chars: set[str] = set()
    for path in sorted(folder.rglob("*")):
        if not path.is_file() or path.suffix not in TEXT_SUFFIXES:
            continue
        if path.relative_to(folder).parts[0] in skip:
            continue
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".jsonl":
            text = "\n".join(json.dumps(json.loads(line), ensure_ascii=False)
                             for line in text.splitlines() if line.strip())
        chars |= set(text)
    return chars


#: the full poetry holds ~20 k rare and variant characters no model here can write: the font
#: takes the poetry characters of the vocabulary (vocab_poetry.txt) and data_samples/poetry
FULL_BUILD_SKIP = ("poetry",)


def character_set(data_folders: list[Path]) -> set[str]:
    chars = gb2312_characters()
    for first, last in BLOCKS:
        chars |= {chr(code) for code in range(first, last + 1)}
    for folder in data_folders:
        if folder.is_dir():
            chars |= data_characters(folder, skip=() if folder.name == "data_samples"
                                     else FULL_BUILD_SKIP)
    return {c for c in chars if c.isprintable() and not c.isspace() or c == " "}


def rename(font, family: str) -> None:
    """Give the subset its own family name (name IDs 1, 4, 6, 16, 17); keep licence fields."""
    postscript = family.replace(" ", "") + "-Regular"
    for record in font["name"].names:
        if record.nameID in (1, 16):
            record.string = family
        elif record.nameID == 4:
            record.string = f"{family} Regular"
        elif record.nameID == 6:
            record.string = postscript
        elif record.nameID == 17:
            record.string = "Regular"
    font["CFF "].cff.fontNames = [postscript]


def build(ttc: Path, *, data_folders: list[Path], output: Path = OUTPUT) -> tuple[int, int]:
    """Write the subset font; returns (code points kept, glyphs in the font)."""
    from fontTools import subset
    from fontTools.ttLib import TTCollection

    font = TTCollection(str(ttc)).fonts[SC_INDEX_IN_TTC]
    cmap = font.getBestCmap()
    unicodes = sorted(ord(c) for c in character_set(data_folders) if ord(c) in cmap)
    options = subset.Options()
    options.layout_features = []  # matplotlib does no OpenType shaping
    options.hinting = False
    options.name_IDs = ["*"]  # keep copyright, licence and trademark notices
    options.name_languages = ["*"]
    options.drop_tables += ["BASE", "GDEF", "GPOS", "GSUB", "VORG", "vhea", "vmtx"]
    subsetter = subset.Subsetter(options=options)
    subsetter.populate(unicodes=unicodes)
    subsetter.subset(font)
    rename(font, FAMILY)
    font.recalcTimestamp = False  # keep head.modified: the same inputs give the same bytes
    font.save(str(output))
    return len(unicodes), len(font.getGlyphOrder())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ttc", type=Path, required=True, help="NotoSansCJK-Regular.ttc")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    folders = [REPO / "data_samples", REPO / "data" / "full"]
    kept, glyphs = build(args.ttc, data_folders=folders, output=args.output)
    size = args.output.stat().st_size
    print(f"{args.output.name}: {kept} code points, {glyphs} glyphs, {size / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
