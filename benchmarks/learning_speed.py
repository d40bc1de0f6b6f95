"""Learning speed: held-out perplexity of nano's NLG path and a same-size GPT, same loop (#17).

Both models (benchmarks/learning_speed_variants.py) train as character LMs with ONE loop, on
the same batches in the same order, from the same seed:

* data: the document-LM stream of the full build's news train split, built by the package's own
  code (`PretrainingCorpus.document_tokens`: headline + sentences per document, then
  `DocumentStream.from_documents`, which puts [SEP] after each); batches of 16 windows of 128
  tokens at random offsets (one generator, seeded, so both models see the same windows);
* optimiser: AdamW, lr 2e-3, betas (0.9, 0.95), weight decay 0.1 on the parameters the
  package's optimiser decays (`uses_weight_decay`: matrices and embeddings; not biases,
  LayerNorms, u / v), gradient clipping at 1.0, 200 linear warm-up steps, then cosine to 10 % of
  the peak over the run (``--tokens``, or ``--minutes`` of process CPU time);
* evaluation: perplexity on `data_samples/news/test.jsonl` (the same stream layout) in
  non-overlapping 128-token blocks, no memory, every ``--eval-every`` steps.

Time is `time.process_time()` of this process (robust to other processes sharing the machine)
without the evaluations; wall time is recorded too. Run with one thread (``--threads 1``)::

    python benchmarks/learning_speed.py --model gpt --tokens 2000000 --out gpt.json
    python benchmarks/learning_speed.py --model ernie --ablation dropout-0 --out e.json
    python benchmarks/learning_speed.py --plot gpt.json e.json --plot-out curves.png
    python benchmarks/learning_speed.py --quick          # seconds: the smoke test

`--ablation NAME` (repeatable) switches one factor; `--list` prints them.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from learning_speed_variants import ABLATIONS, build, parameter_groups

from ernie3_lite import DATA_SAMPLES
from ernie3_lite.data.corpus import PretrainingCorpus
from ernie3_lite.data.dlm import DocumentStream
from ernie3_lite.tokenization import CharTokenizer

ROOT = Path(__file__).resolve().parents[1]
BATCH, SEQ = 16, 128


def lm_stream(data_dir: Path, split: str, tokenizer: CharTokenizer) -> torch.Tensor:
    """(N,) the document-LM stream of a split: each document's tokens, then [SEP]."""
    corpus = PretrainingCorpus(data_dir, split=split, tokenizer=tokenizer)
    stream = DocumentStream.from_documents(corpus.document_tokens(), sep_id=tokenizer.sep_id,
                                           batch_size=1, seg_len=SEQ)
    return stream.rows[0]  # (N,): one row holds the whole stream


def random_windows(stream: torch.Tensor, gen: torch.Generator, *, batch: int, seq: int):
    """inputs, targets (B, T): windows at random offsets; targets are shifted by one."""
    starts = torch.randint(0, stream.numel() - seq - 1, (batch,), generator=gen)  # (B,)
    index = starts[:, None] + torch.arange(seq + 1)  # (B, T+1)
    windows = stream[index]  # (B, T+1)
    return windows[:, :-1], windows[:, 1:]


@torch.no_grad()
def held_out_perplexity(model, stream: torch.Tensor, *, seq: int) -> float:
    """exp(mean NLL) over non-overlapping blocks of `seq` predicted tokens, no memory."""
    model.eval()
    total, count = 0.0, 0
    for start in range(0, stream.numel() - 1, seq):
        block = stream[start : start + seq + 1][None]  # (1, <= T+1)
        logits = model(block[:, :-1])  # (1, T, V)
        total += F.cross_entropy(logits[0], block[0, 1:], reduction="sum").item()
        count += block.size(1) - 1
    model.train()
    return math.exp(total / count)


def learning_rate(step: int, progress: float, *, peak: float, warmup: int) -> float:
    """Linear warm-up over `warmup` steps, then cosine from `peak` to 10 % of it at progress 1."""
    if step < warmup:
        return peak * (step + 1) / warmup
    cosine = 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))
    return peak * (0.1 + 0.9 * cosine)


def train(args) -> dict:
    tokenizer = CharTokenizer.from_file(args.data / "vocab.txt")
    train_stream = lm_stream(args.data, "train", tokenizer)
    test_stream = lm_stream(DATA_SAMPLES, "test", tokenizer)
    model, sizes = build(args.model, args.ablation, vocab_size=tokenizer.vocab_size,
                         block_size=SEQ, seed=args.seed)
    decay_all = any(ABLATIONS[n].decay_all for n in args.ablation)
    optimizer = torch.optim.AdamW(parameter_groups(model, weight_decay=0.1, decay_all=decay_all),
                                  lr=args.lr, betas=(0.9, 0.95))
    params = [p for group in optimizer.param_groups for p in group["params"]]
    gen = torch.Generator().manual_seed(args.seed)
    torch.manual_seed(args.seed)  # dropout masks
    label = "+".join([args.model, *args.ablation])
    print(f"{label}: {sizes['parameters'] / 1e6:.2f} M parameters; train stream "
          f"{train_stream.numel():,} tokens, held-out {test_stream.numel():,}", flush=True)
    max_tokens = args.tokens or float("inf")
    max_cpu = args.minutes * 60 if args.minutes else float("inf")
    horizon = args.schedule_tokens or max_tokens  # a screening run is the prefix of a longer one
    curve, cpu, step, tokens = [], 0.0, 0, 0
    wall0 = time.perf_counter()

    def record(loss: float) -> None:
        curve.append({"step": step, "tokens": tokens, "cpu_s": round(cpu, 2),
                      "wall_s": round(time.perf_counter() - wall0, 2), "train_loss": loss,
                      "ppl": held_out_perplexity(model, test_stream, seq=SEQ)})
        print(f"  step {step:5d}  tokens {tokens:9,d}  cpu {cpu:8.1f} s  train loss "
              f"{loss:6.3f}  held-out ppl {curve[-1]['ppl']:8.1f}", flush=True)

    record(float("nan"))
    while tokens < max_tokens and cpu < max_cpu:
        t0 = time.process_time()
        progress = max(tokens / horizon, cpu / max_cpu)
        lr = learning_rate(step, progress, peak=args.lr, warmup=args.warmup)
        for group in optimizer.param_groups:
            group["lr"] = lr
        inputs, targets = random_windows(train_stream, gen, batch=BATCH, seq=SEQ)
        logits = model(inputs)  # (B, T, V)
        loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        step, tokens = step + 1, tokens + inputs.numel()
        cpu += time.process_time() - t0
        if step % args.eval_every == 0 or not (tokens < max_tokens and cpu < max_cpu):
            record(loss.item())
    return {"label": label, "model": args.model, "ablations": args.ablation, **sizes,
            "seed": args.seed, "lr": args.lr, "warmup": args.warmup, "batch": BATCH,
            "schedule_tokens": args.schedule_tokens, "seq_len": SEQ,
            "threads": torch.get_num_threads(), "decay_all": decay_all,
            "tokens_per_cpu_s": round(tokens / cpu, 1), "train_tokens": train_stream.numel(),
            "held_out_tokens": test_stream.numel(), "curve": curve}


def plot(paths: list[Path], out: Path) -> None:
    """Held-out perplexity against tokens (left) and process CPU-seconds (right), log y."""
    import matplotlib as mpl
    from matplotlib.figure import Figure

    fig = Figure(figsize=(13, 4.4), layout="constrained")
    by_tokens, by_cpu = fig.subplots(1, 2, sharey=True)
    colors = [f"C{i}" for i in range(10)] if len(paths) <= 10 else [
        mpl.colormaps["tab20"](i % 20) for i in range(len(paths))]
    for path, color in zip(paths, colors, strict=False):
        run = json.loads(path.read_text())
        points = [p for p in run["curve"] if p["step"] > 0]
        label = f"{run['label']} ({run['parameters'] / 1e6:.2f} M)"
        by_tokens.plot([p["tokens"] / 1e6 for p in points], [p["ppl"] for p in points],
                       label=label, color=color)
        by_cpu.plot([p["cpu_s"] for p in points], [p["ppl"] for p in points], color=color)
    by_tokens.set(xlabel="training tokens (M)", ylabel="held-out perplexity", yscale="log")
    by_cpu.set(xlabel="process CPU-seconds (1 thread)")
    for ax in (by_tokens, by_cpu):
        ax.grid(alpha=0.3, which="both")
    fig.legend(loc="outside right upper", fontsize=8)
    fig.suptitle("news/test.jsonl, 128-token blocks, no memory; same loop, data and seed")
    fig.savefig(out, dpi=110)
    print(f"wrote {out}")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", choices=("gpt", "ernie"), default="ernie")
    p.add_argument("--ablation", action="append", default=[], choices=sorted(ABLATIONS))
    p.add_argument("--tokens", type=int, default=None, help="stop after this many tokens")
    p.add_argument("--minutes", type=float, default=None,
                   help="stop after this many minutes of process CPU time (default 10)")
    p.add_argument("--schedule-tokens", type=int, default=None,
                   help="run the lr schedule of a run this long, stop at --tokens (screening)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--warmup", type=int, default=200)
    p.add_argument("--eval-every", type=int, default=50, help="steps between evaluations")
    p.add_argument("--data", type=Path, default=ROOT / "data" / "full",
                   help="a full data build (python -m ernie3_lite.data build --out data/full)")
    p.add_argument("--out", type=Path, default=None, help="results JSON")
    p.add_argument("--plot", type=Path, nargs="+", default=None, help="results JSONs to plot")
    p.add_argument("--plot-out", type=Path, default=Path("learning_speed.png"))
    p.add_argument("--quick", action="store_true", help="a few steps on data_samples (smoke)")
    p.add_argument("--list", action="store_true", help="print the ablations and exit")
    args = p.parse_args(argv)
    if args.list:
        for name, ab in ABLATIONS.items():
            print(f"{name:18s} [{'/'.join(ab.models)}] {ab.about}")
        return
    if args.plot:
        plot(args.plot, args.plot_out)
        return
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    torch.set_num_threads(args.threads)
    if args.quick:
        args.data, args.tokens, args.minutes = DATA_SAMPLES, 6 * BATCH * SEQ, None
        args.warmup, args.eval_every = 2, 3
    elif args.tokens is None and args.minutes is None:
        args.minutes = 10.0
    if not (args.data / "news" / "train.jsonl").exists():
        sys.exit(f"{args.data} has no news/train.jsonl: build it with "
                 "`python -m ernie3_lite.data build --out data/full`")
    result = train(args)
    print(f"{result['label']}: {result['tokens_per_cpu_s']:,.0f} tokens per CPU-second; final "
          f"held-out ppl {result['curve'][-1]['ppl']:.1f}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
