"""The knowledge graph (triples) and its distant-supervision alignment with news sentences, the
(triple, sentence) pairs of Universal Knowledge-Text Prediction (ERNIE 3.0 arXiv 2107.02137 §3.2.3).

Sources, read as files (cpca is never imported: its `__init__` needs pkg_resources):
- `cpca/resources/adcodes.csv` (GB/T 2260 codes): county -隶属-> prefecture (or the province /
  municipality when the prefecture row is a placeholder: 市辖区, 县, 省直辖县级行政区划),
  prefecture -隶属-> province, and province -省会-> the prefecture coded PP01 (27 provinces and
  autonomous regions; the four municipalities have a placeholder there and get none).
- Unicode CLDR through babel, Chinese names: country -货币-> legal-tender currency (as of
  `CLDR_DATE`, fixed so the build is reproducible) and country -官方语言-> official language
  (script variants folded into the base language: zh_Hant -> 中文). Countries are the 2-letter
  ISO 3166-1 codes; CLDR's reserved or user-assigned codes (EU, UN, XK, QO, ...) are dropped.

Alignment rule (a pair is kept when head and tail are both *mentioned* in one sentence):
- a mention is a full name or an accepted short form of it, and must start and end on gold word
  boundaries of the People's Daily segmentation (so 新华 never matches inside 新华社, nor 南京 in
  南京路); a mention nested inside a longer mention is dropped; head and tail must not overlap;
- short form = the name without its suffix (特别行政区, 自治区/州/县/旗 with the ethnic groups
  before it, 地区, 新区, 林区, 省, 市, 县, 区, 盟), at least 2 characters;
- a short form is accepted only if the corpus itself uses it as a place: it occurs as a whole
  token tagged `ns` at least once and at least as often as with other tags (和平, 新华 are
  refused); a full division name is refused when it occurs more often with other tags (城区);
- when divisions with different full names share a short form, only the highest level keeps it
  (吉林 -> 吉林省, not 吉林市); CLDR names get no short forms;
- sentences longer than `MAX_SENTENCE_CHARS` (name lists, tables) are not used.
"""

from __future__ import annotations

import csv
import datetime
import importlib.util
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ernie3_lite.data.formats import DataFormatError, Triple

RELATIONS = ("隶属", "省会", "货币", "官方语言")
PLACEHOLDERS = frozenset({"市辖区", "县", "省直辖县级行政区划", "自治区直辖县级行政区划"})
CLDR_DATE = datetime.date(2025, 1, 1)
NOT_COUNTRIES = frozenset({"AC", "CP", "CQ", "DG", "EA", "EU", "EZ", "IC", "TA", "UN", "ZZ"})
MAX_SENTENCE_CHARS = 200
SHORT_SUFFIXES = ("地区", "新区", "林区", "省", "市", "县", "区", "盟")
_AUTONOMY = re.compile(r"(自治区|自治州|自治县|自治旗)$")


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"{name} is not installed: pip install -e '.[corpora]'")
    return Path(spec.submodule_search_locations[0])


def adcodes_path() -> Path:
    return _package_dir("cpca") / "resources" / "adcodes.csv"


def read_adcodes(path: Path | None = None) -> dict[str, str]:
    """adcode (12 digits) -> name, validated line by line."""
    path = Path(path) if path is not None else adcodes_path()
    codes: dict[str, str] = {}
    with open(path, encoding="utf-8", newline="") as handle:
        for line_no, row in enumerate(csv.reader(handle), start=1):
            if line_no == 1:
                if row[:2] != ["adcode", "name"]:
                    raise DataFormatError(f"header {row!r} is not adcode,name,...", path=path,
                                          line=1)
                continue
            if len(row) < 2 or not re.fullmatch(r"\d{12}", row[0]) or not row[1].strip():
                raise DataFormatError(f"expected a 12-digit adcode and a name, got {row!r}",
                                      path=path, line=line_no)
            codes[row[0]] = row[1].strip()
    return codes


def division_triples(codes: dict[str, str]) -> tuple[list[Triple], dict[str, int]]:
    """隶属 and 省会 triples in code order, and each name's level (0 province, 1 prefecture,
    2 county; a name used at several levels keeps the highest)."""
    real = {c: n for c, n in codes.items() if n not in PLACEHOLDERS}
    levels: dict[str, int] = {}
    belongs, capitals = [], []
    for code in sorted(real):
        name, province, prefecture = real[code], code[:2] + "0" * 10, code[:4] + "0" * 8
        level = 0 if code == province else (1 if code == prefecture else 2)
        levels[name] = min(level, levels.get(name, level))
        parent = real.get(prefecture) if level == 2 else None
        parent = parent or (real.get(province) if level > 0 else None)
        if parent:
            belongs.append(Triple(name, "隶属", parent))
        capital = real.get(code[:2] + "01" + "0" * 8) if level == 0 else None
        if capital:
            capitals.append(Triple(name, "省会", capital))
    return _unique(belongs + capitals), levels


def cldr_triples(locale: str = "zh") -> list[Triple]:
    """货币 then 官方语言 triples for every ISO 3166-1 country, in region-code order."""
    import babel
    import babel.languages
    import babel.numbers

    names = babel.Locale.parse(locale)
    codes = sorted(c for c in names.territories if len(c) == 2 and c.isalpha())
    countries = [c for c in codes if c not in NOT_COUNTRIES and c[0] not in "QX"]
    currencies, languages = [], []
    for code in countries:
        country = names.territories[code]
        for cur in babel.numbers.get_territory_currencies(code, start_date=CLDR_DATE):
            if cur in names.currencies:
                currencies.append(Triple(country, "货币", names.currencies[cur]))
        for lang in babel.languages.get_official_languages(code):
            base = lang.split("_")[0]
            if base in names.languages:
                languages.append(Triple(country, "官方语言", names.languages[base]))
    return _unique(currencies + languages)


def _unique(triples: Iterable[Triple]) -> list[Triple]:
    return list(dict.fromkeys(triples))


def ethnic_groups() -> list[str]:
    """The 56 ethnic groups (cpca/resources/56_nations.csv), longest first."""
    path = adcodes_path().with_name("56_nations.csv")
    names = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    return sorted({n for n in names if n}, key=lambda n: (-len(n), n))


def short_form(name: str, groups: list[str]) -> str | None:
    """Name without its administrative suffix (see module doc), or None when under 2 chars."""
    if name.endswith("特别行政区"):
        stem = name[: -len("特别行政区")]
    elif _AUTONOMY.search(name):
        stem = _AUTONOMY.sub("", name)
        stripped = True
        while stripped:  # 黔东南苗族侗族 -> 黔东南, 伊犁哈萨克 -> 伊犁, but 内蒙古 stays
            stripped = False
            for group in groups + [g[:-1] for g in groups if len(g) > 2]:
                if stem.endswith(group) and len(stem) - len(group) >= 2:
                    stem, stripped = stem[: -len(group)], True
                    break
    else:
        suffix = next((s for s in SHORT_SUFFIXES if name.endswith(s)), "")
        stem = name[: len(name) - len(suffix)]
    return stem if len(stem) >= 2 and stem != name else None


def mention_forms(levels: dict[str, int], place_votes: Counter, other_votes: Counter,
                  extra_names: Iterable[str] = ()) -> dict[str, tuple[str, ...]]:
    """surface form -> the names it can mention. `place_votes[w]` / `other_votes[w]` count the
    corpus tokens equal to w tagged ns / anything else (the short-form acceptance test)."""
    groups = ethnic_groups()
    forms: dict[str, set[str]] = {n: {n} for n in extra_names}
    for name in levels:  # a full name that the corpus mostly uses as a common word (城区, 郊区)
        if other_votes[name] <= place_votes[name]:
            forms.setdefault(name, set()).add(name)
    candidates: dict[str, list[str]] = {}
    for name in sorted(levels):
        short = short_form(name, groups)
        if short and short not in forms and place_votes[short] >= max(1, other_votes[short]):
            candidates.setdefault(short, []).append(name)
    for short, names in candidates.items():
        top = min(levels[n] for n in names)
        forms[short] = {n for n in names if levels[n] == top}
    return {form: tuple(sorted(names)) for form, names in forms.items()}


@dataclass(frozen=True)
class Sentence:
    doc_id: str
    text: str
    boundaries: frozenset[int]  # gold word boundaries, offsets into text


def find_mentions(sentence: Sentence, forms: dict[str, tuple[str, ...]],
                  lengths: list[int]) -> dict[str, list[tuple[int, int]]]:
    """name -> spans of its maximal, word-aligned mentions in the sentence."""
    text, bounds = sentence.text, sentence.boundaries
    found = [
        (start, start + n)
        for start in sorted(bounds)
        for n in lengths
        if start + n in bounds and text[start : start + n] in forms
    ]
    maximal = [s for s in found if not any(o != s and o[0] <= s[0] and s[1] <= o[1] for o in found)]
    mentions: dict[str, list[tuple[int, int]]] = {}
    for start, end in maximal:
        for name in forms[text[start:end]]:
            mentions.setdefault(name, []).append((start, end))
    return mentions


def align(triples: list[Triple], sentences: Iterable[Sentence],
          forms: dict[str, tuple[str, ...]]) -> Iterator[dict]:
    """Distant supervision: one pair per (triple, distinct sentence) with both names mentioned,
    in sentence order then triple order. Spans are char offsets into the sentence."""
    by_head: dict[str, list[Triple]] = {}
    for triple in triples:
        by_head.setdefault(triple.head, []).append(triple)
    lengths = sorted({len(f) for f in forms})
    seen: set[tuple[Triple, str]] = set()
    for sentence in sentences:
        if len(sentence.text) > MAX_SENTENCE_CHARS:
            continue
        mentions = find_mentions(sentence, forms, lengths)
        for head in sorted(mentions):
            for triple in by_head.get(head, ()):
                spans = _disjoint(mentions[head], mentions.get(triple.tail, []))
                if spans is None or (triple, sentence.text) in seen:
                    continue
                seen.add((triple, sentence.text))
                yield {"head": triple.head, "relation": triple.relation, "tail": triple.tail,
                       "sentence": sentence.text, "doc_id": sentence.doc_id,
                       "head_span": list(spans[0]), "tail_span": list(spans[1])}


def _disjoint(heads: list[tuple[int, int]], tails: list[tuple[int, int]]):
    for h in heads:
        for t in tails:
            if h[1] <= t[0] or t[1] <= h[0]:
                return h, t
    return None
