"""What Lightning adds per training step, against a plain PyTorch loop (performance_notes.md §5).

Both sides train the same `Ernie3PretrainModule` (the ``test`` preset, so that a step is short
and a per-step overhead shows) from the same initial weights on the same batches of all five
tasks, with the optimizer and LR scheduler of its own ``configure_optimizers``:

- raw: ``loss = module.training_step(batch, i); loss.backward(); optimizer.step();
  scheduler.step(); optimizer.zero_grad()`` (``self.log`` made a no-op: a raw loop has no
  logging machinery; what Lightning spends on the 11 logged values is part of its overhead);
- Lightning: ``Trainer.fit`` with the lean settings of §5 (no progress bar, logger,
  checkpointing or model summary; no validation). As shipped, the module logs its 10 per-task
  values and the total only on logging steps (``log_every_n_steps``, 50 by default).

Two more Lightning runs split its cost: every value logged on every step
(``log_every_n_steps=1``), and ``self.log`` switched off. Each side runs N1 and N2 steps; the
marginal cost (T(N2) - T(N1)) / (N2 - N1) leaves out the fixed cost of ``fit()`` (reported
separately).
Rounds interleave the sides so machine noise hits all alike; medians over ``--repeats``. The
losses of every side are asserted equal to the raw loop's. Target: overhead <= 1 ms/step.

    OMP_NUM_THREADS=1 python benchmarks/lightning_overhead.py [--quick] [--threads 1]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time
import warnings
from itertools import islice

import lightning as L
import torch
from attention_speed import cpu_name
from torch.utils.data import DataLoader, Dataset

from ernie3_lite.training import Ernie3DataModule, Ernie3PretrainModule
from ernie3_lite.training.quiet import quiet_lightning

TARGET_MS = 1.0


class Cycle(Dataset):
    """`length` batches: the `batches` over and over (batch 0 resets the DLM memory)."""

    def __init__(self, batches: list[dict], length: int):
        self.batches, self.length = batches, length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i: int) -> dict:
        return self.batches[i % len(self.batches)]


class Losses(L.Callback):
    def __init__(self) -> None:
        self.values: list[float] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.values.append(float(outputs["loss"]))


def raw_loop(module: Ernie3PretrainModule, batches: list[dict], steps: int) -> list[float]:
    module.log = lambda *args, **kwargs: None  # a plain loop has no logger to feed
    config = module.configure_optimizers()
    optimizer, scheduler = config["optimizer"], config["lr_scheduler"]["scheduler"]
    module.train()
    losses = []
    for i, batch in enumerate(DataLoader(Cycle(batches, steps), batch_size=None)):
        batch = module.on_before_batch_transfer(batch, 0)  # the module's hook: reset -> bool
        loss = module.training_step(batch, i)
        loss.backward()
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad()
        losses.append(float(loss.detach()))
    return losses


def lightning_fit(module: Ernie3PretrainModule, batches: list[dict], steps: int, *,
                  log_every: int = 50) -> list[float]:
    losses = Losses()
    trainer = L.Trainer(accelerator="cpu", devices=1, max_steps=steps, limit_val_batches=0,
                        num_sanity_val_steps=0, enable_progress_bar=False, logger=False,
                        enable_checkpointing=False, enable_model_summary=False,
                        callbacks=[losses], log_every_n_steps=log_every)
    trainer.fit(module, train_dataloaders=DataLoader(Cycle(batches, steps), batch_size=None))
    return losses.values


def lightning_logging_every_step(module: Ernie3PretrainModule, batches: list[dict],
                                 steps: int) -> list[float]:
    return lightning_fit(module, batches, steps, log_every=1)


def lightning_without_logging(module: Ernie3PretrainModule, batches: list[dict],
                              steps: int) -> list[float]:
    module.log = lambda *args, **kwargs: None
    return lightning_fit(module, batches, steps)


def timed(fn, module: Ernie3PretrainModule, batches: list[dict], steps: int):
    module = copy.deepcopy(module)
    start = time.perf_counter()
    losses = fn(module, batches, steps)
    return time.perf_counter() - start, losses


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, nargs=2, default=(50, 250), metavar=("N1", "N2"))
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--quick", action="store_true", help="smoke run: 5 and 15 steps, 1 repeat")
    args = p.parse_args(argv)
    n1, n2 = (5, 15) if args.quick else args.steps
    repeats = 1 if args.quick else args.repeats
    torch.set_num_threads(args.threads)
    quiet_lightning()
    warnings.filterwarnings("ignore", message=".*(does not have many workers|LeafSpec|"
                            "overridden `on_before_batch_transfer`|no `val_dataloader`).*")

    data = Ernie3DataModule(batch_size=4, max_len=32, dlm_batch_size=2, seg_len=16,
                            val_batches=1)
    data.setup("fit")
    batches = list(islice(iter(data.train_dataloader()), 16))  # built once, shared by both
    torch.manual_seed(0)
    module = Ernie3PretrainModule(preset="test", config_overrides={"max_seq_len": 32},
                                  vocab_size=data.vocab_size, lr=1e-3, warmup_steps=10,
                                  max_steps=10 * n2)
    print(f"Lightning overhead, {cpu_name()}, {args.threads} thread(s), torch "
          f"{torch.__version__}, lightning {L.__version__}")
    print(f"  model: `test` preset ({sum(p.numel() for p in module.parameters()):,} "
          f"parameters), every step 4 NLU micro-batches of 4 x <=32 + DLM 2 x 16")

    variants = {"raw": raw_loop, "lightning (as shipped)": lightning_fit,
                "lightning, all values every step": lightning_logging_every_step,
                "lightning, self.log off": lightning_without_logging}
    times: dict[tuple[str, int], list[float]] = {}
    losses: dict[str, list[float]] = {}
    for _ in range(repeats):
        for steps in (n1, n2):
            for name, fn in variants.items():
                seconds, values = timed(fn, module, batches, steps)
                times.setdefault((name, steps), []).append(seconds)
                losses[name] = values
    median = {key: statistics.median(values) for key, values in times.items()}
    marginal = {name: 1000 * (median[(name, n2)] - median[(name, n1)]) / (n2 - n1)
                for name in variants}
    print(f"  {'':<38} {f'{n1} steps':>9} {f'{n2} steps':>9} {'ms/step':>8} {'overhead':>9}")
    for name in variants:
        line = (f"  {name:<38} {median[(name, n1)]:>8.3f}s {median[(name, n2)]:>8.3f}s "
                f"{marginal[name]:>8.2f}")
        if name != "raw":
            overhead = marginal[name] - marginal["raw"]
            verdict = "PASS" if overhead <= TARGET_MS else "NOT MET"
            line += f" {overhead:>+8.2f}  {verdict}"
        print(line)
    fixed = {name: median[(name, n1)] - n1 * marginal[name] / 1000 for name in variants}
    print(f"  fixed cost per run (intercept): raw {fixed['raw']:.2f} s, lightning fit() "
          f"{fixed['lightning (as shipped)']:.2f} s")
    for name in variants:
        diff = max(abs(a - b) for a, b in zip(losses["raw"], losses[name], strict=True))
        assert diff <= 1e-6, f"{name}: losses differ by {diff} from the raw loop's"
    print(f"  losses of the {n2}-step runs: identical on every side")
    print(f"target: overhead <= {TARGET_MS:.0f} ms/step (as shipped the module logs the total "
          "and 10 per-task values every 50th step; ProgressiveLearning, not used here, "
          "logs 5 more on the same steps)")


if __name__ == "__main__":
    main()
