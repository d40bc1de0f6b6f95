"""Fine-tuning results of the shipped nano: the README's table, produced by this script.

ERNIE 3.0 (arXiv 2107.02137 §4.2) fine-tunes its pre-trained network on each downstream task;
§3.1 argues that the universal module can stay frozen while only a small task-specific module
is trained. This runs `ernie3_lite.finetune.finetune` with the settings of
`configs/finetune_{sentiment,ner,headline}.yaml` (epochs, batch size, LR, precision auto) from the
shipped `PRETRAINED_NANO`, and, for the two NLU tasks, the same run with `freeze_universal=True`;
then it scores the final weights on the valid and test splits and writes
`benchmarks/results/finetune.{md,json}`. The majority label's test accuracy is the floor for
sentiment. One seed: a check of what the shipped model does, not a study (the ablation
`benchmarks/ablations/pretrained_vs_scratch.py` has seeds and a from-scratch baseline).

    OMP_NUM_THREADS=1 python benchmarks/finetune_results.py [--data data_samples] [--quick]

``--lr`` replaces the configs' 1e-3 for every run (a sensitivity check); the results then go to
``finetune_lr<value>.{md,json}`` and leave the README's table alone.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
from collections import Counter
from pathlib import Path

import torch

from ernie3_lite import DATA_SAMPLES, PACKAGE_ROOT, PRETRAINED_NANO
from ernie3_lite.finetune import finetune
from ernie3_lite.finetune.data import read_split
from ernie3_lite.training.precision import resolve_precision

RESULTS = Path(__file__).resolve().parent / "results"
CONFIG_LR = 1e-3  # the lr of configs/finetune_*.yaml
#: task -> (epochs, batch size, metric): the values of configs/finetune_<task>.yaml
SETTINGS = {"sentiment": (2, 16, "acc"), "ner": (3, 16, "f1"), "headline": (5, 8, "rouge_l")}
FROZEN = ("sentiment", "ner")  # the NLU tasks also run with the universal module frozen


def majority_accuracy(data_dir: Path) -> float:
    """Test accuracy of always answering the test split's most frequent label (a floor that
    knows the test distribution; chance is 0.5)."""
    test = Counter(r.label for r in read_split(data_dir, "sentiment", "test"))
    return test.most_common(1)[0][1] / sum(test.values())


def run_all(data_dir: Path, *, quick: bool, out_root: Path, lr: float = CONFIG_LR) -> list[dict]:
    rows = []
    for task, (epochs, batch_size, metric) in SETTINGS.items():
        for frozen in (False, True) if task in FROZEN else (False,):
            result = finetune(task, data_dir=data_dir, max_epochs=1 if quick else epochs,
                              max_steps=2 if quick else -1, batch_size=batch_size, lr=lr,
                              warmup_ratio=0.1, freeze_universal=frozen, seed=0,
                              precision=resolve_precision("auto"), val_every=0,
                              out_dir=out_root / f"{task}{'_frozen' if frozen else ''}")
            rows.append({"task": task, "trained": "task module + head (universal frozen)"
                         if frozen else "all weights", "metric": metric,
                         "valid": result.valid[metric], "test": result.test[metric],
                         "epochs": epochs, "steps": result.steps,
                         "train_seconds": result.train_seconds})
            print(f"{task:9s} frozen={frozen!s:5s} valid {metric} {rows[-1]['valid']:.4f} "
                  f"test {rows[-1]['test']:.4f} ({result.steps} steps, "
                  f"{result.train_seconds:.0f} s)", flush=True)
    return rows


def markdown(rows: list[dict], *, majority: float, command: str, data_dir: Path,
             lr: float = CONFIG_LR) -> str:
    lines = ["# Fine-tuning the shipped nano (ERNIE 3.0 §4.2)", "",
             "| task | trained | metric | valid | test | epochs | steps | train s |",
             "|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r['task']} | {r['trained']} | {r['metric']} | {r['valid']:.3f} | "
              f"{r['test']:.3f} | {r['epochs']} | {r['steps']} | {r['train_seconds']:.0f} |"
              for r in rows]
    lines += ["", "- sentiment floor: always answering the test split's most frequent label "
              f"scores {majority:.3f} (chance 0.5)",
              f"- data: `{os.path.relpath(data_dir, PACKAGE_ROOT.parent)}`; model: "
              f"`ernie3_lite/pretrained/{PRETRAINED_NANO.name}` as shipped (its "
              f"training.json); LR {lr:g}, 10 % warm-up then linear decay, "
              f"{resolve_precision('auto')}, seed 0",
              "- metrics: accuracy; entity-level span F1 (PER / LOC / ORG, conlleval rules); "
              "character-level ROUGE-L F1 of greedy headlines",
              f"- machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
              f"torch {torch.__version__} with {torch.get_num_threads()} thread(s), no GPU",
              f"- command: `{command}`", f"- date: {datetime.date.today().isoformat()}"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DATA_SAMPLES)
    parser.add_argument("--quick", action="store_true", help="2 steps per run, no results file")
    parser.add_argument("--out", type=Path, default=Path("runs") / "finetune_results")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--lr", type=float, default=CONFIG_LR,
                        help=f"learning rate of every run (default {CONFIG_LR:g}, the configs')")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    rows = run_all(args.data, quick=args.quick, out_root=args.out, lr=args.lr)
    if args.quick:
        return
    command = " ".join(["python benchmarks/finetune_results.py", *(argv or sys.argv[1:])])
    RESULTS.mkdir(exist_ok=True)
    majority = majority_accuracy(args.data)
    text = markdown(rows, majority=majority, command=command, data_dir=args.data, lr=args.lr)
    name = "finetune" if args.lr == CONFIG_LR else f"finetune_lr{args.lr:g}"
    (RESULTS / f"{name}.md").write_text(text, encoding="utf-8")
    (RESULTS / f"{name}.json").write_text(json.dumps({"rows": rows, "majority": majority},
                                                      indent=1), encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
