"""The shipped nano's pre-training curve: where the document LM stands and what more steps buy.

    python benchmarks/pretraining_curve.py --run runs/ship5        # the run that was exported

reads the run's ``history.json`` (what ``ship train`` writes: the logged training losses and
the validation values, resumed parts included) and the exported ``training.json`` chain of the
runs it continued, and writes ``results/pretraining_curve.{json,png}``: validation DLM perplexity
and masked-LM accuracy against total pre-training steps, the training DLM loss smoothed, and
the quality report's counting baselines (news test, `results/quality.json`) for scale.

The validation split mixes news valid with poems (the run's ``--poetry-share``), so its
perplexity is not the quality report's news-test number; the curve says how fast it still falls.
ERNIE 3.0 (arXiv 2107.02137 §3.3) trains every task every step, so the curves share one axis.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def earlier_runs(training: dict) -> list[dict]:
    """The runs a shipped model continued, oldest first (each a training.json dict)."""
    runs, stage = [], training.get("started_from")
    while stage:
        runs.insert(0, stage)
        stage = stage.get("started_from")
    return runs


def curve(history: dict, *, offset: int) -> dict:
    """Validation and smoothed training series of one run, steps shifted by `offset`."""
    val = history["val"]
    points = {step for key in ("val/dlm_loss", "val/kmlm_acc") for step, _ in val.get(key, [])}
    by_step = {key: dict(map(tuple, val.get(key, []))) for key in ("val/dlm_loss", "val/kmlm_acc")}
    rows = [{"step": offset + step, "val_dlm_ppl": math.exp(by_step["val/dlm_loss"][step])
             if step in by_step["val/dlm_loss"] else None,
             "val_kmlm_acc": by_step["val/kmlm_acc"].get(step)} for step in sorted(points)]
    train = history["train"].get("train/dlm_loss", [])
    window = max(1, len(train) // 40)
    smooth = [{"step": offset + train[i][0],
               "train_dlm_ppl": math.exp(sum(v for _, v in train[i:i + window]) / window)}
              for i in range(0, max(0, len(train) - window + 1), window)]
    return {"val": rows, "train": smooth}


def plot(payload: dict, out: Path) -> None:
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for row in payload["earlier"]:
        left.scatter([row["total_steps"]], [row["val_dlm_ppl"]], color="grey", zorder=3,
                     label=f"end of the run it continued ({row['total_steps']} steps)")
    val = [r for r in payload["run"]["val"] if r["val_dlm_ppl"] is not None]
    left.plot([r["step"] for r in val], [r["val_dlm_ppl"] for r in val], marker="o",
              label="validation (news + poems)")
    train = payload["run"]["train"]
    left.plot([r["step"] for r in train], [r["train_dlm_ppl"] for r in train], alpha=0.5,
              label="training, smoothed")
    for name, ppl in payload.get("baselines", {}).items():
        left.axhline(ppl, linestyle="--", linewidth=1, color="black" if "3" in name else "grey")
        left.text(left.get_xlim()[0], ppl, f" {name} (news test)", va="bottom", fontsize=8)
    left.set(xlabel="pre-training steps (all runs)", ylabel="document-LM perplexity",
             yscale="log", title="document LM: lower is better")
    left.legend(fontsize=8)
    acc = [r for r in payload["run"]["val"] if r["val_kmlm_acc"] is not None]
    right.plot([r["step"] for r in acc], [r["val_kmlm_acc"] for r in acc], marker="o")
    right.set(xlabel="pre-training steps (all runs)", ylabel="validation masked-LM accuracy",
              title="knowledge masked LM: higher is better")
    fig.tight_layout()
    fig.savefig(out, dpi=110)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--run", type=Path, required=True, help="a `ship train --out` folder")
    p.add_argument("--model", type=Path, default=ROOT / "ernie3_lite" / "pretrained" / "nano",
                   help="its export (training.json names the runs it continued)")
    p.add_argument("--quality", type=Path, default=RESULTS / "quality.json")
    p.add_argument("--out", type=Path, default=RESULTS / "pretraining_curve.json")
    args = p.parse_args(argv)
    history_file = args.run / "history.json"
    if not history_file.is_file():
        p.error(f"--run {args.run}: no history.json (ship train writes it when it ends)")
    history = json.loads(history_file.read_text(encoding="utf-8"))
    training = json.loads((args.model / "training.json").read_text(encoding="utf-8"))
    earlier = earlier_runs(training)
    offset = sum(run["steps"] for run in earlier)
    payload = {"command": " ".join(["python benchmarks/pretraining_curve.py", *sys.argv[1:]]),
               "run_command": history.get("command"), "seconds": history.get("seconds"),
               "steps": history.get("steps"), "machine": history.get("machine"),
               "earlier": [{"total_steps": sum(r["steps"] for r in earlier[:i + 1]),
                            "val_dlm_ppl": math.exp(r["final_losses"]["val/dlm_loss"]),
                            "command": r["command"]} for i, r in enumerate(earlier)],
               "run": curve(history, offset=offset)}
    if args.quality.is_file():
        dlm = json.loads(args.quality.read_text(encoding="utf-8"))["lm"]["dlm"]["baselines"]
        payload["baselines"] = {k: dlm[k]["ppl"] for k in ("KN 3-gram", "KN 5-gram") if k in dlm}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_name(args.out.name + ".tmp")
    tmp.write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, args.out)
    plot(payload, args.out.with_suffix(".png"))
    print(json.dumps(payload["run"]["val"], indent=1))


if __name__ == "__main__":
    main()
