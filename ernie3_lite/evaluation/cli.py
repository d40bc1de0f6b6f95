"""`python -m ernie3_lite.evaluation zeroshot [--model PATH] [--data DIR] [--limit N]`
`python -m ernie3_lite.evaluation probe    [--model PATH] [--data DIR] [--limit N]`

zeroshot: review sentiment by perplexity ranking over label words (each verbaliser set, plain and
calibrated), then cloze on the held-out aligned news sentences (tail mention masked, every tail
of the relation a candidate) with the NLG and the NLU scorer (ERNIE 3.0 arXiv 2107.02137 §4.3).
probe: the held-out triples kg/probe_<split>.tsv asked with the tail masked, as template and as
real-sentence queries, both scorers; refuses to run if a triple leaks (see `probe.check_no_leak`).
Prints markdown tables. Default model: the shipped `nano` (ernie3_lite.PRETRAINED_NANO).

Everything is read before the model runs, and a bad input (a malformed or empty file, a missing
vocab.txt, ``--limit 0``) stops with one line ``... error: <file>[:line]: ...`` and exit
status 2, as the other CLIs do.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path

from ernie3_lite import DATA_SAMPLES, PRETRAINED_NANO

RANK_COLUMNS = ("n", "candidates", "acc@1", "acc@5", "random@1", "random@5", "mrr")


def load_model(path: str | Path):
    """(model, tokenizer) from a `save_pretrained` folder (its vocab.txt)."""
    from ernie3_lite.model.ernie3 import Ernie3Model
    from ernie3_lite.tokenization import CharTokenizer

    path = Path(path)
    for name in ("config.json", "vocab.txt"):
        if not (path / name).is_file():
            raise FileNotFoundError(f"--model {path}: no {name} there (a folder written by "
                                    "Ernie3Model.save_pretrained, with its vocab.txt)")
    return Ernie3Model.from_pretrained(path).eval(), CharTokenizer.from_file(path / "vocab.txt")


def require(items: list, path: Path, what: str) -> list:
    """`items` if there is at least one; an empty split (or limit) names its file."""
    from ernie3_lite.data.formats import DataFormatError

    if not items:
        raise DataFormatError(f"no {what} to evaluate", path=path)
    return items


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, dict):
        return " ".join(f"{k}:{v}" for k, v in value.items())
    return str(value)


def require_in_graph(triples: list[tuple[str, str, str]], graph: list, path: Path,
                     graph_path: Path) -> None:
    """Every queried triple must be in the graph: its relation's tails are the candidates."""
    from ernie3_lite.data.formats import DataFormatError

    known = {(t.head, t.relation, t.tail) for t in graph}
    for k, triple in enumerate(triples, start=1):
        if tuple(triple) not in known:
            raise DataFormatError(f"record {k}: the triple {tuple(triple)} is not in "
                                  f"{graph_path} (its tails are the candidates)", path=path)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence]) -> str:
    """A GitHub markdown table; floats with 3 decimals."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def ranking_rows(prefix: Sequence, result: dict) -> list[list]:
    """One row per relation, then the overall row, for an `evaluate_cloze` result."""
    def cells(row: dict) -> list:
        return [f"{row[c]:.0f}" if c == "candidates" and c in row else row.get(c, "")
                for c in RANK_COLUMNS]

    rows = [[*prefix, group, *cells(row)] for group, row in result["per_group"].items()]
    return rows + [[*prefix, "**all**", *cells(result["overall"])]]


def read_zeroshot(args) -> tuple[list, list]:
    """(reviews, cloze queries) of the split, at most `limit` of each, neither empty."""
    from ernie3_lite.data.formats import read_aligned, read_classification, read_triples
    from ernie3_lite.evaluation.kg_queries import aligned_cloze_queries

    data = Path(args.data)
    reviews = data / "reviews" / f"{args.split}.tsv"
    examples = require(read_classification(reviews)[: args.limit], reviews, "reviews")
    aligned = data / "kg" / f"aligned_{args.split}.jsonl"
    records = read_aligned(aligned, spans=True)
    graph_path = data / "kg" / "triples.tsv"
    graph = read_triples(graph_path)
    require_in_graph([(r["head"], r["relation"], r["tail"]) for r in records], graph, aligned,
                     graph_path)
    queries = aligned_cloze_queries(records, graph)
    return examples, require(queries[: args.limit], aligned, "cloze sentences")


def zeroshot(args, model, tokenizer, inputs: tuple[list, list]) -> None:
    from ernie3_lite.evaluation.cloze import SCORERS, evaluate_cloze
    from ernie3_lite.evaluation.probe import seen_in_pretraining
    from ernie3_lite.evaluation.zeroshot import (
        REVIEW_VERBALIZERS,
        accuracy_report,
        calibrated_scores,
        context_free_log_likelihood,
        label_log_likelihoods,
    )

    data = Path(args.data)
    examples, queries = inputs
    gold = [ex.label for ex in examples]
    started = time.perf_counter()
    rows = []
    for verbalizer in REVIEW_VERBALIZERS:
        labels, scores = label_log_likelihoods(model, tokenizer, [ex.text for ex in examples],
                                               verbalizer)  # score="filled", the paper's
        plain = accuracy_report(labels, scores.mean(), gold)
        free = context_free_log_likelihood(model, tokenizer, verbalizer)
        calibrated = accuracy_report(labels, calibrated_scores(scores, free), gold)
        rows.append([verbalizer.name, plain["accuracy"], calibrated["accuracy"], plain["chance"],
                     plain["majority"], plain["predicted"], calibrated["predicted"]])
    print(f"## Zero-shot review sentiment: reviews/{args.split}.tsv of {data}, n = {len(gold)}\n")
    print("Label word after the review, lowest per-token perplexity of the filled text wins; "
          "calibrated = the word's context-free log-probability removed first.\n")
    print(markdown_table(["verbaliser (1 / 0)", "accuracy", "calibrated", "chance", "majority",
                          "predicted", "predicted (calibrated)"], rows))
    print(f"\n({time.perf_counter() - started:.1f} s)\n")

    started = time.perf_counter()
    rows = []
    for scorer in SCORERS:
        rows += ranking_rows([scorer], evaluate_cloze(model, tokenizer, queries, scorer=scorer))
    print(f"## Zero-shot cloze: kg/aligned_{args.split}.jsonl sentences, tail mention masked, "
          f"candidates = every tail of the relation (filtered), n = {len(queries)}\n")
    print(markdown_table(["scorer", "relation", *RANK_COLUMNS], rows))
    print(f"\n{seen_in_pretraining(queries)} of {len(queries)} sentences are from news documents "
          f"of the pre-training split. ({time.perf_counter() - started:.1f} s)")


def read_probe(args):
    """The probe data of the split, its triples cut to `limit` (not empty)."""
    from dataclasses import replace

    from ernie3_lite.evaluation.probe import load_probe_data

    data = load_probe_data(args.data, split=args.split)
    kg = Path(args.data) / "kg"
    path = kg / f"probe_{args.split}.tsv"
    require_in_graph([(t.head, t.relation, t.tail) for t in data.triples], data.graph, path,
                     kg / "triples.tsv")
    for name, records in ((f"aligned_{args.split}.jsonl", data.aligned),
                          ("aligned_train.jsonl", data.training_aligned)):
        require_in_graph([(r["head"], r["relation"], r["tail"]) for r in records], data.graph,
                         kg / name, kg / "triples.tsv")
    return replace(data, triples=require(data.triples[: args.limit], path, "triples"))


def probe(args, model, tokenizer, data) -> None:
    from ernie3_lite.evaluation.cloze import SCORERS
    from ernie3_lite.evaluation.probe import QUERY_KINDS, check_no_leak, knowledge_probe

    triples = data.triples
    checked = check_no_leak(triples, data.training_aligned)
    started = time.perf_counter()
    rows, notes = [], []
    for kind in QUERY_KINDS:
        for scorer in SCORERS:
            result = knowledge_probe(model, tokenizer, triples, data.candidates,
                                     training_aligned=data.training_aligned, queries=kind,
                                     aligned=data.aligned, graph=data.graph, scorer=scorer,
                                     max_sentences=args.max_sentences)
            rows += ranking_rows([kind, scorer], result)
        notes.append(f"{kind}: {result['covered']} of {result['triples']} triples have a query, "
                     f"{result['seen_in_pretraining']} of {result['overall']['n']} queries are "
                     "sentences of pre-training news documents")
    print(f"## Knowledge probe: kg/probe_{args.split}.tsv of {args.data}, tail masked, "
          "candidates = every tail of the relation (filtered)\n")
    print(f"Leak check passed: none of the {checked} triples pairs two entities that "
          "kg/aligned_train.jsonl pairs.\n")
    print(markdown_table(["queries", "scorer", "relation", *RANK_COLUMNS], rows))
    print("\n" + "\n".join(notes) + f"\n({time.perf_counter() - started:.1f} s)")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m ernie3_lite.evaluation", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("zeroshot", "probe"):
        cmd = commands.add_parser(name)
        cmd.add_argument("--model", default=str(PRETRAINED_NANO),
                         help="a save_pretrained folder (default: the shipped nano)")
        cmd.add_argument("--data", default=str(DATA_SAMPLES),
                         help="a data folder in the data_samples layout, e.g. data/full")
        cmd.add_argument("--split", default="test", choices=("valid", "test"))
        cmd.add_argument("--limit", type=int, default=None,
                         help="only the first N reviews / sentences / triples")
    commands.choices["probe"].add_argument(
        "--max-sentences", dest="max_sentences", type=int, default=1,
        help="sentence queries per held-out triple (its first aligned sentences)")
    args = parser.parse_args(argv)
    read, report = (read_zeroshot, zeroshot) if args.command == "zeroshot" else (read_probe, probe)
    try:  # the inputs first (cheap), then the model: a bad file costs no model load
        if args.limit is not None and args.limit < 1:  # 0 scored nothing, -1 dropped the last
            raise ValueError(f"--limit {args.limit} must be >= 1")
        inputs = read(args)
        model, tokenizer = load_model(args.model)
    except (OSError, ValueError) as error:  # DataFormatError, ConfigError are ValueErrors
        parser.exit(2, f"{parser.prog} {args.command}: error: {error}\n")
    report(args, model, tokenizer, inputs)
