"""Ablation (c): separate NLU / NLG task modules vs ONE shared task module.

ERNIE 3.0 (arXiv 2107.02137 §3.1) puts a task-specific module per paradigm on the universal module
because NLU and NLG want "incompatible" top-level features, unlike UniLM-style models that share
one network and steer it with attention masks; its analysis (§4.4.1, UNVERIFIED recollection in
our notes) reports lower NLG perplexity with separate modules. Two variants of five-task
`pretrain()` per seed, the same time budget:

* separate: ERNIE 3.0's layout (the preset's NLU and NLG stacks);
* shared: ``share_task_modules=True``, the NLG path runs the NLU stack (same weights) with a
  causal mask and memory; one task stack fewer, the same compute per step.

Measured on held-out data: document-LM perplexity (``news/test.jsonl``, 4 segments read with
memory carried), and knowledge masked LM, sentence reordering, sentence distance and UKTP
accuracy on fixed batches of the validation split (the same batches for every run).

    python benchmarks/ablations/shared_task_modules.py [--preset nano] [--minutes M] \\
        [--seeds 0 1 2] [--data data/full] [--quick]
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import common
from evaluation import (
    held_out_documents,
    majority_accuracies,
    nlu_accuracies,
    perplexity,
    segment_nll,
    validation_batches,
)
from matplotlib.figure import Figure

NAME = "shared_task_modules"
N_SEGMENTS = 4
PAPER = ("§4.4.1 (UNVERIFIED recollection in our notes): with separate task-specific modules "
         "the NLG perplexity converges faster and lower than with a shared one, the gap growing "
         "with training; no NLU figure and no single number are quoted.")
SEPARATE = common.Variant("separate NLU / NLG modules (ERNIE 3.0)")
SHARED = common.Variant("one shared task module", config_overrides={"share_task_modules": True})
ACCURACIES = {"kmlm": "KMLM acc", "sr": "SR acc", "sd": "SD acc", "uktp": "UKTP acc"}


def main(argv: Sequence[str] | None = None) -> Path:
    settings, _ = common.parse_settings(argv, name=NAME, description=__doc__, minutes=2.5,
                                        warmup_steps=60, val_every=100_000)
    documents = held_out_documents(settings.data_dir, seg_len=settings.seg_len,
                                   n_segments=N_SEGMENTS,
                                   max_documents=8 if settings.quick else None)
    batches = None  # built once the first model says how many SR segments it has
    records = []
    for seed in settings.seeds:
        for variant in (SEPARATE, SHARED):
            run, record = common.run_variant(settings, variant, seed=seed)
            print(f"{variant.name} seed {seed}: {record.steps} steps in "
                  f"{record.train_seconds:.0f} s (+{record.setup_seconds:.0f} s setup)",
                  flush=True)
            if batches is None:
                batches = validation_batches(
                    settings.data_dir, batch_size=settings.batch_size, max_len=settings.max_len,
                    max_segments=run.module.config.sr_max_segments,
                    batches=2 if settings.quick else 32)
            nll = segment_nll(run.module.model, documents, seg_len=settings.seg_len,
                              carry_memory=True)
            accuracies = nlu_accuracies(run.module, batches)
            record.metrics = {"NLG ppl": perplexity(nll),
                              **{ACCURACIES[t]: 100 * accuracies[t] for t in ACCURACIES},
                              "params (M)": run.module.model.num_parameters() / 1e6}
            records.append(record)
    metrics = ["NLG ppl", *ACCURACIES.values(), "params (M)"]
    table = common.render_table(
        ["variant", *metrics, "seeds", "steps", "train s"],
        common.metric_rows(records, [SEPARATE.name, SHARED.name], metrics,
                           digits={"NLG ppl": 1, "params (M)": 2}))
    notes = [f"NLG ppl: {documents.size(0)} documents of "
             f"`{common._shown(settings.data_dir)}/news/test.jsonl` with >= "
             f"{N_SEGMENTS * settings.seg_len} tokens, {N_SEGMENTS} segments of "
             f"{settings.seg_len}, memory carried (lower is better)",
             f"accuracies in %: {len(batches)} validation batches of {settings.batch_size} "
             "examples per task; KMLM / UKTP per masked token, SR / SD per example; always "
             "answering the most frequent label scores " + ", ".join(
                 f"{task.upper()} {100 * acc:.1f}" for task, acc
                 in majority_accuracies(batches).items()),
             "both variants run the same layers per step: the shared one has fewer "
             "parameters, not less compute"]
    path = common.write_results(settings, NAME,
                                title="Ablation (c): separate vs shared task modules",
                                paper=PAPER, table=table, notes=notes, records=records,
                                figure=_plot(records))
    print(path.read_text(encoding="utf-8"))
    return path


def _plot(records: Sequence[common.RunRecord]) -> Figure:
    fig = Figure(figsize=(10, 4), layout="constrained")
    curves, bars = fig.subplots(1, 2)
    colors = {SEPARATE.name: "tab:green", SHARED.name: "tab:purple"}
    for record in records:
        points = record.train_losses.get("dlm_loss", [])
        first = record.seed == min(r.seed for r in records if r.variant == record.variant)
        curves.plot([s for s, _ in points], [v for _, v in points], color=colors[record.variant],
                    alpha=0.7, label=record.variant if first else None)
    curves.set_xlabel("step")
    curves.set_ylabel("training document-LM loss")
    curves.set_title("NLG loss during training (one line per seed)")
    curves.legend(fontsize=7)
    names = list(ACCURACIES.values())
    width = 0.38
    for i, variant in enumerate((SEPARATE.name, SHARED.name)):
        runs = [r for r in records if r.variant == variant]
        stats = [common.mean_spread([r.metrics[m] for r in runs]) for m in names]
        xs = [j + (i - 0.5) * width for j in range(len(names))]
        bars.bar(xs, [m for m, _ in stats], width,
                 yerr=[0.0 if s != s else s for _, s in stats],  # nan (one seed) -> no bar
                 color=colors[variant], label=variant)
    bars.set_xticks(range(len(names)), names)
    bars.set_ylabel("held-out accuracy (%)")
    bars.set_title("NLU accuracy (mean ± std over seeds)")
    bars.legend(fontsize=7, loc="upper right")
    return fig


if __name__ == "__main__":
    main()
