"""Ablation (a): recurrence memory vs none, document-LM perplexity on long held-out news.

ERNIE 3.0 (arXiv 2107.02137 §3.2.1) gives its NLG network ERNIE-Doc's recurrence memory "to model
longer text"; Transformer-XL (arXiv 1901.02860 §3.2) carries each segment's hidden states into
the next. Two models are trained per seed with the same time budget, the preset's memory
(``mem_len``) and none (``mem_len=0``), and every held-out document (``news/test.jsonl``, 4
segments) is read segment by segment:

* trained with memory: memory carried (the model's ``mem_len``), memory carried with a longer
  ``mem_len = seg_len`` (TXL evaluates with longer memory than it trains with), each segment alone;
* trained without memory: each segment alone.

Segment 1 has no past either way; memory can only help segments 2-4 ("ppl seg 2+"). By default
only the document LM is trained (other task weights 0): the claim concerns the NLG path, and a
few minutes of five-task training leave it little of the budget; ``--all-tasks`` trains all five.

    python benchmarks/ablations/recurrence_memory.py [--preset nano] [--minutes M] \\
        [--seeds 0 1 2] [--data data/full] [--all-tasks] [--quick]
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import common
from evaluation import held_out_documents, perplexity, segment_nll
from matplotlib.figure import Figure

NAME = "recurrence_memory"
N_SEGMENTS = 4
PAPER = ("ERNIE 3.0 reports no memory ablation (it adopts ERNIE-Doc's recurrence, §3.2.1); "
         "ERNIE-Doc base reaches WikiText-103 PPL 21.0 with it. Transformer-XL's own ablation "
         "table is not in our paper notes, so no figure is quoted here.")


def main(argv: Sequence[str] | None = None) -> Path:
    settings, args = common.parse_settings(
        argv, name=NAME, description=__doc__, minutes=3.0, warmup_steps=100, val_every=100_000,
        add_arguments=lambda parser: parser.add_argument(
            "--all-tasks", action="store_true", help="train all five tasks, not the DLM alone"))
    all_tasks = args.all_tasks
    weights = None if all_tasks else common.DLM_ONLY
    with_memory = common.Variant("trained with memory", task_weights=weights)
    without = common.Variant("trained with mem_len=0", config_overrides={"mem_len": 0},
                             task_weights=weights)
    documents = held_out_documents(settings.data_dir, seg_len=settings.seg_len,
                                   n_segments=N_SEGMENTS, max_documents=8 if settings.quick
                                   else None)
    rows = {  # evaluation row -> (trained variant, carry memory, eval mem_len)
        "with memory, eval: memory carried (own mem_len)": (with_memory, True, None),
        "with memory, eval: memory carried (mem_len = seg_len)":
            (with_memory, True, settings.seg_len),
        "with memory, eval: each segment alone": (with_memory, False, None),
        "mem_len=0, eval: each segment alone": (without, False, None),
    }
    records, curves = [], {row: [] for row in rows}
    for seed in settings.seeds:
        for variant in (with_memory, without):
            run, record = common.run_variant(settings, variant, seed=seed)
            print(f"{variant.name} seed {seed}: {record.steps} steps in "
                  f"{record.train_seconds:.0f} s (+{record.setup_seconds:.0f} s setup)",
                  flush=True)
            for row, (trained, carry, mem_len) in rows.items():
                if trained is not variant:
                    continue
                nll = segment_nll(run.module.model, documents, seg_len=settings.seg_len,
                                  carry_memory=carry, mem_len=mem_len)
                curves[row].append([perplexity([x]) for x in nll])
                records.append(dataclasses.replace(record, variant=row, metrics={
                    "ppl": perplexity(nll), "ppl seg 1": perplexity(nll[:1]),
                    "ppl seg 2+": perplexity(nll[1:])}))
    metrics = ["ppl seg 2+", "ppl seg 1", "ppl"]
    table = common.render_table(
        ["model / evaluation", *metrics, "seeds", "steps", "train s"],
        common.metric_rows(records, list(rows), metrics, digits=dict.fromkeys(metrics, 1)))
    notes = [f"held-out text: {documents.size(0)} documents of "
             f"`{common._shown(settings.data_dir)}/news/test.jsonl` with >= "
             f"{N_SEGMENTS * settings.seg_len} tokens, first {N_SEGMENTS} segments of "
             f"{settings.seg_len} tokens each, [SEP] first",
             "trained tasks: " + ("all five" if all_tasks else "document LM only (other task "
                                  "weights 0)"),
             "lower perplexity is better; the rows 'with memory' are one model evaluated 3 ways"]
    path = common.write_results(settings, NAME, title="Ablation (a): recurrence memory vs none",
                                paper=PAPER, table=table, notes=notes, records=records,
                                figure=_plot(curves))
    print(path.read_text(encoding="utf-8"))
    return path


def _plot(curves: dict[str, list[list[float]]]) -> Figure:
    fig = Figure(figsize=(7, 4.2), layout="constrained")
    ax = fig.subplots()
    for row, per_seed in curves.items():
        xs = range(1, len(per_seed[0]) + 1)
        means = [sum(col) / len(col) for col in zip(*per_seed, strict=True)]
        ax.plot(xs, means, marker="o", label=row)
    ax.set_xlabel("segment of the document")
    ax.set_ylabel("perplexity (mean over seeds)")
    ax.set_xticks(range(1, N_SEGMENTS + 1))
    ax.set_title("Document LM on held-out news: memory vs none")
    ax.legend(fontsize=7)
    return fig


if __name__ == "__main__":
    main()
