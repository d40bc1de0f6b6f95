"""Held-out measurements the ablations compare: document-LM perplexity and NLU accuracies.

* `segment_nll`: long held-out news documents (``news/test.jsonl``, never trained on) read
  segment after segment by the NLG path, with the recurrence memory carried from segment to
  segment (Transformer-XL arXiv 1901.02860 §3.2, ERNIE 3.0 arXiv 2107.02137 §3.2.1) or with
  every segment alone; the mean next-token NLL of each segment position.
* `nlu_accuracies`: knowledge masked LM, sentence reordering, sentence distance and UKTP accuracy
  (ERNIE 3.0 §3.2) on a fixed set of batches of the validation split.
* `probe_accuracies`: the knowledge probe (`ernie3_lite.evaluation.knowledge_probe`): held-out
  triples as template cloze queries, the tail ranked among every tail of the relation; and
  `tail_prior_accuracies`, the same queries ranked by how common each tail is in UKTP's data.
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F

from ernie3_lite.data.collate import TaskType
from ernie3_lite.data.corpus import PretrainingCorpus
from ernie3_lite.model.ernie3 import Ernie3Model


def held_out_documents(data_dir: Path, *, seg_len: int, n_segments: int, split: str = "test",
                       max_documents: int | None = None) -> torch.Tensor:
    """(D, n_segments * seg_len + 1): ``[SEP]`` + the start of every `split` document at least
    that long. Training streams join documents with [SEP] after each, so a document's first
    token is predicted from [SEP], as in training."""
    corpus = PretrainingCorpus(data_dir, split=split)
    need = n_segments * seg_len  # document tokens; with the leading [SEP]: need + 1
    rows = [[corpus.tokenizer.sep_id, *tokens[:need]] for tokens in corpus.document_tokens()
            if len(tokens) >= need]
    if not rows:
        raise ValueError(f"no {split} document in {data_dir} has {need} tokens "
                         f"({n_segments} segments of {seg_len})")
    return torch.tensor(rows[:max_documents])  # (D, need + 1)


@torch.no_grad()
def segment_nll(model: Ernie3Model, documents: torch.Tensor, *, seg_len: int,
                carry_memory: bool, mem_len: int | None = None,
                batch_size: int = 16) -> list[float]:
    """Mean next-token NLL (nats) of each segment position over `documents` (D, S * L + 1).

    carry_memory: segment k reads the memory of segments < k (`mem_len` positions, default the
    model's own); False: every segment is read alone, as a model without recurrence must.
    """
    model.eval()
    n_segments = (documents.size(1) - 1) // seg_len
    totals = torch.zeros(n_segments, dtype=torch.float64)
    for first in range(0, documents.size(0), batch_size):
        rows = documents[first:first + batch_size]  # (B, S * L + 1)
        memory = None
        for k in range(n_segments):
            inputs = rows[:, k * seg_len:(k + 1) * seg_len]  # (B, L)
            targets = rows[:, k * seg_len + 1:(k + 1) * seg_len + 1]  # (B, L) the next tokens
            out = model.forward_nlg(inputs, memory=memory, mem_len=mem_len,
                                    task_type_ids=torch.full_like(inputs, int(TaskType.NLG)))
            logits = model.lm_logits(out.hidden).float()  # (B, L, V)
            totals[k] += F.cross_entropy(logits.flatten(0, 1), targets.flatten(),
                                         reduction="sum").item()
            memory = out.new_memory if carry_memory else None
    return (totals / (documents.size(0) * seg_len)).tolist()


def perplexity(nll: list[float]) -> float:
    """exp of the mean NLL of equally sized segments."""
    return math.exp(sum(nll) / len(nll))


def validation_batches(data_dir: Path, *, batch_size: int, max_len: int, max_segments: int,
                       batches: int, seed: int = 0) -> list[dict]:
    """`batches` fixed NLU batches of the validation split (every run is scored on the same)."""
    from ernie3_lite.training.datamodule import Ernie3DataModule

    data = Ernie3DataModule(data_dir=str(data_dir), batch_size=batch_size, max_len=max_len,
                            max_segments=max_segments, task_weights={"dlm": 0.0}, seed=seed,
                            val_batches=batches)
    data.setup("validate")
    return list(data.val_dataloader())


@torch.no_grad()
def nlu_accuracies(module, batches: list[dict]) -> dict[str, float]:
    """Accuracy per NLU task over `batches`, weighted by predictions: for KMLM / UKTP a masked
    token, for SR / SD an example (`Ernie3PretrainModule.task_losses`, eval mode)."""
    module.eval()
    correct: dict[str, float] = {}
    counts: dict[str, int] = {}
    for batch in batches:
        nlu = {task: inputs for task, inputs in batch.items() if task != "dlm"}
        for task, (_, accuracy, count) in module.task_losses(nlu, stage="test").items():
            correct[task] = correct.get(task, 0.0) + float(accuracy) * count
            counts[task] = counts.get(task, 0) + count
    return {task: correct[task] / counts[task] for task in correct if counts[task]}


def majority_accuracies(batches: list[dict], tasks: tuple[str, ...] = ("sr", "sd")) -> dict:
    """Accuracy of always answering the most frequent label, per classification task (the
    floor an accuracy must beat to mean anything)."""
    out = {}
    for task in tasks:
        labels = torch.cat([batch[task]["labels"] for batch in batches if task in batch])
        out[task] = labels.bincount().max().item() / labels.numel()
    return out


def probe_data(data_dir: Path, splits: Sequence[str], *, max_triples: int | None = None) -> list:
    """`load_probe_data` of each split (held out from pre-training: `check_no_leak` runs on
    each again when it is probed), the first `max_triples` triples of each (None: all)."""
    from ernie3_lite.evaluation import load_probe_data

    probes = [load_probe_data(data_dir, split=split) for split in splits]
    return [dataclasses.replace(p, triples=p.triples[:max_triples]) for p in probes]


@torch.no_grad()
def probe_accuracies(model: Ernie3Model, tokenizer, probes: list, *,
                     scorers: Sequence[str] = ("nlu", "nlg")) -> dict[str, float]:
    """acc@1, acc@5 and MRR in % per scorer over the triples of every probe split together,
    and the random-ranking acc@1 / acc@5 ("random acc@k", the same for every model)."""
    from ernie3_lite.evaluation import knowledge_probe

    model.eval()
    out: dict[str, float] = {}
    for scorer in scorers:
        rows = [knowledge_probe(model, tokenizer, probe.triples, probe.candidates,
                                training_aligned=probe.training_aligned, graph=probe.graph,
                                queries="template", scorer=scorer)["overall"]
                for probe in probes]
        n = sum(row["n"] for row in rows)
        for key in ("acc@1", "acc@5", "mrr"):
            out[f"{scorer.upper()} {key}"] = 100 * sum(r[key] * r["n"] for r in rows) / n
        for k in (1, 5):
            out[f"random acc@{k}"] = 100 * sum(r[f"random@{k}"] * r["n"] for r in rows) / n
    return out


def tail_prior_accuracies(probes: list) -> dict[str, float]:
    """acc@1, acc@5 and MRR in % of ranking each probe query's candidates by how often each is
    the tail of that relation in the pre-training alignment (what UKTP trains on), ties
    pessimistic: a model that learned which tails are common, and no fact, scores this."""
    from ernie3_lite.evaluation.kg_queries import true_tails
    from ernie3_lite.evaluation.probe import probe_queries
    from ernie3_lite.evaluation.ranking import RankedQuery, gold_rank, summarize

    ranked = []
    for probe in probes:
        counts = Counter((rec["relation"], rec["tail"]) for rec in probe.training_aligned)
        queries = probe_queries(probe.triples, probe.candidates, kind="template",
                                known=true_tails(probe.graph))
        for query in queries:  # `group` is the relation
            scores = torch.tensor([float(counts[query.group, c]) for c in query.candidates])
            ranked.append(RankedQuery(rank=gold_rank(scores, query.gold),
                                      num_candidates=len(query.candidates), group=query.group))
    row = summarize(ranked)["overall"]
    return {key: 100 * row[key] for key in ("acc@1", "acc@5", "mrr")}
