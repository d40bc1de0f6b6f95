"""How to spend a CPU-hour on ERNIE 3.0: pre-training recipes compared at equal CPU time (#13).

ERNIE 3.0 (arXiv 2107.02137 §3.3) trains every task every step; what a small run can choose is
how the step's tokens are shared between the tasks, how big and how fast the steps are, and the
regularisation. This script trains `nano` with `pretrain()` under several recipes for the same
budget of *process CPU seconds* (`time.process_time()`, robust to other processes on the
machine), and evaluates the model at fixed fractions of that budget on the **valid** split
(settings are chosen on valid; test is read once, by the quality report):

* document-LM perplexity on the news valid stream, with memory (`evaluation.heldout`);
* knowledge-masked-LM accuracy on the held-out news sentences (the first `--mlm-docs` documents).

The evaluations' own CPU time is not counted in the budget. Each recipe first runs a few steps to
measure its CPU seconds per step, so that its learning-rate schedule spans the budget (the
decay must end when the budget does, or a recipe with slow steps is judged mid-schedule).

    python benchmarks/recipe_study.py --data data/full --minutes 8 --recipes baseline,dlm-heavy
    python benchmarks/recipe_study.py --plot benchmarks/results/recipe_study.json
    python benchmarks/recipe_study.py --merge a.json b.json   # two studies run side by side
    python benchmarks/recipe_study.py --quick      # seconds, on data_samples: the smoke test

Writes benchmarks/results/recipe_study.{json,png} (``--out``). `--list` prints the recipes.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning as L
import matplotlib
import torch

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the file backend)

from ernie3_lite.cli import compile_layers
from ernie3_lite.data.corpus import PretrainingCorpus
from ernie3_lite.evaluation.heldout import dlm_perplexity, dlm_stream, masked_lm_accuracy
from ernie3_lite.tokenization import CharTokenizer
from ernie3_lite.training.precision import cpu_model
from ernie3_lite.training.run import pretrain

RESULTS = Path(__file__).resolve().parent / "results"


@dataclass(frozen=True)
class Recipe:
    """One way to spend the budget: `pretrain()` keyword arguments, and what it tests."""

    name: str
    why: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    compile: bool = False


#: the shipped configs' recipe first (configs/pretrain_nano.yaml: NLU batch 8 x 128 for each of
#: four tasks, DLM 4 x 64: the DLM gets ~6 % of a step's tokens), then one change at a time
BASE = dict(batch_size=8, max_len=128, dlm_batch_size=4, seg_len=64, lr=1e-3)
RECIPES = {r.name: r for r in [
    Recipe("baseline", "configs/pretrain_nano.yaml's shares: DLM ~6 % of the tokens", BASE),
    Recipe("dlm-heavy", "DLM 16 x 128 (~40 % of the tokens), NLU as baseline",
           {**BASE, "dlm_batch_size": 16, "seg_len": 128}),
    Recipe("dlm-heavy-lr2e-3", "dlm-heavy with lr 2e-3",
           {**BASE, "dlm_batch_size": 16, "seg_len": 128, "lr": 2e-3}),
    Recipe("dlm-heavy-nlu4", "dlm-heavy with NLU batch 4 (half the NLU tokens)",
           {**BASE, "batch_size": 4, "dlm_batch_size": 16, "seg_len": 128}),
    Recipe("dlm-heavy-short", "dlm-heavy with NLU inputs of 64 tokens",
           {**BASE, "max_len": 64, "dlm_batch_size": 16, "seg_len": 128}),
    Recipe("dlm-heavy-dropout0", "dlm-heavy without dropout (about one pass over the data)",
           {**BASE, "dlm_batch_size": 16, "seg_len": 128,
            "config_overrides": {"dropout": 0.0}}),
    Recipe("dlm-heavy-poetry", "dlm-heavy with 0.3 poetry characters per news character",
           {**BASE, "dlm_batch_size": 16, "seg_len": 128, "poetry_share": 0.3}),
    Recipe("dlm-only-heavy", "DLM 16 x 128 (~75 % of the tokens) and NLU batch 2",
           {**BASE, "batch_size": 2, "dlm_batch_size": 16, "seg_len": 128}),
    Recipe("dlm-heavy-compile", "dlm-heavy with every layer under torch.compile (CPU inductor)",
           {**BASE, "dlm_batch_size": 16, "seg_len": 128}, compile=True),
]}


class Budget(L.Callback):
    """Stop after `seconds` of process CPU time in training, evaluating at `fractions` of it.

    `evaluate(model)` returns a dict of metrics; its CPU time is subtracted from the count.
    """

    def __init__(self, seconds: float, *, fractions=(0.25, 0.5, 0.75, 1.0), evaluate=None):
        self.seconds, self.fractions, self.evaluate = seconds, list(fractions), evaluate
        self.curve: list[dict] = []
        self._start = 0.0
        self._excluded = 0.0
        self.tokens = 0

    def used(self) -> float:
        return time.process_time() - self._start - self._excluded

    def on_train_start(self, trainer, pl_module) -> None:
        self._start, self._excluded = time.process_time(), 0.0

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.tokens += sum(int(task["input_ids"].numel()) for task in batch.values())
        used = self.used()
        while self.fractions and used >= self.fractions[0] * self.seconds:
            self.fractions.pop(0)
            self._record(trainer, pl_module, used)
        if not self.fractions:
            trainer.should_stop = True

    def on_train_end(self, trainer, pl_module) -> None:
        # the planned steps can run out before the budget does (the calibration's steps are
        # the progressive ramp's short ones): the end of training is then the last point
        if self.fractions:
            self.fractions.clear()
            self._record(trainer, pl_module, self.used())

    def _record(self, trainer, pl_module, used: float) -> None:
        if self.evaluate is None:
            return
        began = time.process_time()
        metrics = self.evaluate(pl_module.model)
        pl_module.model.train()
        self._excluded += time.process_time() - began
        self.curve.append({"cpu_s": round(used, 1), "step": trainer.global_step,
                           "tokens": self.tokens, **metrics})
        print(f"  {trainer.global_step:6d} steps  {used:7.1f} cpu-s  "
              + "  ".join(f"{k} {v:.4g}" for k, v in metrics.items()), flush=True)


class CompileLayers(L.Callback):
    """`torch.compile` every Transformer-XL layer before training (as ``--compile true``)."""

    def setup(self, trainer, pl_module, stage: str) -> None:
        compile_layers(pl_module)


def evaluator(data_dir: Path, *, mlm_docs: int, dlm_tokens: int, vocab: str = "vocab.txt"):
    """A function model -> {"dlm_ppl", "mlm_acc"} on the news valid split of `data_dir`: the
    first `dlm_tokens` tokens of its document-LM stream (the whole stream, ~93 k tokens, takes
    ~150 CPU-s at one segment at a time) and the first `mlm_docs` documents.
    `vocab`: the file the recipe trained with (vocab_poetry.txt when it reads poetry)."""
    cache: dict[str, Any] = {}

    def evaluate(model) -> dict[str, float]:
        if not cache:
            tokenizer = CharTokenizer.from_file(data_dir / vocab)
            cache["stream"] = dlm_stream(data_dir, "valid", tokenizer)[:dlm_tokens + 1]
            corpus = PretrainingCorpus(data_dir, split="valid", tokenizer=tokenizer)
            corpus.document_sentences = corpus.document_sentences[:mlm_docs]
            cache["corpus"] = corpus
        dlm = dlm_perplexity(model, cache["stream"])
        mlm = masked_lm_accuracy(model, cache["corpus"])
        return {"dlm_ppl": dlm["ppl"], "mlm_acc": mlm["acc"]}

    return evaluate


def seconds_per_step(recipe: Recipe, data_dir: Path, *, steps: int, work: Path) -> float:
    """CPU seconds per step of `recipe`, from a short run (after two steps of start-up)."""
    marks: list[float] = []

    class Clock(L.Callback):
        def on_train_batch_end(self, *args) -> None:
            marks.append(time.process_time())

    pretrain(data_dir, max_steps=steps + 2, warmup_steps=1, out_dir=work / "calibrate",
             progress_bar=False, val_every=10**9, callbacks=[Clock()],
             **recipe.kwargs)
    return (marks[-1] - marks[1]) / max(len(marks) - 2, 1)


def run_recipe(recipe: Recipe, data_dir: Path, *, minutes: float, seed: int, mlm_docs: int,
               calibration_steps: int, dlm_tokens: int = 20_000) -> dict:
    print(f"== {recipe.name}: {recipe.why}", flush=True)
    budget_s = 60.0 * minutes
    with tempfile.TemporaryDirectory(prefix="recipe_") as tmp:
        per_step = seconds_per_step(recipe, data_dir, steps=calibration_steps, work=Path(tmp))
        steps = max(int(budget_s / per_step), 20)
        vocab = "vocab_poetry.txt" if recipe.kwargs.get("poetry_share") else "vocab.txt"
        budget = Budget(budget_s, evaluate=evaluator(data_dir, mlm_docs=mlm_docs,
                                                    dlm_tokens=dlm_tokens, vocab=vocab))
        extra = [CompileLayers()] if recipe.compile else []
        wall = time.perf_counter()
        run = pretrain(data_dir, max_steps=steps, warmup_steps=max(steps // 10, 1), seed=seed,
                       out_dir=Path(tmp) / "run", progress_bar=False, val_every=10**9,
                       callbacks=[budget, *extra], **recipe.kwargs)
        wall = time.perf_counter() - wall
    return {"recipe": recipe.name, "why": recipe.why, "kwargs": recipe.kwargs,
            "compile": recipe.compile, "planned_steps": steps, "steps": run.trainer.global_step,
            "cpu_s_per_step": per_step, "budget_cpu_s": budget_s, "wall_s": wall,
            "precision": run.trainer.precision, "curve": budget.curve}


def plot(results: list[dict], out: Path) -> None:
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for row in results:
        xs = [p["cpu_s"] for p in row["curve"]]
        left.plot(xs, [p["dlm_ppl"] for p in row["curve"]], marker="o", label=row["recipe"])
        right.plot(xs, [p["mlm_acc"] for p in row["curve"]], marker="o", label=row["recipe"])
    left.set(xlabel="training CPU-seconds", ylabel="document-LM perplexity (news valid)",
             yscale="log", title="lower is better")
    right.set(xlabel="training CPU-seconds", ylabel="masked-LM accuracy (news valid)",
              title="higher is better")
    left.legend(fontsize=8)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    print(f"plot: {out}")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default="data/full")
    p.add_argument("--recipes", default=",".join(RECIPES))
    p.add_argument("--minutes", type=float, default=8.0, help="CPU minutes per recipe")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--mlm-docs", type=int, default=50, help="valid documents for MLM accuracy")
    p.add_argument("--dlm-tokens", type=int, default=20_000,
                   help="valid document-LM tokens for the perplexity")
    p.add_argument("--calibration-steps", type=int, default=6)
    p.add_argument("--out", type=Path, default=RESULTS / "recipe_study.json")
    p.add_argument("--plot", type=Path, help="only plot an earlier JSON")
    p.add_argument("--merge", type=Path, nargs="+",
                   help="join the results of studies run side by side (one per core) into "
                        "--out, and plot them")
    p.add_argument("--list", action="store_true")
    p.add_argument("--quick", action="store_true", help="seconds on data_samples (smoke test)")
    args = p.parse_args(argv)
    if args.list:
        for r in RECIPES.values():
            print(f"{r.name:22s} {r.why}")
        return
    if args.merge:
        parts = [json.loads(path.read_text("utf-8")) for path in args.merge]
        payload = {**parts[0], "command": " | ".join(part["command"] for part in parts),
                   "results": [row for part in parts for row in part["results"]]}
        write_payload(args.out, payload)
        plot(payload["results"], args.out.with_suffix(".png"))
        return
    if args.plot:
        plot(json.loads(args.plot.read_text("utf-8"))["results"], args.plot.with_suffix(".png"))
        return
    torch.set_num_threads(args.threads)
    names = [n for n in args.recipes.split(",") if n]
    unknown = [n for n in names if n not in RECIPES]
    if unknown:
        p.error(f"unknown recipes {unknown}; --list shows them")
    data = Path("data_samples" if args.quick else args.data)
    if not (data / "vocab.txt").is_file():
        p.error(f"--data {data}: no vocab.txt (python -m ernie3_lite.data build --out {data})")
    minutes = 0.05 if args.quick else args.minutes
    results = []
    for name in names[:1] if args.quick else names:
        results.append(run_recipe(RECIPES[name], data, minutes=minutes, seed=args.seed,
                                  mlm_docs=3 if args.quick else args.mlm_docs,
                                  calibration_steps=2 if args.quick else args.calibration_steps,
                                  dlm_tokens=2_000 if args.quick else args.dlm_tokens))
        if not args.quick:  # after each recipe: a killed study keeps what it measured
            write(args.out, results, args)
    if args.quick:
        print(json.dumps(results[0]["curve"][-1]))
        return
    plot(results, args.out.with_suffix(".png"))


def write(out: Path, results: list[dict], args) -> None:
    payload = {"command": " ".join(["python benchmarks/recipe_study.py", *sys.argv[1:]]),
               "threads": args.threads, "cpu": cpu_model() or "unknown",
               "date": time.strftime("%Y-%m-%d"), "results": results}
    write_payload(out, payload)


def write_payload(out: Path, payload: dict) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps(payload, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, out)


if __name__ == "__main__":
    main()
