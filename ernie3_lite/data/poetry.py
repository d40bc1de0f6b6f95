"""Classical poetry, the second register: npm `chinese-poetry` 2.0.1 (MIT, © 2016 JackeyGao),
fetched with `npm pack`, converted to simplified characters, deduplicated and split by poem.

ERNIE 3.0 claims genre diversity (arXiv 2107.02137 §3.3.2); news and reviews are modern prose.
Read, by genre: shi = `quantangshi/poet.{tang,song}.*.json` minus the ids the package's own
`quantangshi/error/` lists flag; ci = `songci/ci.song.*.json` (title = the tune, 词牌); shijing;
lunyu (one chapter per entry); mengxue = every record with `paragraphs` in `mengxue/*.json`.
Not read: yudingquantangshi (a second copy of the Tang poems), chuci, yuanqu, strains, rank.

Cleaning: OpenCC `t2s`, NFKC as every corpus here (`，` -> `,`), one space per whitespace run;
empty poems dropped; exact duplicates by `Poem.key` (letters only) keep the first read. The
collections also hold near-copies (variant characters, data_sources.md §7): poems sharing any
line of >= `MIN_SHARED_LINE` characters form a group (union-find), and a group goes to ONE
split by the stable hash of its first poem's key, so no held-out line is verbatim in train.
Inside a split poems are in SHA-1 order of their key (a deterministic shuffle of the genres).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ernie3_lite.data.formats import DataFormatError, PathLike, numbered_lines
from ernie3_lite.data.splits import split_of

PACKAGE, VERSION = "chinese-poetry", "2.0.1"
#: `npm view chinese-poetry@2.0.1 dist.integrity`; a cached or fresh tarball must match it
INTEGRITY = ("sha512-KtYARvV7CWNtax0na9+Jn6PlhGgSoid7PWyDzXI4KsCEm2odZcqEQyval5koaLygZnM/"
             "EQ3lfJ//25K8p3uHNg==")
TARBALL = f"{PACKAGE}-{VERSION}.tgz"
NPM_MISSING = ("npm not found on PATH: install it (e.g. `apt-get install npm`) to fetch the "
               f"classical-poetry corpus ({PACKAGE} {VERSION}), or build with --poetry skip")
GENRES = ("shi", "ci", "shijing", "lunyu", "mengxue")
HELD_OUT_PCT = 5  # per held-out split, as news and reviews
MIN_SHARED_LINE = 5  # a shared line this long puts two poems in one split group
POEM_KEYS = ("id", "title", "author", "dynasty", "genre", "paragraphs")
# (genre, dynasty, member path under package/dist/); the Tang files come before the Song files
SOURCES = (
    ("shi", "唐", re.compile(r"quantangshi/poet\.tang\.\d+\.json")),
    ("shi", "宋", re.compile(r"quantangshi/poet\.song\.\d+\.json")),
    ("ci", "宋", re.compile(r"songci/ci\.song\.\w+\.json")),
    ("shijing", "先秦", re.compile(r"shijing/shijing\.json")),
    ("lunyu", "先秦", re.compile(r"lunyu/lunyu\.json")),
    ("mengxue", "", re.compile(r"mengxue/[\w-]+\.json")),
)
ERRORS = re.compile(r"quantangshi/error/poet\.(tang|song)\.\d+\.json")


class PoetryUnavailable(RuntimeError):
    """The package cannot be fetched here (no npm, no network, a wrong tarball)."""


@dataclass(frozen=True)
class Poem:
    poem_id: str  # the package's id, or "<member path>#<n>" where it has none
    title: str
    author: str
    dynasty: str  # 唐 / 宋 / 先秦, "" where the collection mixes periods (mengxue)
    genre: str
    paragraphs: tuple[str, ...]

    def text(self) -> str:  # the body
        return "".join(self.paragraphs)

    def key(self) -> str:
        """The body's letters only: what dedup and the split hash compare."""
        return "".join(ch for ch in self.text() if ch.isalnum())

    def lines(self) -> list[str]:
        """The body cut at every non-letter (a line of verse, a clause of prose)."""
        return [line for line in re.split(r"\W+", self.text()) if line]

    def to_json(self) -> dict:
        values = (self.poem_id, self.title, self.author, self.dynasty, self.genre)
        return {**dict(zip(POEM_KEYS, values)), "paragraphs": list(self.paragraphs)}


@dataclass
class PoetryStats:  # what read_package and split_poems dropped or grouped
    read: Counter = field(default_factory=Counter)  # genre -> records read
    flagged: int = 0  # listed in quantangshi/error/
    empty: int = 0
    duplicates: int = 0
    grouped: int = 0  # poems that share a line with an earlier poem (same split as it)

    def summary(self) -> str:
        read = ", ".join(f"{self.read[g]} {g}" for g in GENRES)
        return (f"poetry: read {read}; dropped {self.flagged} flagged by the package, "
                f"{self.empty} empty, {self.duplicates} exact duplicates; {self.grouped} "
                "near-copies kept in the split of the poem they share a line with")


def default_cache() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ernie3_lite"


def integrity(path: PathLike) -> str:
    """npm's Subresource Integrity string of a file: sha512, base64."""
    digest = hashlib.sha512()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return "sha512-" + base64.b64encode(digest.digest()).decode("ascii")


def fetch(cache: PathLike | None = None, *, log: Callable[[str], None] = print) -> Path:
    """The verified tarball in `cache` (default ~/.cache/ernie3_lite), packed by npm if absent."""
    cache = Path(cache) if cache is not None else default_cache()
    tarball = cache / TARBALL
    if tarball.is_file() and integrity(tarball) == INTEGRITY:
        return tarball
    npm = shutil.which("npm")
    if npm is None:
        raise PoetryUnavailable(NPM_MISSING)
    cache.mkdir(parents=True, exist_ok=True)
    log(f"poetry: npm pack {PACKAGE}@{VERSION} into {cache} (85 MB)")
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        done = subprocess.run([npm, "pack", f"{PACKAGE}@{VERSION}", "--pack-destination", tmp,
                               "--silent"], capture_output=True, text=True)
        packed = Path(tmp) / TARBALL
        if done.returncode != 0 or not packed.is_file():
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            raise PoetryUnavailable(f"npm pack {PACKAGE}@{VERSION} failed: {' / '.join(tail)}")
        if integrity(packed) != INTEGRITY:
            raise PoetryUnavailable(f"{TARBALL} from npm does not match {INTEGRITY}")
        os.replace(packed, tarball)
    return tarball


def _natural(path: str) -> list:  # poet.tang.2000 before poet.tang.10000
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path)]


def _members(tarball: Path) -> dict[str, object]:
    """Parsed JSON of every member that SOURCES or ERRORS name, by path under dist/."""
    wanted = [pattern for *_, pattern in SOURCES] + [ERRORS]
    out = {}
    with tarfile.open(tarball, "r:gz") as archive:
        for member in archive:
            name = member.name.removeprefix("package/dist/")
            if member.isfile() and any(p.fullmatch(name) for p in wanted):
                out[name] = json.load(archive.extractfile(member))
    return out


def _records(genre: str, data, path: str) -> Iterator[tuple[str, str, str, list]]:
    """(id, title, author, paragraphs) of each entry of one file, raw."""
    if genre != "mengxue":  # shi and ci: title or tune (rhythmic); lunyu: chapter; shijing
        for n, rec in enumerate(data):
            title = rec.get("title") or rec.get("rhythmic") or rec.get("chapter") or ""
            yield (rec.get("id") or f"{path}#{n}", title, rec.get("author", ""),
                   rec.get("paragraphs") or rec.get("content") or [])
    else:  # mengxue: any nesting of {"content": [...]} down to records with "paragraphs"
        found = []

        def walk(node, title: str, author: str) -> None:
            if isinstance(node, list):
                for child in node:
                    walk(child, title, author)
            elif isinstance(node, dict):
                author = node.get("author") or author
                part = node.get("chapter") or node.get("subchapter") or ""
                here, paragraphs = f"{title}·{part}" if part else title, node.get("paragraphs")
                if isinstance(paragraphs, list) and all(isinstance(p, str) for p in paragraphs):
                    found.append((here, author, paragraphs))
                else:  # 千家诗 nests a poem's parts (其一, 其二) as records in `paragraphs`
                    walk(paragraphs, here, author)
                walk(node.get("content"), title, author)

        walk(data, data.get("title", ""), "")
        for n, (title, author, paragraphs) in enumerate(found):
            yield f"{path}#{n}", title, author, paragraphs


def simplifier() -> Callable[[str], str]:
    """t2s (OpenCC), then NFKC and one space per whitespace run."""
    try:
        import opencc
    except ImportError as err:
        raise PoetryUnavailable("opencc is not installed: pip install -e '.[corpora]'") from err
    convert = opencc.OpenCC("t2s").convert
    return lambda text: " ".join(unicodedata.normalize("NFKC", convert(text)).split())


def read_package(tarball: PathLike) -> tuple[list[Poem], PoetryStats]:
    """Cleaned, deduplicated poems in reading order (SOURCES order, files in natural order)."""
    members, clean, stats = _members(Path(tarball)), simplifier(), PoetryStats()
    flagged = {rec["id"] for name, data in members.items() if ERRORS.fullmatch(name)
               for rec in data if rec.get("id")}
    poems, seen = [], set()
    for genre, dynasty, pattern in SOURCES:
        for path in sorted((p for p in members if pattern.fullmatch(p)), key=_natural):
            for poem_id, title, author, paragraphs in _records(genre, members[path], path):
                stats.read[genre] += 1
                if poem_id in flagged:
                    stats.flagged += 1
                    continue
                kept = tuple(c for c in (clean(p) for p in paragraphs if isinstance(p, str)) if c)
                poem = Poem(poem_id, clean(title), clean(author), dynasty, genre, kept)
                if not poem.key():
                    stats.empty += 1
                elif poem.key() in seen:
                    stats.duplicates += 1
                else:
                    seen.add(poem.key())
                    poems.append(poem)
    return poems, stats


def groups(poems: list[Poem]) -> list[int]:
    """For each poem, the index of the first poem of its group (poems linked by shared lines)."""
    parent = list(range(len(poems)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    owner: dict[str, int] = {}
    for i, poem in enumerate(poems):
        for line in poem.lines():
            if len(line) >= MIN_SHARED_LINE:
                a, b = root(owner.setdefault(line, i)), root(i)
                parent[max(a, b)] = min(a, b)  # the root stays the group's first poem
    return [root(i) for i in range(len(poems))]


def split_poems(poems: list[Poem], stats: PoetryStats | None = None) -> dict[str, list[Poem]]:
    """train / valid / test (90 / 5 / 5 by group), each in SHA-1 order of the poem key."""
    first = groups(poems)
    if stats is not None:
        stats.grouped = sum(g != i for i, g in enumerate(first))
    splits: dict[str, list[Poem]] = {"train": [], "valid": [], "test": []}
    for poem, g in zip(poems, first, strict=True):
        splits[split_of(poems[g].key(), held_out_pct=HELD_OUT_PCT)].append(poem)
    order = lambda p: hashlib.sha1(p.key().encode("utf-8")).hexdigest()  # noqa: E731
    return {name: sorted(part, key=order) for name, part in splits.items()}


def sample(splits: dict[str, list[Poem]], quota: dict[str, dict[str, int]]):
    """The first `quota[split][genre]` poems of each genre, split order kept."""
    out: dict[str, list[Poem]] = {}
    for name, part in splits.items():
        taken, out[name] = Counter(), []
        for poem in part:
            if taken[poem.genre] < quota[name].get(poem.genre, 0):
                taken[poem.genre] += 1
                out[name].append(poem)
    return out


def new_characters(poems: Iterable[Poem], known: set[str], *, min_freq: int) -> list[str]:
    """Characters of the poems (title, author, body) not in `known`, seen >= min_freq times, most
    frequent first, ties by code point (as `CharTokenizer.build`). Counted per character, not
    through the tokenizer (20 M characters: seconds instead of minutes): the text is already
    NFKC, and letter words are left to the base vocabulary, which has every ASCII letter."""
    counts: Counter[str] = Counter()
    for poem in poems:
        counts.update(poem.title.lower())
        counts.update(poem.author.lower())
        for paragraph in poem.paragraphs:
            counts.update(paragraph.lower())
    kept = [ch for ch, n in counts.items() if n >= min_freq and ch not in known
            and not ch.isspace() and unicodedata.category(ch) not in ("Cc", "Cf")]
    return sorted(kept, key=lambda ch: (-counts[ch], ch))


# ---- the shipped layout: poetry/{train,valid,test}.jsonl ---------------------------------------
def read_poems(path: PathLike) -> list[Poem]:
    """One poem per line: {"id", "title", "author", "dynasty", "genre", "paragraphs": [...]}."""
    expected, poems = f"expected a JSON object with keys {list(POEM_KEYS)}", []
    for lineno, line in numbered_lines(path):
        def fail(message: str):
            raise DataFormatError(f"{expected}; {message}", path=path, line=lineno)

        try:
            rec = json.loads(line) if line.strip() else None
        except json.JSONDecodeError as err:
            fail(f"invalid JSON: {err.msg}")
        if rec is None:
            continue
        if not isinstance(rec, dict) or any(k not in rec for k in POEM_KEYS):
            fail(f"missing {[k for k in POEM_KEYS if k not in rec]}" if isinstance(rec, dict)
                 else f"got {type(rec).__name__}")
        if not all(isinstance(rec[k], str) for k in POEM_KEYS[:5]):
            fail("id, title, author, dynasty and genre must be strings")
        if rec["genre"] not in GENRES:
            fail(f"genre {rec['genre']!r} is not one of {list(GENRES)}")
        paragraphs = rec["paragraphs"]
        if (not isinstance(paragraphs, list) or not paragraphs
                or not all(isinstance(p, str) and p for p in paragraphs)):
            fail("paragraphs must be a non-empty list of non-empty strings")
        poems.append(Poem(*(rec[k] for k in POEM_KEYS[:5]), tuple(paragraphs)))
    return poems
