"""Harness of the lite-scale ablations: run `pretrain()` variants over seeds at an equal budget.

Each ablation script names its variants (`Variant`: config overrides, task weights, progressive
learning on or off), runs every variant once per seed with the same wall-clock training budget
(`Settings.minutes`, so variants are compared at equal compute) and summarises the metrics it
measured as mean ± sample standard deviation over seeds in `results/<name>.md`, beside a plot.

Every run is one `pretrain()` call (ernie3_lite/training/run.py) with the variant's task
weights, progressive switch, masking units and config overrides, plus a `TimedLossHistory`
callback that tells training time from validation time.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import shlex
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[2]
RESULTS = Path(__file__).resolve().parent / "results"
NLU_TASKS = ("kmlm", "sr", "sd", "uktp")
DLM_ONLY = dict.fromkeys(NLU_TASKS, 0.0)  # task weights that train the document LM alone


# ---- settings -----------------------------------------------------------------------------------
@dataclass
class Settings:
    """What every run of one ablation shares (from the command line)."""

    preset: str
    data_dir: Path
    seeds: list[int]
    minutes: float | None  # training budget per run; None = max_steps only (--quick)
    max_steps: int  # hard cap, and the end of the linear LR decay (far away: constant LR)
    warmup_steps: int
    val_every: int
    log_every: int  # per-task training losses are recorded every log_every steps
    batch_size: int
    max_len: int
    seg_len: int
    lr: float
    precision: str
    threads: int
    quick: bool
    results_dir: Path
    command: str = ""

    @property
    def max_time(self) -> str | None:
        """`minutes` as Lightning's "DD:HH:MM:SS"."""
        if self.minutes is None:
            return None
        seconds = max(1, round(self.minutes * 60))
        return f"00:{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"

    def budget_text(self) -> str:
        if self.minutes is None:
            return f"{self.max_steps} steps per run (--quick)"
        return (f"{self.minutes:g} min of training per run, the same for every variant "
                f"(equal compute; validation time excluded from 'train s')")


def parse_settings(argv: Sequence[str] | None, *, name: str, description: str,
                   minutes: float | None, warmup_steps: int, val_every: int,
                   add_arguments: Callable[[argparse.ArgumentParser], None] | None = None,
                   ) -> tuple[Settings, argparse.Namespace]:
    """The common command line: ``[--preset nano] [--minutes M] [--seeds 0 1 2] [--data DIR]
    [--quick]``; `minutes` etc. are the script's defaults (sized for ~20 min on 2 cores;
    None: the script pre-trains nothing and has no ``--minutes``). `add_arguments` adds the
    script's own options; their values come back in the Namespace."""
    parser = argparse.ArgumentParser(prog=f"python benchmarks/ablations/{name}.py",
                                     description=description,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="nano")
    if minutes is not None:
        parser.add_argument("--minutes", type=float, default=minutes,
                            help="training minutes per run (variant x seed), equal for all "
                                 "variants")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--data", default="data/full", help="data folder (data_samples layout)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: test preset, data_samples, a few steps, one seed")
    parser.add_argument("--warmup", type=int, default=warmup_steps, help="LR warm-up steps")
    parser.add_argument("--val-every", type=int, default=val_every)
    parser.add_argument("--max-steps", type=int, default=100_000,
                        help="step cap and end of the LR decay (default: far, so LR is constant "
                             "after warm-up within a time budget)")
    parser.add_argument("--precision", default="bf16-mixed")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (1: two OpenMP threads on a shared 2-core machine "
                             "stall on every op)")
    parser.add_argument("--results", default=str(RESULTS), help="folder for <name>.md/.png/.json")
    if add_arguments is not None:
        add_arguments(parser)
    args = parser.parse_args(argv)
    argv_used = sys.argv[1:] if argv is None else list(argv)
    settings = Settings(
        preset=args.preset, data_dir=Path(args.data), seeds=list(args.seeds),
        minutes=getattr(args, "minutes", None), max_steps=args.max_steps, warmup_steps=args.warmup,
        val_every=args.val_every, log_every=10, batch_size=8, max_len=128, seg_len=128, lr=1e-3,
        precision=args.precision, threads=args.threads, quick=args.quick,
        results_dir=Path(args.results),
        command=shlex.join(["python", f"benchmarks/ablations/{name}.py", *argv_used]),
    )
    if args.quick:  # seconds: the `test` preset on the committed samples, a few steps
        settings.preset, settings.data_dir, settings.seeds = "test", ROOT / "data_samples", [0]
        settings.minutes, settings.max_steps, settings.warmup_steps = None, 4, 2
        settings.val_every, settings.log_every = 2, 1
        settings.batch_size, settings.max_len, settings.seg_len = 4, 32, 16
    if not settings.data_dir.is_absolute():
        settings.data_dir = ROOT / settings.data_dir
    torch.set_num_threads(settings.threads)
    return settings, args


# ---- one run ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Variant:
    """One arm of an ablation: what it changes relative to `pretrain()`'s defaults."""

    name: str
    config_overrides: dict[str, Any] = field(default_factory=dict)
    task_weights: dict[str, float] | None = None
    progressive: bool = True  # False: LR warm-up only (seq len, batch and dropout at full size)
    masking_units: str = "mixed"  # "char": character-only masking (KMLM, UKTP sentences)


@dataclass
class RunRecord:
    """What one (variant, seed) run measured; `metrics` is filled by the ablation script."""

    variant: str
    seed: int
    steps: int
    train_seconds: float  # training only (setup and validation excluded)
    setup_seconds: float
    val_curve: list[tuple[int, float, float]]  # (step, train seconds, val/loss)
    train_losses: dict[str, list[tuple[int, float]]] = field(default_factory=dict)  # per task
    schedule: dict[str, list[tuple[int, float]]] = field(default_factory=dict)  # seq_len, lr...
    metrics: dict[str, float] = field(default_factory=dict)


def run_variant(settings: Settings, variant: Variant, *, seed: int) -> tuple[Any, RunRecord]:
    """`pretrain()` of `variant` with `seed` under the common budget -> (PretrainRun, record).

    The run's checkpoint folder is temporary; use the returned run's ``module`` right away, or
    `export` it.
    """
    from ablation_callbacks import TimedLossHistory

    from ernie3_lite.training.run import pretrain

    started = time.perf_counter()
    history = TimedLossHistory()
    with tempfile.TemporaryDirectory(prefix="ablation_") as out_dir:
        run = pretrain(
            settings.data_dir, preset=settings.preset, max_steps=settings.max_steps,
            warmup_steps=settings.warmup_steps, max_time=settings.max_time,
            batch_size=settings.batch_size, max_len=settings.max_len, seg_len=settings.seg_len,
            lr=settings.lr, seed=seed, out_dir=out_dir, progress_bar=False,
            val_every=settings.val_every, config_overrides=dict(variant.config_overrides),
            precision=settings.precision, log_every=settings.log_every,
            task_weights=variant.task_weights, progressive=variant.progressive,
            masking_units=variant.masking_units, callbacks=[history],
        )
    run.history = history  # the timed one: the same records, plus training seconds
    run.module.eval()
    record = RunRecord(
        variant=variant.name, seed=seed, steps=run.trainer.global_step,
        train_seconds=history.train_seconds,
        setup_seconds=time.perf_counter() - started - history.wall_seconds,
        val_curve=[(step, seconds, value) for (step, value), seconds
                   in zip(history.val.get("val/loss", []), history.val_seconds, strict=True)],
        train_losses={key.removeprefix("train/"): values for key, values in history.train.items()
                      if key.startswith("train/") and key.endswith("_loss")},
        schedule={key.removeprefix("progressive/"): values for key, values
                  in history.train.items() if key.startswith("progressive/")},
    )
    return run, record


# ---- summaries ----------------------------------------------------------------------------------
def mean_spread(values: Sequence[float]) -> tuple[float, float]:
    """(mean, sample standard deviation); the deviation is nan for fewer than two values."""
    if not values:
        raise ValueError("mean_spread needs at least one value")
    mean = statistics.fmean(values)
    return mean, statistics.stdev(values) if len(values) > 1 else math.nan


def format_mean_spread(values: Sequence[float], *, digits: int = 2) -> str:
    """"12.35 ± 0.50" (sample std over seeds), "12.35 ± n/a" for one seed, "not reached" for
    none, "nan" if any value is not finite."""
    if not values:
        return "not reached"
    if not all(math.isfinite(v) for v in values):
        return "nan"
    mean, spread = mean_spread(values)
    return f"{mean:.{digits}f} ± " + ("n/a" if math.isnan(spread) else f"{spread:.{digits}f}")


def render_table(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A GitHub markdown table; every row must have one cell per column."""
    for row in rows:
        if len(row) != len(columns):
            raise ValueError(f"row {list(row)} has {len(row)} cells, expected {len(columns)}")
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def metric_rows(records: Sequence[RunRecord], variants: Sequence[str], metrics: Sequence[str],
                *, digits: dict[str, int] | None = None) -> list[list[str]]:
    """One row per variant: name, each metric as mean ± std over its runs, seeds, mean steps and
    mean training seconds. A run without a metric (e.g. a target not reached) is left out of
    that cell and counted in it ("k/n seeds")."""
    rows = []
    for name in variants:
        runs = [r for r in records if r.variant == name]
        cells = [name]
        for metric in metrics:
            values = [r.metrics[metric] for r in runs if metric in r.metrics]
            cell = format_mean_spread(values, digits=(digits or {}).get(metric, 2))
            cells.append(cell if len(values) == len(runs) else f"{cell} ({len(values)}/"
                         f"{len(runs)} seeds)")
        cells += [" ".join(str(r.seed) for r in runs),
                  f"{statistics.fmean(r.steps for r in runs):.0f}",
                  f"{statistics.fmean(r.train_seconds for r in runs):.0f}"]
        rows.append(cells)
    return rows


def machine() -> str:
    """CPU model, cores, torch threads, torch version and the load average right now."""
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    load = " ".join(f"{x:.1f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    return (f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__} with "
            f"{torch.get_num_threads()} thread(s), no GPU; load average {load} at the end")


def write_results(settings: Settings, name: str, *, title: str, paper: str, table: str,
                  notes: Sequence[str], records: Sequence[RunRecord], figure: Any,
                  budget: str | None = None) -> Path:
    """`<results>/<name>.md` (title, the paper's figure, table, machine, command, notes),
    `<name>.png` and `<name>.json` (every run record). Returns the .md path.

    budget: the budget line; default the pre-training settings (an ablation without
    pre-training says what it spent instead)."""
    out = settings.results_dir
    out.mkdir(parents=True, exist_ok=True)
    budget = budget or (
        f"{settings.budget_text()}; preset `{settings.preset}`, data "
        f"`{_shown(settings.data_dir)}`, precision {settings.precision}, batch "
        f"{settings.batch_size} x {settings.max_len}, DLM segments {settings.seg_len}, "
        f"LR {settings.lr:g} warm-up {settings.warmup_steps} steps")
    lines = [f"# {title}", "", f"**Paper:** {paper}", "", table, "", f"- budget: {budget}",
             "- mean ± sample std over seeds; steps and train s are means",
             f"- machine: {machine()}", f"- command: `{settings.command}`",
             f"- date: {time.strftime('%Y-%m-%d %H:%M')}",
             *(f"- {note}" for note in notes), "", f"![{name}]({name}.png)", ""]
    path = out / f"{name}.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    figure.savefig(out / f"{name}.png", dpi=110)
    dump = {"settings": {k: str(v) for k, v in asdict(settings).items()},
            "records": [asdict(r) for r in records]}
    (out / f"{name}.json").write_text(json.dumps(dump, indent=1), encoding="utf-8")
    return path


def _shown(path: Path) -> str:
    with contextlib.suppress(ValueError):
        return str(path.relative_to(ROOT))
    return str(path)
