"""Ablation (e): knowledge masking vs character-only masking, NER F1 after a short fine-tune.

ERNIE 1.0 (arXiv 1904.09223 §3.2) masks whole units of knowledge, phrases and named entities
as well as characters, where BERT masks single characters; ERNIE 3.0 (arXiv 2107.02137 §3.2.1)
keeps it as knowledge masked LM. The claim: hiding a whole entity makes the model learn it from
its context, which helps entity-centred tasks such as NER. Two pre-training variants per seed,
the same time budget, then the same NER fine-tuning budget from each:

* knowledge masking: characters, phrases and entities mixed in every sentence (`MaskingConfig`:
  40 / 30 / 30 %, `pretrain(masking_units="mixed")`, the default);
* character-only masking: the same 15 % of tokens, one character at a time
  (`pretrain(masking_units="char")`).

By default only the knowledge masked LM is pre-trained (the other task weights 0): the variants
differ in that task alone, and NER reads the NLU path it trains; ``--all-tasks`` trains all five
(UKTP's masked sentences follow the same switch). Each pre-trained model is exported and
fine-tuned on People's Daily NER (``ner/*.bio`` of the data folder) for ``--ft-steps`` steps;
measured: entity-level span F1 (seqeval-style, micro over PER / LOC / ORG) on the test split.

    python benchmarks/ablations/masking.py [--preset nano] [--minutes M] [--seeds 0 1 2] \\
        [--data data/full] [--ft-steps N] [--all-tasks] [--quick]
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

import common
import finetuning
from matplotlib.figure import Figure

NAME = "masking"
PAPER = ("ERNIE 1.0 (arXiv 1904.09223): MSRA-NER test F1 93.8 with knowledge masking vs "
         "BERT 92.6 (dev 95.0 vs 94.0). That compares two whole models (ERNIE 1.0 was also "
         "pre-trained on more, heterogeneous Chinese data), not masking alone; ERNIE 3.0 "
         "(§3.2.1) adopts the masking without an ablation.")
KMLM_ONLY = {"dlm": 0.0, "sr": 0.0, "sd": 0.0, "uktp": 0.0}


def add_arguments(parser) -> None:
    finetuning.add_finetune_arguments(parser, steps=1200)  # fewer leave NER at all-O
    parser.add_argument("--all-tasks", action="store_true",
                        help="pre-train all five tasks, not the knowledge masked LM alone")


def main(argv: Sequence[str] | None = None) -> Path:
    settings, args = common.parse_settings(argv, name=NAME, description=__doc__, minutes=1.5,
                                           warmup_steps=60, val_every=100_000,
                                           add_arguments=add_arguments)
    weights = None if args.all_tasks else KMLM_ONLY
    knowledge = common.Variant("knowledge masking (char + phrase + entity)",
                               task_weights=weights)
    chars = common.Variant("character-only masking", task_weights=weights,
                           masking_units="char")
    ft = finetuning.finetune_settings(settings, args)
    records = []
    for seed in settings.seeds:
        for variant in (knowledge, chars):
            run, record = common.run_variant(settings, variant, seed=seed)
            with tempfile.TemporaryDirectory(prefix="ablation_model_") as folder:
                tuned = finetuning.finetune_record(
                    variant.name, "ner", seed=seed, preset=settings.preset,
                    pretrained=finetuning.export(run, Path(folder)), **ft)
            record.metrics = {f"NER {k}" if k in ("test", "valid") else k: v
                              for k, v in tuned.metrics.items()}
            record.train_losses["finetune"] = tuned.train_losses["finetune"]
            print(f"{variant.name} seed {seed}: pre-trained {record.steps} steps in "
                  f"{record.train_seconds:.0f} s (+{record.setup_seconds:.0f} s setup), "
                  f"fine-tuned {tuned.steps} steps in {tuned.train_seconds:.0f} s "
                  f"(+{tuned.setup_seconds:.0f} s setup and evaluation): test F1 "
                  f"{tuned.metrics['test']:.1f}", flush=True)
            records.append(record)
    metrics = ["NER test", "NER valid", *(f"test F1 {t}" for t in finetuning.NER_TYPES)]
    table = common.render_table(
        ["pre-training masking", *(f"{m} F1" if m.startswith("NER") else m for m in metrics),
         "seeds", "pre-train steps", "pre-train s"],
        common.metric_rows(records, [knowledge.name, chars.name], metrics,
                           digits=dict.fromkeys(metrics, 1)))
    notes = [f"fine-tuning: NER on `{common._shown(settings.data_dir)}/ner/`, {ft['max_steps']} "
             f"steps of batch {ft['batch_size']} x <= {ft['max_len']} tokens, LR {ft['lr']:g} "
             "(10 % warm-up, linear decay), the same for both variants; span F1 in % of the "
             "final weights (entity-level, micro over PER / LOC / ORG)",
             "pre-trained tasks: " + ("all five" if args.all_tasks else "knowledge masked LM "
                                      "only (other task weights 0)"),
             "knowledge masking draws each unit as a character (40 %), a jieba phrase (30 %) "
             "or a graph / jieba entity (30 %), 15 % of the tokens in all; UKTP's masked "
             "relation is a whole unit in both variants",
             "the NER sentences are People's Daily 1998, the same newspaper the pre-training "
             "news comes from (both variants read the same text)"]
    path = common.write_results(settings, NAME,
                                title="Ablation (e): knowledge masking vs character masking",
                                paper=PAPER, table=table, notes=notes, records=records,
                                figure=_plot(records, [knowledge.name, chars.name]))
    print(path.read_text(encoding="utf-8"))
    return path


def _plot(records: Sequence[common.RunRecord], variants: list[str]) -> Figure:
    fig = Figure(figsize=(10, 4), layout="constrained")
    curves, bars = fig.subplots(1, 2)
    colors = dict(zip(variants, ("tab:blue", "tab:olive"), strict=True))
    for record in records:
        points = record.train_losses.get("finetune", [])
        first = record.seed == min(r.seed for r in records if r.variant == record.variant)
        curves.plot([s for s, _ in points], [v for _, v in points], color=colors[record.variant],
                    alpha=0.7, label=record.variant if first else None)
    curves.set_xlabel("fine-tuning step")
    curves.set_ylabel("NER training loss")
    curves.set_title("NER fine-tuning from each pre-trained model")
    curves.legend(fontsize=7)
    names = ["NER test", *(f"test F1 {t}" for t in finetuning.NER_TYPES)]
    width = 0.38
    for i, variant in enumerate(variants):
        runs = [r for r in records if r.variant == variant]
        stats = [common.mean_spread([r.metrics.get(m, 0.0) for r in runs]) for m in names]
        xs = [j + (i - 0.5) * width for j in range(len(names))]
        bars.bar(xs, [m for m, _ in stats], width, color=colors[variant], label=variant,
                 yerr=[0.0 if s != s else s for _, s in stats])  # nan (one seed) -> no bar
    bars.set_xticks(range(len(names)), ["all types", "PER", "LOC", "ORG"])
    bars.set_ylabel("test span F1 (%)")
    bars.set_title("NER after fine-tuning (mean ± std over seeds)")
    bars.legend(fontsize=7, loc="upper right")
    return fig


if __name__ == "__main__":
    main()
