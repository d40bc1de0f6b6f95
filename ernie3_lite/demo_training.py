"""The training half of `make demo`: pre-train `nano` for a few minutes and show what it learned.

Kept apart from `demo.py` so the data half stays importable without Lightning.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from ernie3_lite import PRETRAINED_NANO
from ernie3_lite.data.collate import TaskType
from ernie3_lite.data.corpus import PretrainingCorpus
from ernie3_lite.model.decoding import greedy_decode
from ernie3_lite.model.ernie3 import Ernie3Model
from ernie3_lite.tokenization import CharTokenizer
from ernie3_lite.training.run import pretrain
from ernie3_lite.viz.curves import TASK_TITLES, plot_loss_curves


def _heading(title: str) -> None:
    print(f"\n== {title} " + "=" * max(0, 72 - len(title)))


def loss_summary(run, *, window: int = 10) -> list[str]:
    """One line per task: mean loss over the first and last `window` steps, last validation."""
    rows = [f"  {'task':28s} {'first':>7s} {'last':>7s} {'valid':>7s} {'val acc':>7s}"]
    for task, title in TASK_TITLES.items():
        series = run.history.train.get(f"train/{task}_loss")
        if not series:
            continue
        first = sum(v for _, v in series[:window]) / len(series[:window])
        last = run.history.last(f"train/{task}_loss", window=window)
        val = run.history.val.get(f"val/{task}_loss", [(0, float("nan"))])[-1][1]
        acc = run.history.val.get(f"val/{task}_acc", [(0, float("nan"))])[-1][1]
        rows.append(f"  {title:28s} {first:7.3f} {last:7.3f} {val:7.3f} {acc:7.3f}")
    return rows


@torch.no_grad()
def masked_prediction(model, corpus: PretrainingCorpus) -> list[str]:
    """Hide the first entity of a validation sentence and let the NLU network fill it in."""
    tok = corpus.tokenizer
    text = next(s for s in corpus.sentences()
                if 12 <= len(s) <= 80 and corpus.encode(s).spans.entity)
    encoded = corpus.encode(text)
    start, end = encoded.spans.entity[0]
    ids = [tok.cls_id, *encoded.ids, tok.sep_id]
    masked = list(ids)
    masked[1 + start : 1 + end] = [tok.mask_id] * (end - start)
    hidden = model.forward_nlu(torch.tensor([masked])).hidden  # (1, T, d)
    guess = model.mlm_logits(hidden[0, 1 + start : 1 + end]).argmax(-1).tolist()
    return [f"  sentence : {text}",
            f"  masked   : {tok.decode(masked[1:-1], skip_special_tokens=False)}",
            f"  hidden   : {tok.decode(ids[1 + start : 1 + end])}",
            f"  predicted: {tok.decode(guess)}"]


@torch.no_grad()
def continuation(model, corpus: PretrainingCorpus, *, prompt_chars: int = 16,
                 new_tokens: int = 40) -> list[str]:
    """Greedy continuation of the start of a validation document by the NLG network."""
    tok = corpus.tokenizer
    prompt = "".join(corpus.document_sentences[0])[:prompt_chars]
    ids = torch.tensor([tok.encode(prompt)])
    task = torch.full_like(ids, int(TaskType.NLG))
    out = greedy_decode(model, ids, max_new_tokens=new_tokens, task_type_ids=task)
    return [f"  prompt      : {prompt}",
            f"  continuation: {tok.decode(out[0, ids.size(1):].tolist())}"]


def train_and_show(data_dir: str | Path, *, seed: int, max_steps: int, max_minutes: float,
                   out_dir: Path) -> None:
    _heading(f"pre-training nano on all five tasks ({max_steps} steps or {max_minutes:g} min)")
    seconds = int(max_minutes * 60)
    run = pretrain(data_dir, preset="nano", max_steps=max_steps,
                   warmup_steps=max(1, max_steps // 3), seed=seed, out_dir=out_dir,
                   max_time=f"00:00:{seconds // 60:02d}:{seconds % 60:02d}",
                   val_every=max(1, max_steps // 3))
    _heading(f"per-task loss after {run.trainer.global_step} steps")
    print("\n".join(loss_summary(run)))
    figure = plot_loss_curves(run.history.train, run.history.val)
    png = out_dir / "loss_curves.png"
    figure.savefig(png, dpi=100)
    print(f"loss curves: {png}")
    model = run.module.model.eval()
    corpus = PretrainingCorpus(data_dir, split="valid", tokenizer=run.datamodule.tokenizer,
                               segmenter=run.datamodule.segmenter)
    _heading("knowledge-masked prediction (NLU network, a validation sentence)")
    print("\n".join(masked_prediction(model, corpus)))
    _heading("continuation (NLG network, greedy)")
    print("\n".join(continuation(model, corpus)))
    shipped_steps = _shipped_steps()
    _heading(f"the same two by the shipped nano ({shipped_steps} steps on the full corpora)")
    shipped = Ernie3Model.from_pretrained(PRETRAINED_NANO).eval()
    # the shipped model reads with its own vocabulary (pre-trained with poetry: 8,000 entries,
    # [UNK] last), not the demo run's
    shipped_corpus = PretrainingCorpus(
        data_dir, split="valid", tokenizer=CharTokenizer.from_file(PRETRAINED_NANO / "vocab.txt"),
        segmenter=run.datamodule.segmenter)
    print("\n".join(masked_prediction(shipped, shipped_corpus)))
    print("\n".join(continuation(shipped, shipped_corpus)))
    export = out_dir / "model"
    model.save_pretrained(export, tokenizer=run.datamodule.tokenizer)
    _heading("where things are")
    print(f"Lightning checkpoint (resume with ernie3-lite fit --ckpt_path): {run.checkpoint}")
    print(f"exported model (Ernie3Model.from_pretrained): {export}")


def _shipped_steps() -> str:
    """The shipped model's pre-training steps in all, continued runs included (training.json)."""
    info = json.loads((PRETRAINED_NANO / "training.json").read_text(encoding="utf-8"))
    return f"{info.get('total_steps', info['steps']):,}"
