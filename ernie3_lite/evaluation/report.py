"""The quality report: every held-out measurement of a pre-trained folder beside its baselines.

    python -m ernie3_lite.evaluation report                  # data/full, the shipped nano
    python -m ernie3_lite.evaluation report --skip-finetune  # the cheap rows only (minutes)
    python -m ernie3_lite.evaluation report --quick          # data_samples, seconds: smoke test
    python -m ernie3_lite.evaluation report --sections finetune --no-pretrained --out A
    python -m ernie3_lite.evaluation report --merge A.json    # A's rows join this run's

(`--merge` lets the slow fine-tuning rows run in pieces, on other cores or sessions: a row
this run measures replaces the merged one, and each fine-tuning start is kept separately.)

(also `python benchmarks/quality.py ...`). Rows, each computed by this command on the same
splits as its baselines (issue 13; ERNIE 3.0 arXiv 2107.02137 §3.2, §4.2, §4.3):

| row                      | model                               | baselines                      |
|--------------------------|-------------------------------------|--------------------------------|
| document-LM perplexity   | NLG path, memory as trained / long  | unigram, KN 2/3/5-gram         |
| masked-LM accuracy       | NLU path, knowledge masking         | most frequent training token   |
| sentiment accuracy       | fine-tuned, seeds                   | majority, TF-IDF + LR          |
| NER span F1              | fine-tuned, seeds, windowed         | all-O, CRF                     |
| headline ROUGE-L         | fine-tuned, seeds                   | lead-k, first sentence         |
| knowledge probe acc@1/@5 | best query kind x scorer on valid   | random, tail prior, co-occur.  |
| zero-shot sentiment      | best verbaliser on valid            | chance, majority               |

Every choice (n-gram orders are all reported; C, (c1, c2), k, learning rate, verbaliser,
probe scorer) is made on valid; test is read once for what is reported. Writes
`<out>.json` and `<out>.md` (default benchmarks/results/quality) with met / not met per target
(`report_render`).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import time
from collections.abc import Sequence
from datetime import date
from pathlib import Path

import torch

from ernie3_lite import DATA_SAMPLES, PACKAGE_ROOT, PRETRAINED_NANO
from ernie3_lite.atomic import atomic_write_text

DEFAULT_OUT = PACKAGE_ROOT.parent / "benchmarks" / "results" / "quality"
FULL_DATA = PACKAGE_ROOT.parent / "data" / "full"
KN_ORDERS = (2, 3, 5)
FINETUNE_TASKS = ("sentiment", "ner", "headline")
SECTIONS = ("lm", "probe", "zeroshot", "baselines", "finetune")


def language_model_rows(model, tokenizer, data: Path, log=print) -> dict:
    """Document-LM perplexity (model at two memory lengths, unigram, KN) and masked-LM acc."""
    from ernie3_lite.data.corpus import PretrainingCorpus
    from ernie3_lite.evaluation.heldout import (
        dlm_perplexity,
        dlm_stream,
        masked_lm_accuracy,
        masked_lm_floor,
    )
    from ernie3_lite.evaluation.ngram import KneserNeyLM

    train, test = dlm_stream(data, "train", tokenizer), dlm_stream(data, "test", tokenizer)
    seg_len, trained_mem = model.config.max_seq_len, model.config.mem_len
    dlm = {"tokens": len(test) - 1, "train_tokens": len(train), "seg_len": seg_len,
           "model": {f"mem {m}": dlm_perplexity(model, test, seg_len=seg_len, mem_len=m)
                     for m in dict.fromkeys((trained_mem, seg_len))},
           "baselines": {}}
    for order in (1, *KN_ORDERS):
        lm = KneserNeyLM(train, order=order, vocab_size=tokenizer.vocab_size)
        name = "unigram" if order == 1 else f"KN {order}-gram"
        dlm["baselines"][name] = {"ppl": lm.perplexity(test)}
    log(f"  DLM ppl: {dlm['model']} | {dlm['baselines']}")
    corpus = PretrainingCorpus(data, split="test", tokenizer=tokenizer)
    mlm = masked_lm_accuracy(model, corpus, max_len=min(128, model.config.max_seq_len))
    special = {tokenizer.sep_id, tokenizer.cls_id, tokenizer.pad_id, tokenizer.unk_id,
               tokenizer.mask_id}
    floor = masked_lm_floor(train, mlm.pop("labels"), exclude=special)
    log(f"  MLM acc {mlm['acc']:.3f} (floor {floor:.3f})")
    return {"dlm": dlm, "mlm": {"model": mlm, "baselines": {"most frequent token": floor}}}


def probe_rows(model, tokenizer, data: Path, *, limit: int | None = None, log=print) -> dict:
    """Probe acc@1/@5: (query kind, scorer) chosen on valid acc@1 then MRR, test for it only
    (limit: the first N triples of each split, for smoke tests)."""
    from ernie3_lite.data.corpus import PretrainingCorpus
    from ernie3_lite.evaluation.cloze import SCORERS
    from ernie3_lite.evaluation.probe import QUERY_KINDS, knowledge_probe, load_probe_data
    from ernie3_lite.evaluation.probe_baselines import cooccurrence, cooccurring_pairs, tail_prior

    def run(split: str, kind: str, scorer: str) -> dict:
        p = load_probe_data(data, split=split)
        return knowledge_probe(model, tokenizer, p.triples[:limit], p.candidates,
                               training_aligned=p.training_aligned, queries=kind,
                               aligned=p.aligned, graph=p.graph, scorer=scorer)["overall"]

    valid = {(k, s): run("valid", k, s) for k in QUERY_KINDS for s in SCORERS}
    kind, scorer = max(valid, key=lambda key: (valid[key].get("acc@1", 0),
                                               valid[key].get("mrr", 0)))
    test = run("test", kind, scorer)
    p = load_probe_data(data, split="test")
    p = dataclasses.replace(p, triples=p.triples[:limit])
    sentences = PretrainingCorpus(data, split="train", tokenizer=tokenizer).sentences()
    out = {"model": {"queries": kind, "scorer": scorer, "valid_acc@1": valid[(kind, scorer)]
                     .get("acc@1", 0.0), **test},
           "baselines": {"random": {"acc@1": test["random@1"], "acc@5": test["random@5"]},
                         "tail prior": tail_prior(p.triples, p.candidates, p.graph,
                                                  p.training_aligned),
                         "co-occurrence": cooccurrence(p.triples, p.candidates, p.graph,
                                                       sentences)},
           "triples": len(p.triples), "cooccurring": cooccurring_pairs(p.triples, sentences)}
    log(f"  probe {kind}/{scorer}: acc@1 {test.get('acc@1', 0):.3f}")
    return out


def zeroshot_rows(model, tokenizer, data: Path, *, limit: int | None = None, log=print) -> dict:
    """Zero-shot review sentiment: verbaliser x (plain, calibrated) chosen on valid."""
    from ernie3_lite.data.formats import read_classification
    from ernie3_lite.evaluation.zeroshot import (
        REVIEW_VERBALIZERS,
        accuracy_report,
        context_free_scores,
        label_scores,
    )

    def accuracy(split: str, verbalizer, calibrated: bool) -> dict:
        examples = read_classification(data / "reviews" / f"{split}.tsv")[:limit]
        labels, scores = label_scores(model, tokenizer, [ex.text for ex in examples], verbalizer)
        if calibrated:
            scores = scores - context_free_scores(model, tokenizer, verbalizer)[None, :]
        return accuracy_report(labels, scores, [ex.label for ex in examples])

    valid = {}
    for verbalizer in REVIEW_VERBALIZERS:
        examples = read_classification(data / "reviews" / "valid.tsv")[:limit]
        labels, scores = label_scores(model, tokenizer, [ex.text for ex in examples], verbalizer)
        gold = [ex.label for ex in examples]
        free = context_free_scores(model, tokenizer, verbalizer)[None, :]
        valid[(verbalizer.name, False)] = accuracy_report(labels, scores, gold)["accuracy"]
        valid[(verbalizer.name, True)] = accuracy_report(labels, scores - free, gold)["accuracy"]
    name, calibrated = max(valid, key=valid.get)
    verbalizer = next(v for v in REVIEW_VERBALIZERS if v.name == name)
    test = accuracy("test", verbalizer, calibrated)
    log(f"  zero-shot {name} calibrated={calibrated}: {test['accuracy']:.3f}")
    return {"model": {"verbalizer": name, "calibrated": calibrated, "valid": valid[(name,
            calibrated)], "accuracy": test["accuracy"], "n": test["n"],
            "predicted": test["predicted"]},
            "baselines": {"chance": test["chance"], "majority": test["majority"]}}


def baseline_rows(data: Path, *, crf_iterations: int = 100, log=print) -> dict:
    """The classical baselines of the three fine-tuning tasks (`baselines`)."""
    from ernie3_lite.evaluation import baselines as base
    from ernie3_lite.finetune.data import read_split

    def splits(task):
        return [read_split(data, task, s) for s in ("train", "valid", "test")]

    tr, va, te = splits("sentiment")
    out = {"sentiment": {"majority": base.majority_class(tr, te),
                         "TF-IDF + LR": base.tfidf_logistic_regression(tr, va, te)}}
    log(f"  sentiment baselines: {out['sentiment']}")
    _, va, te = splits("headline")
    leads = base.lead_baselines(va, te)
    out["headline"] = {f"lead-{leads['lead_k']['k']}": leads["lead_k"],
                       "first sentence": leads["first_sentence"]}
    tr, va, te = splits("ner")
    started = time.perf_counter()
    out["ner"] = {"all O": base.all_outside(te),
                  "CRF": base.crf_tagger(tr, va, te, max_iterations=crf_iterations)}
    out["ner"]["CRF"]["train_s"] = time.perf_counter() - started
    out["ner_test"] = {"sentences": len(te), "spans": sum(
        tag.startswith("B-") for s in te for tag in s.tags)}
    log(f"  NER / headline baselines: {out['ner']} {out['headline']}")
    return out


def finetune_rows(args, data: Path, log=print) -> dict:
    from ernie3_lite.evaluation.report_finetune import finetune_task

    out = {}
    for task in args.tasks:
        kwargs = dict(data_dir=data, seeds=args.seeds, lrs=args.lrs, epochs=args.epochs,
                      max_train_examples=args.max_train_examples, log=log)
        out[task] = {}
        if not args.no_pretrained:
            out[task]["pretrained"] = finetune_task(task, pretrained=args.model, **kwargs)
        if not args.no_scratch:
            out[task]["scratch"] = finetune_task(task, pretrained=None, **kwargs,
                                                 vocab_file=Path(args.model) / "vocab.txt")
    return out


def run(args) -> dict:
    """Measure everything `args` asks for; returns the report's JSON dict."""
    from ernie3_lite.evaluation.cli import load_model

    data = Path(args.data)
    if not (data / "news" / "test.jsonl").is_file():
        raise SystemExit(f"{data}: no built data folder (news/test.jsonl missing); build it with "
                         "`python -m ernie3_lite.data build --out data/full`")
    torch.manual_seed(0)
    model, tokenizer = load_model(args.model)
    report = {"model": _shown(args.model), "data": _shown(data),
              "date": date.today().isoformat(),
              "command": args.command_line, "seconds": {},
              "machine": f"{platform.machine()}, {torch.get_num_threads()} torch thread(s), "
                         f"torch {torch.__version__}"}
    measures = {"lm": lambda: language_model_rows(model, tokenizer, data),
                "probe": lambda: probe_rows(model, tokenizer, data, limit=args.probe_limit),
                "zeroshot": lambda: zeroshot_rows(model, tokenizer, data, limit=args.limit),
                "baselines": lambda: baseline_rows(data, crf_iterations=args.crf_iterations),
                "finetune": lambda: finetune_rows(args, data)}
    chosen = [name for name in args.sections if not (args.skip_finetune and name == "finetune")]
    for name, measure in ((name, measures[name]) for name in chosen):
        started = time.perf_counter()
        print(f"[{name}]", flush=True)
        report[name] = measure()
        report["seconds"][name] = round(time.perf_counter() - started, 1)
    return report


def merge_reports(report: dict, earlier: Sequence[dict]) -> dict:
    """`report` with the sections of `earlier` reports it did not measure; fine-tuning rows
    merge per task and start (pre-trained, scratch). Refuses reports of another model."""
    merged = {}
    for other in (*earlier, report):  # later wins: this run's rows replace merged ones
        if other["model"] != report["model"] or other["data"] != report["data"]:
            raise SystemExit(f"--merge: a report of {other['model']} on {other['data']} cannot "
                             f"join one of {report['model']} on {report['data']}")
        for name in SECTIONS:
            if name == "finetune" and name in other:
                for task, starts in other[name].items():
                    merged.setdefault(name, {}).setdefault(task, {}).update(starts)
            elif name in other:
                merged[name] = other[name]
        seconds = merged.setdefault("seconds", {})
        for name, took in other["seconds"].items():  # fine-tuning pieces add up
            seconds[name] = seconds.get(name, 0) + took if name == "finetune" else took
    commands = [other["command"] for other in earlier]
    return {**report, **merged, "merged_commands": commands} if commands else report


def _shown(path) -> str:
    """`path` relative to the repository root when it is inside it (as a user would type it)."""
    path = Path(path).resolve()
    root = PACKAGE_ROOT.parent.resolve()
    return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)


def _read_report(path: Path) -> dict:
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(report, dict) or not {"model", "data", "command"} <= set(report):
            raise ValueError("not a quality report (no model / data / command)")
        return report
    except (OSError, ValueError) as error:
        raise SystemExit(f"--merge {path}: {error}") from None


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m ernie3_lite.evaluation report",
                                description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=str(PRETRAINED_NANO), help="a save_pretrained folder")
    p.add_argument("--data", default=None, help="a built data folder (default data/full)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="writes OUT.json and OUT.md")
    p.add_argument("--quick", action="store_true",
                   help="smoke test: data_samples, 1 seed, 64 training examples, 1 epoch")
    p.add_argument("--skip-finetune", action="store_true", help="no fine-tuning rows")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--lrs", type=float, nargs="+", default=[1e-3],
                   help="fine-tuning learning rates to choose from on valid")
    p.add_argument("--epochs", type=int, default=None, help="default: the task's config")
    p.add_argument("--max-train-examples", type=int, default=None)
    p.add_argument("--tasks", nargs="+", default=list(FINETUNE_TASKS), choices=FINETUNE_TASKS)
    p.add_argument("--no-scratch", action="store_true", help="no from-scratch fine-tuning")
    p.add_argument("--no-pretrained", action="store_true",
                   help="no fine-tuning of --model (only from scratch)")
    p.add_argument("--sections", nargs="+", default=list(SECTIONS), choices=SECTIONS,
                   help="measure only these rows")
    p.add_argument("--merge", type=Path, nargs="+", default=[],
                   help="earlier report JSONs (same model and data) whose rows join this one")
    p.add_argument("--limit", type=int, default=None, help="zero-shot: first N reviews")
    p.add_argument("--probe-limit", type=int, default=None, help="probe: first N triples")
    p.add_argument("--crf-iterations", type=int, default=100)
    return p


def main(argv: Sequence[str] | None = None) -> dict:
    import sys

    from ernie3_lite.evaluation.report_render import render

    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser().parse_args(argv)
    args.command_line = " ".join(["python -m ernie3_lite.evaluation report", *argv])
    if args.quick:
        args.data = args.data or str(DATA_SAMPLES)
        args.seeds, args.epochs = args.seeds[:1], args.epochs or 1
        args.max_train_examples = args.max_train_examples or 64
        args.limit, args.crf_iterations, args.no_scratch = args.limit or 40, 20, True
        args.probe_limit = args.probe_limit or 4
    args.data = args.data or str(FULL_DATA)
    earlier = [_read_report(path) for path in args.merge]  # bad files fail before the work
    report = merge_reports(run(args), earlier)
    markdown, report["targets"] = render(report)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out.with_suffix(".json"),
                      json.dumps(report, indent=1, ensure_ascii=False))
    atomic_write_text(args.out.with_suffix(".md"), markdown)
    print(markdown)
    return report
