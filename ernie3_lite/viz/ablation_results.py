"""The lite-scale ablations next to the paper's claims: read their JSON, compare, tabulate.

Each script of benchmarks/ablations/ writes `results/<name>.json` (`{"settings": {...},
"records": [...]}`, one record per (variant, seed) run with its `steps`, `train_seconds`,
`val_curve`, `train_losses` and measured `metrics`). A `Claim` names the metric that tests one
claim of ERNIE 3.0 (arXiv 2107.02137) or of a paper it builds on, the variant the paper favours,
its baseline and which direction is better; `compare` turns the records into a computed verdict,
`ablation_report` and `summary_markdown` into text (notebook 12, the README's results table).
`ablation_plots` draws the same records.

The verdict rule (`Comparison.verdict`): a difference of means smaller than twice the larger
sample standard deviation over seeds is "within noise"; with one seed per variant there is no
noise estimate and only the direction is reported.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

NOISE_STDS = 2.0  # a difference below this many standard deviations is noise


@dataclass(frozen=True)
class Claim:
    """One claim and how its ablation tests it (`name` = the script and results file stem)."""

    name: str
    title: str
    paper: str  # the paper's figure, as quoted in the summary table
    metric: str  # key of the records' `metrics`
    treatment: str  # the variant the paper favours
    baseline: str
    higher_is_better: bool
    paper_gain: float | None = None  # the paper's relative improvement in %, if it gives one
    curve: str | None = None  # "val" (validation loss vs seconds) or a `train_losses` key

    @property
    def command(self) -> str:
        return f"python benchmarks/ablations/{self.name}.py"


#: the six claims in the notebook's order (pre-training is tested on two tasks); the variant and
#: metric names are the scripts' own
PAPER_CLAIMS = (
    Claim("progressive_learning", "progressive learning",
          "ERNIE_Base reaches the same loss in 65.21% less time (§3.3.1, §4.4)",
          metric="train s to target", treatment="progressive (len, batch, dropout, LR ramp)",
          baseline="plain LR warm-up", higher_is_better=False, paper_gain=65.21, curve="val"),
    Claim("uktp", "UKTP",
          "relation extraction F1 SanWen 75.56 -> 77.36, FinRE 58.19 -> 59.75 (§4.4); "
          "ours is a knowledge probe, another task",
          metric="NLU mrr", treatment="UKTP on (five tasks)", baseline="UKTP off (weight 0)",
          higher_is_better=True, paper_gain=100 * (77.36 - 75.56) / 75.56, curve="kmlm_loss"),
    Claim("shared_task_modules", "separate task modules",
          "lower NLG perplexity with separate NLU / NLG modules, a curve, no number (§4.4)",
          metric="NLG ppl", treatment="separate NLU / NLG modules (ERNIE 3.0)",
          baseline="one shared task module", higher_is_better=False, curve="dlm_loss"),
    Claim("recurrence_memory", "recurrence memory",
          "memory models longer text (Transformer-XL, ERNIE-Doc); no ERNIE 3.0 ablation",
          metric="ppl seg 2+", treatment="with memory, eval: memory carried (own mem_len)",
          baseline="mem_len=0, eval: each segment alone", higher_is_better=False,
          curve="dlm_loss"),
    Claim("masking", "knowledge masking",
          "ERNIE 1.0 MSRA-NER test F1 93.8 vs BERT 92.6 (arXiv 1904.09223)",
          metric="NER test", treatment="knowledge masking (char + phrase + entity)",
          baseline="character-only masking", higher_is_better=True,
          paper_gain=100 * (93.8 - 92.6) / 92.6, curve="finetune"),
    *(Claim("pretrained_vs_scratch", f"pre-trained vs scratch: {task}",
            "no from-scratch baseline: pre-training is the premise (§1)", metric="test",
            treatment=f"{task} ({unit}), pre-trained", baseline=f"{task} ({unit}), from scratch",
            higher_is_better=True, curve="finetune")
      for task, unit in (("sentiment", "accuracy"), ("NER", "span F1"))),
)


@dataclass(frozen=True)
class Ablation:
    """The parsed `<name>.json` of one ablation."""

    name: str
    settings: dict[str, str]
    records: list[dict[str, Any]]

    @property
    def variants(self) -> list[str]:
        """Variant names in the order the script ran them."""
        return list(dict.fromkeys(r["variant"] for r in self.records))

    @property
    def metrics(self) -> list[str]:
        return list(dict.fromkeys(m for r in self.records for m in r.get("metrics", {})))

    def runs(self, variant: str) -> list[dict[str, Any]]:
        return [r for r in self.records if r["variant"] == variant]

    def values(self, variant: str, metric: str) -> list[float]:
        """The metric of every run of `variant` that has it (a target may not be reached)."""
        return [float(r["metrics"][metric]) for r in self.runs(variant)
                if metric in r.get("metrics", {})]


def load_ablation(path: str | Path) -> Ablation | None:
    """`<name>.json` -> Ablation; None if the file does not exist (not run yet)."""
    path = Path(path)
    if not path.is_file():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    return Ablation(name=path.stem, settings=dict(data.get("settings", {})),
                    records=list(data["records"]))


@dataclass(frozen=True)
class Summary:
    """Mean and sample standard deviation (nan for fewer than two values) of per-seed values."""

    values: tuple[float, ...]

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float:
        return statistics.fmean(self.values) if self.values else math.nan

    @property
    def std(self) -> float:
        return statistics.stdev(self.values) if self.n > 1 else math.nan

    def text(self, *, digits: int = 3) -> str:
        if not self.values:
            return "not measured"
        spread = "n/a" if math.isnan(self.std) else f"{self.std:.{digits}f}"
        return f"{self.mean:.{digits}f} ± {spread}"


@dataclass(frozen=True)
class Comparison:
    """The claim's treatment against its baseline on the claim's metric."""

    claim: Claim
    treatment: Summary
    baseline: Summary

    @property
    def gain(self) -> float:
        """Mean difference signed so that > 0 is the paper's direction (in the metric's unit)."""
        difference = self.treatment.mean - self.baseline.mean
        return difference if self.claim.higher_is_better else -difference

    @property
    def relative_gain(self) -> float:
        """`gain` in % of the baseline's mean (for a time: "% less time", as the paper says)."""
        return 100 * self.gain / abs(self.baseline.mean) if self.baseline.mean else math.nan

    @property
    def noise(self) -> float:
        """The larger of the two sample standard deviations (nan with one seed)."""
        return max(self.treatment.std, self.baseline.std)

    @property
    def verdict(self) -> str:
        if not (self.treatment.n and self.baseline.n):
            return "not measured"
        if self.gain == 0:
            return "no difference"
        if math.isnan(self.noise):
            direction = "same direction as" if self.gain > 0 else "opposite direction to"
            return f"{direction} the paper (1 seed: no noise estimate)"
        if abs(self.gain) < NOISE_STDS * self.noise:
            return f"within noise (difference < {NOISE_STDS:g} std)"
        if self.gain > 0:
            return f"reproduces (difference > {NOISE_STDS:g} std)"
        return f"does not reproduce (opposite, > {NOISE_STDS:g} std)"


def compare(ablation: Ablation, claim: Claim) -> Comparison:
    """Treatment vs baseline; raises KeyError naming what the results file lacks."""
    for variant in (claim.treatment, claim.baseline):
        if variant not in ablation.variants:
            raise KeyError(f"{ablation.name}: no variant {variant!r} (has {ablation.variants})")
    if claim.metric not in ablation.metrics:
        raise KeyError(f"{ablation.name}: no metric {claim.metric!r} (has {ablation.metrics})")
    return Comparison(claim, Summary(tuple(ablation.values(claim.treatment, claim.metric))),
                      Summary(tuple(ablation.values(claim.baseline, claim.metric))))


def ablation_table(ablation: Ablation, *, metrics: Sequence[str] | None = None,
                   digits: int = 3) -> str:
    """Plain-text table: one row per variant, each metric as mean ± std over its seeds, then the
    seeds, mean steps and mean training seconds (validation excluded)."""
    metrics = list(metrics if metrics is not None else ablation.metrics)
    header = ["variant", *metrics, "seeds", "steps", "train s"]
    rows = []
    for variant in ablation.variants:
        runs = ablation.runs(variant)
        cells = [variant]
        for metric in metrics:
            values = ablation.values(variant, metric)
            cell = Summary(tuple(values)).text(digits=digits)
            cells.append("-" if not values else cell if len(values) == len(runs)
                         else f"{cell} ({len(values)}/{len(runs)} seeds)")
        cells += [" ".join(str(r["seed"]) for r in runs),
                  f"{statistics.fmean(r['steps'] for r in runs):.0f}",
                  f"{statistics.fmean(r['train_seconds'] for r in runs):.{digits}f}"]
        rows.append(cells)
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
             .rstrip() for row in [header, *rows]]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def ablation_report(name: str, results_dir: str | Path, *,
                    claims: Sequence[Claim] = PAPER_CLAIMS, digits: int = 3) -> str:
    """Ablation `name`'s measured table, then each of its claims' comparison and verdict; or
    "not run yet: <command>" when `results_dir` has no `<name>.json`."""
    ablation = load_ablation(Path(results_dir) / f"{name}.json")
    if ablation is None:
        return f"not run yet: python benchmarks/ablations/{name}.py"
    lines = [ablation_table(ablation, digits=digits)]
    for claim in (c for c in claims if c.name == name):
        try:
            comparison = compare(ablation, claim)
        except KeyError as error:
            lines += ["", f"cannot compare: {error.args[0]}"]
            continue
        better = "higher" if claim.higher_is_better else "lower"
        lines += ["", f"claim metric: {claim.metric} ({better} is better)",
                  f"  {claim.treatment}: {comparison.treatment.text(digits=digits)}",
                  f"  {claim.baseline}: {comparison.baseline.text(digits=digits)}",
                  f"  gain in the paper's direction: {comparison.gain:+.{digits}f} "
                  f"({_percent(comparison.relative_gain)} of the baseline)",
                  f"verdict: {comparison.verdict}"]
    return "\n".join(lines)


def summary_row(claim: Claim, results_dir: str | Path) -> tuple[str, str, str]:
    """(the paper's figure, our measurement, the verdict) of one claim."""
    ablation = load_ablation(Path(results_dir) / f"{claim.name}.json")
    if ablation is None:
        return claim.paper, "not run yet", f"`{claim.command}`"
    try:
        comparison = compare(ablation, claim)
    except KeyError as error:
        return claim.paper, "cannot compare", error.args[0]
    seeds = min(comparison.treatment.n, comparison.baseline.n)
    ours = (f"{_percent(comparison.relative_gain)} ({claim.metric} "
            f"{comparison.treatment.mean:.3f} vs {comparison.baseline.mean:.3f}, "
            f"{seeds} seed{'' if seeds == 1 else 's'})")
    return claim.paper, ours, comparison.verdict


def summary_markdown(claims: Sequence[Claim], results_dir: str | Path) -> str:
    """A markdown table of every claim: the paper's figure, ours, the verdict."""
    lines = ["| claim | paper | ours: gain in the paper's direction, % of the baseline "
             "(treatment vs baseline) | verdict |", "|---|---|---|---|"]
    lines += ["| " + " | ".join([claim.title, *summary_row(claim, results_dir)]) + " |"
              for claim in claims]
    return "\n".join(lines)


def _percent(value: float) -> str:
    return "n/a (baseline 0)" if math.isnan(value) else f"{value:+.1f}%"
