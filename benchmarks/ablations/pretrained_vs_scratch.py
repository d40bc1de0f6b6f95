"""Ablation (f): fine-tuning from the shipped pre-trained nano vs from scratch.

The premise of ERNIE 3.0 (arXiv 2107.02137 §1, fine-tuned in §4.2) and of every pre-trained
model: a network first pre-trained on large unlabelled text (here the five tasks of §3.2 on
People's Daily and the knowledge graph) fine-tunes to a better downstream model than the same
network trained on the labelled data alone. Per task and seed, two fine-tuning runs with the
same number of steps, batch size, learning rate and schedule (equal compute):

* pre-trained: the shipped nano (`ernie3_lite.PRETRAINED_NANO`, or ``--pretrained DIR``);
* from scratch: the same architecture (that folder's config) with random weights.

Tasks (`ernie3_lite.finetune`): review sentiment (accuracy on the test split) and People's Daily
NER (entity-level span F1 on the test split). No pre-training runs here, so this is the
cheapest ablation.

    python benchmarks/ablations/pretrained_vs_scratch.py [--ft-steps N] [--seeds 0 1 2] \\
        [--data data/full] [--tasks sentiment ner] [--pretrained DIR] [--quick]
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import common
import finetuning
from matplotlib.figure import Figure

from ernie3_lite import PRETRAINED_NANO

NAME = "pretrained_vs_scratch"
PAPER = ("ERNIE 3.0 reports no from-scratch baseline (pre-training is the premise of §1 and "
         "§4.2). For scale, after pre-training ERNIE 1.0 (arXiv 1904.09223) reaches "
         "ChnSentiCorp test accuracy 95.4 and MSRA-NER test F1 93.8, other data than ours.")
STARTS = ("pre-trained", "from scratch")
TASK_NAMES = {"sentiment": "sentiment", "ner": "NER"}


def add_arguments(parser) -> None:
    finetuning.add_finetune_arguments(parser, steps=600)
    parser.add_argument("--tasks", nargs="+", default=["sentiment", "ner"],
                        choices=list(finetuning.TASK_METRICS))
    parser.add_argument("--pretrained", default=str(PRETRAINED_NANO),
                        help="save_pretrained folder to start from (default: the shipped nano)")


def row_name(task: str, start: str) -> str:
    return f"{TASK_NAMES[task]} ({finetuning.TASK_METRICS[task][1]}), {start}"


def main(argv: Sequence[str] | None = None) -> Path:
    settings, args = common.parse_settings(argv, name=NAME, description=__doc__, minutes=None,
                                           warmup_steps=0, val_every=0,
                                           add_arguments=add_arguments)
    pretrained = Path(args.pretrained)
    if not (pretrained / "vocab.txt").is_file():
        raise SystemExit(f"--pretrained {pretrained}: no vocab.txt (a save_pretrained folder)")
    # the scratch model gets the pre-trained one's exact config and vocabulary (it may be
    # vocab_poetry.txt, not the data folder's vocab.txt), so only the weights differ
    preset = "nano"
    scratch = finetuning.scratch_overrides(pretrained, preset)
    ft = finetuning.finetune_settings(settings, args)
    records = []
    for seed in settings.seeds:
        for task in args.tasks:
            for start, folder in zip(STARTS, (pretrained, None), strict=True):
                record = finetuning.finetune_record(
                    row_name(task, start), task, seed=seed, pretrained=folder, preset=preset,
                    config_overrides=None if folder else scratch,
                    vocab_file=None if folder else pretrained / "vocab.txt", **ft)
                print(f"{record.variant} seed {seed}: {record.steps} steps in "
                      f"{record.train_seconds:.0f} s (+{record.setup_seconds:.0f} s setup and "
                      f"evaluation): test {record.metrics['test']:.1f}, valid "
                      f"{record.metrics['valid']:.1f}", flush=True)
                records.append(record)
    rows = [row_name(task, start) for task in args.tasks for start in STARTS]
    table = common.render_table(
        ["task (metric, %), start", "test", "valid", "seeds", "steps", "train s"],
        common.metric_rows(records, rows, ["test", "valid"],
                           digits={"test": 1, "valid": 1}))
    shipped = _training_info(pretrained)
    notes = [f"pre-trained start: `{common._shown(pretrained)}`{shipped}; from scratch: its "
             "config with random weights (same parameters, same cost per step)",
             f"fine-tuning data `{common._shown(settings.data_dir)}` (reviews/, ner/)",
             *_majority_notes(settings.data_dir, args.tasks)]
    budget = (f"{ft['max_steps']} fine-tuning steps per run, the same for both starts (equal "
              f"compute); batch {ft['batch_size']} x <= {ft['max_len']} tokens, LR "
              f"{ft['lr']:g} (10 % warm-up, linear decay), precision {settings.precision}; "
              "metrics of the final weights")
    path = common.write_results(settings, NAME,
                                title="Ablation (f): pre-trained nano vs from scratch",
                                paper=PAPER, table=table, notes=notes, records=records,
                                figure=_plot(records, args.tasks), budget=budget)
    print(path.read_text(encoding="utf-8"))
    return path


def _training_info(pretrained: Path) -> str:
    info = pretrained / "training.json"
    if not info.is_file():
        return ""
    record = json.loads(info.read_text(encoding="utf-8"))
    return (f" ({record.get('steps', '?')} pre-training steps, "
            f"`{record.get('command', '?')}`)")


def _majority_notes(data_dir: Path, tasks: Sequence[str]) -> list[str]:
    """What always answering the most frequent training label scores on test (sentiment)."""
    if "sentiment" not in tasks:
        return []
    from ernie3_lite.finetune.data import read_split

    train = Counter(r.label for r in read_split(data_dir, "sentiment", "train"))
    test = [r.label for r in read_split(data_dir, "sentiment", "test")]
    majority = train.most_common(1)[0][0]
    share = 100 * sum(label == majority for label in test) / len(test)
    return [f"sentiment: always answering the most frequent training label ({majority!r}) "
            f"scores {share:.1f} % on the {len(test)} test reviews; NER span F1 has no such "
            "floor (predicting no entity scores 0)"]


def _plot(records: Sequence[common.RunRecord], tasks: Sequence[str]) -> Figure:
    fig = Figure(figsize=(5 * len(tasks), 4), layout="constrained")
    axes = fig.subplots(1, len(tasks), squeeze=False)[0]
    colors = dict(zip(STARTS, ("tab:green", "tab:gray"), strict=True))
    for ax, task in zip(axes, tasks, strict=True):
        for start in STARTS:
            runs = [r for r in records if r.variant == row_name(task, start)]
            test = common.format_mean_spread([r.metrics["test"] for r in runs], digits=1)
            for i, record in enumerate(runs):
                points = record.train_losses["finetune"]
                ax.plot([s for s, _ in points], [v for _, v in points], color=colors[start],
                        alpha=0.7, label=None if i else f"{start}: test {test}")
        ax.set_xlabel("fine-tuning step")
        ax.set_ylabel("training loss")
        ax.set_title(f"{TASK_NAMES[task]} ({finetuning.TASK_METRICS[task][1]} %)")
        ax.legend(fontsize=7)
    return fig


if __name__ == "__main__":
    main()
