"""Training tokens/s of ERNIE 3.0 pre-training on the CPU: bf16 autocast vs fp32, per task.

One pre-training step (ERNIE 3.0 arXiv 2107.02137 §3.2) is five forward + backward passes, one
per task, then one AdamW update. For the `nano` and `small` presets, on real batches of
data_samples/ at the sizes of configs/pretrain_nano.yaml, this times

- each task alone (its loss, backward), fp32 and ``torch.autocast("cpu", torch.bfloat16)``
  (what ``Trainer(precision="bf16-mixed")`` does): tokens/s per task;
- the whole step (all five tasks + the optimizer step) in both precisions: the bf16 / fp32
  ratio, against the >= 1.8x that performance_notes.md §5 measured for a plain GPT.

Tokens are the real (non-padding) input tokens. Rounds interleave fp32 and bf16 (machine noise
hits both alike); each number is the median of ``--iters`` timed rounds after one warm-up.

    OMP_NUM_THREADS=1 python benchmarks/precision.py [--quick] [--threads 1] [--presets nano,small]
"""

from __future__ import annotations

import argparse
import statistics
import time
from contextlib import nullcontext
from itertools import islice

import torch
from attention_speed import cpu_name

from ernie3_lite.training import TASKS, Ernie3DataModule, Ernie3PretrainModule
from ernie3_lite.training.quiet import quiet_lightning

TARGET_RATIO = 1.8
#: NLU micro-batch rows, NLU length, DLM rows, DLM segment length (configs/pretrain_nano.yaml)
SIZES = {"nano": (8, 128, 4, 64), "small": (8, 128, 4, 64)}
QUICK_SIZES = (2, 32, 2, 16)


def real_tokens(micro_batch: dict) -> int:
    mask = micro_batch.get("attention_mask")
    return int(mask.sum()) if mask is not None else micro_batch["input_ids"].numel()


def step_seconds(module: Ernie3PretrainModule, optimizer, batch: dict, *, tasks: tuple[str, ...],
                 bf16: bool) -> float:
    """One forward + backward of `tasks` (and an optimizer step if all five), in seconds."""
    autocast = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else nullcontext()
    start = time.perf_counter()
    with autocast:
        results = module.task_losses({t: batch[t] for t in tasks}, stage="train")
        loss = sum(module.task_weights[t] * results[t][0] for t in tasks)
    loss.backward()
    if len(tasks) == len(TASKS):
        optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return time.perf_counter() - start


def measure(preset: str, *, sizes: tuple[int, int, int, int], iters: int) -> None:
    rows, length, dlm_rows, seg_len = sizes
    data = Ernie3DataModule(batch_size=rows, max_len=length, dlm_batch_size=dlm_rows,
                            seg_len=seg_len, max_segments=5, val_batches=1)
    data.setup("fit")
    batch = next(islice(iter(data.train_dataloader()), 1, None))  # not the reset segment
    batch = {**batch, "dlm": {**batch["dlm"], "reset": True}}  # every round starts fresh
    torch.manual_seed(0)
    module = Ernie3PretrainModule(preset=preset, vocab_size=data.vocab_size, sr_max_segments=5,
                                  warmup_steps=1, max_steps=10)
    module.train()
    optimizer = torch.optim.AdamW(module.parameters(), lr=1e-5)
    params = sum(p.numel() for p in module.parameters()) / 1e6
    print(f"\n{preset} ({params:.1f}M parameters): NLU {rows} x <={length}, DLM {dlm_rows} x "
          f"{seg_len}")
    print(f"  {'':>6} {'tokens':>7} {'fp32 tok/s':>11} {'bf16 tok/s':>11} {'bf16/fp32':>10}")
    for tasks, label in [((t,), t) for t in TASKS] + [(TASKS, "step")]:
        tokens = sum(real_tokens(batch[t]) for t in tasks)
        seconds = {False: [], True: []}
        for round_ in range(iters + 1):
            for bf16 in (False, True):
                took = step_seconds(module, optimizer, batch, tasks=tasks, bf16=bf16)
                if round_:  # round 0 warms up (allocator, oneDNN primitives)
                    seconds[bf16].append(took)
        fp32, bf16 = (tokens / statistics.median(seconds[b]) for b in (False, True))
        line = f"  {label:>6} {tokens:>7} {fp32:>11,.0f} {bf16:>11,.0f} {bf16 / fp32:>9.2f}x"
        if label == "step":
            verdict = "PASS" if bf16 / fp32 >= TARGET_RATIO else "NOT MET"
            line += f"  (target >= {TARGET_RATIO}x: {verdict})"
        print(line)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--presets", default="nano,small")
    p.add_argument("--iters", type=int, default=3)
    p.add_argument("--threads", type=int, default=torch.get_num_threads())
    p.add_argument("--quick", action="store_true", help="smoke run: tiny batches, 1 round")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    quiet_lightning()
    print(f"bf16 autocast vs fp32 training throughput, {cpu_name()}, {args.threads} thread(s), "
          f"torch {torch.__version__}")
    for preset in args.presets.split(","):
        measure(preset, sizes=QUICK_SIZES if args.quick else SIZES[preset],
                iters=1 if args.quick else args.iters)


if __name__ == "__main__":
    main()
