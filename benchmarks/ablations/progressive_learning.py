"""Ablation (b): progressive learning vs a plain LR warm-up, steps and time to a target loss.

ERNIE 3.0 (arXiv 2107.02137 §3.3.1) ramps "the input sequence length, the batch size, the learning
rate and the dropout rate" together at the start of pre-training and reports that its base model
reaches the same loss in 65.21% less time. Two variants of five-task `pretrain()` per seed, the
same time budget and the same linear LR warm-up over `--warmup` steps:

* progressive: NLU length max_len/4 -> max_len, batch size/4 -> batch size, dropout 0 -> the
  preset's, all linear over the warm-up (`ProgressiveLearning`, pretrain()'s defaults);
* plain warm-up: full length, batch and dropout from step 0; only the LR ramps.

Validation (`val/loss`, the sum of the five task losses on fixed validation batches) runs every
`--val-every` steps. The target is the highest of the runs' best validation losses, i.e. the
lowest loss that every run reached; each run's steps and training seconds (validation excluded)
until its first validation at or below it are compared.

    python benchmarks/ablations/progressive_learning.py [--preset nano] [--minutes M] \\
        [--seeds 0 1 2] [--data data/full] [--quick]
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from pathlib import Path

import common
from matplotlib.figure import Figure

NAME = "progressive_learning"
PAPER = ("ERNIE_Base reaches the same loss in 65.21% less time with progressive learning "
         "(~11 h -> ~4 h), ERNIE_1.5B ~48% (§4.4.3; numbers UNVERIFIED in our paper notes); "
         "§3.3.1 ramps sequence length, batch size, LR and dropout.")
PROGRESSIVE = common.Variant("progressive (len, batch, dropout, LR ramp)")
PLAIN = common.Variant("plain LR warm-up", progressive=False)


def time_to_target(curve: Sequence[tuple[int, float, float]],
                   target: float) -> tuple[int, float] | None:
    """(step, train seconds) of the first validation with loss <= target; None if none."""
    for step, seconds, loss in curve:
        if loss <= target:
            return step, seconds
    return None


def common_target(curves: Sequence[Sequence[tuple[int, float, float]]]) -> float:
    """The lowest validation loss every run reached: max over runs of each run's minimum."""
    return max(min(loss for _, _, loss in curve) for curve in curves)


def main(argv: Sequence[str] | None = None) -> Path:
    settings, _ = common.parse_settings(argv, name=NAME, description=__doc__, minutes=2.5,
                                        warmup_steps=60, val_every=10)
    records = []
    for seed in settings.seeds:
        for variant in (PROGRESSIVE, PLAIN):
            _, record = common.run_variant(settings, variant, seed=seed)
            print(f"{variant.name} seed {seed}: {record.steps} steps in "
                  f"{record.train_seconds:.0f} s (+{record.setup_seconds:.0f} s setup), "
                  f"{len(record.val_curve)} validations", flush=True)
            if not record.val_curve:
                raise RuntimeError(f"{variant.name} seed {seed}: no validation ran; lower "
                                   f"--val-every (now {settings.val_every})")
            records.append(record)
    target = common_target([r.val_curve for r in records])
    for record in records:
        record.metrics["final val loss"] = record.val_curve[-1][2]
        reached = time_to_target(record.val_curve, target)
        if reached is not None:
            record.metrics["steps to target"], record.metrics["train s to target"] = reached
    metrics = ["train s to target", "steps to target", "final val loss"]
    table = common.render_table(
        ["variant", *metrics, "seeds", "steps", "train s"],
        common.metric_rows(records, [PROGRESSIVE.name, PLAIN.name], metrics,
                           digits={"train s to target": 1, "steps to target": 0}))
    seconds = {v.name: [r.metrics["train s to target"] for r in records if r.variant == v.name]
               for v in (PROGRESSIVE, PLAIN)}
    saved = 1 - statistics.fmean(seconds[PROGRESSIVE.name]) / statistics.fmean(seconds[PLAIN.name])
    notes = [f"target validation loss {target:.3f} (the lowest loss every run reached); "
             f"training time saved by progressive learning to reach it: {saved:.1%} of plain's "
             "(mean over seeds; negative = it took longer; paper: 65.21%)",
             f"val/loss = sum of the five task losses on fixed validation batches, every "
             f"{settings.val_every} steps; time to target is read at validations, so it is "
             "resolved to one validation interval"]
    path = common.write_results(settings, NAME,
                                title="Ablation (b): progressive learning vs plain warm-up",
                                paper=PAPER, table=table, notes=notes, records=records,
                                figure=_plot(records, target))
    print(path.read_text(encoding="utf-8"))
    return path


def _plot(records: Sequence[common.RunRecord], target: float) -> Figure:
    fig = Figure(figsize=(7, 4.2), layout="constrained")
    ax = fig.subplots()
    colors = {PROGRESSIVE.name: "tab:orange", PLAIN.name: "tab:blue"}
    for record in records:
        seconds = [s for _, s, _ in record.val_curve]
        losses = [loss for _, _, loss in record.val_curve]
        first = record.seed == min(r.seed for r in records if r.variant == record.variant)
        ax.plot(seconds, losses, color=colors[record.variant], alpha=0.8,
                label=record.variant if first else None)
    ax.axhline(target, color="0.4", linestyle="--", label=f"target {target:.2f}")
    ax.set_xlabel("training seconds (validation excluded)")
    ax.set_ylabel("validation loss (sum of 5 tasks)")
    ax.set_title("Progressive learning vs plain warm-up (one line per seed)")
    ax.legend(fontsize=8)
    return fig


if __name__ == "__main__":
    main()
