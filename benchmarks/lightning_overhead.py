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

Three more Lightning runs split its cost: every value logged on every step
(``log_every_n_steps=1``), ``self.log`` switched off, and ``Trainer(barebones=True)`` (Lightning's
own minimal-overhead mode, which forbids ``self.log``).

Method: every side timestamps the end of each step (a callback in Lightning, the loop body in
the raw loop), so a step's time is the interval between two ends: everything the loop does
between two optimizer steps, data loading and hooks included, ``fit()``'s set-up left out.
Per-step *medians* ignore the scheduler hiccups that made whole-run totals useless at this
scale (an earlier version timed T(250) - T(50) and moved by 2 ms from run to run). Steps that
log cost more, and a median would hide them, so their extra time over the median, summed and
spread over all steps, is added back ("logging surcharge"). Runs interleave the sides and are
repeated; the overhead is the median over repeats of (Lightning - raw), with the range. The
losses of every side are asserted equal to the raw loop's. Target: overhead <= 1 ms/step.

    OMP_NUM_THREADS=1 python benchmarks/lightning_overhead.py [--quick] [--threads 1]
"""

from __future__ import annotations

import argparse
import copy
import os
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
LOG_EVERY = 50  # Lightning's default log_every_n_steps


class Cycle(Dataset):
    """`length` batches: the `batches` over and over (batch 0 resets the DLM memory)."""

    def __init__(self, batches: list[dict], length: int):
        self.batches, self.length = batches, length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i: int) -> dict:
        return self.batches[i % len(self.batches)]


class StepClock(L.Callback):
    """Per training step: the loss, when the step ended, and how long its *work* took.

    Work = the module's ``training_step`` (minus its ``self.log`` calls) + ``backward`` + the
    optimizer's update: the same operations on both sides. The rest of a step's interval
    (data loading, hooks, logging, the loop itself) is the loop's overhead. The two are taken
    from the same step, so a machine that speeds up or slows down between runs (it did: see
    benchmarks/README.md) moves the work, not the difference of the overheads.
    """

    def __init__(self) -> None:
        self.losses: list[float] = []
        self.ends: list[float] = []
        self.work: list[float] = []
        self._work = 0.0
        self._backward_start = self._backward_end = self._update_start = 0.0

    def add_work(self, seconds: float) -> None:
        self._work += seconds

    def end_step(self, loss: float) -> None:
        self.losses.append(loss)
        self.ends.append(time.perf_counter())
        self.work.append(self._work)
        self._work = 0.0

    def instrument(self, module: Ernie3PretrainModule, *, log_off: bool) -> None:
        """Time ``training_step`` less its ``self.log`` calls; mark Lightning's hooks around
        backward and before the optimizer's update (what lies between them is Lightning's)."""
        step, log = module.training_step, module.log
        logging = [0.0]

        def timed_log(*args, **kwargs) -> None:
            if log_off:  # a plain loop has no logger to feed
                return
            start = time.perf_counter()
            log(*args, **kwargs)
            logging[0] += time.perf_counter() - start

        def timed_step(*args, **kwargs):
            logging[0], start = 0.0, time.perf_counter()
            out = step(*args, **kwargs)
            self.add_work(time.perf_counter() - start - logging[0])
            return out

        module.log, module.training_step = timed_log, timed_step
        module.on_before_backward = lambda loss: setattr(self, "_backward_start",
                                                         time.perf_counter())
        module.on_after_backward = lambda: setattr(self, "_backward_end", time.perf_counter())
        module.on_before_optimizer_step = lambda optimizer: setattr(self, "_update_start",
                                                                    time.perf_counter())

    def on_train_start(self, trainer, pl_module) -> None:
        trainer.optimizers[0].register_step_post_hook(self._after_update)

    def _after_update(self, optimizer, args, kwargs) -> None:
        # Lightning steps the optimizer with a closure that runs training_step and backward
        # first; work = backward (between its two hooks) + the update (after the last hook)
        now = time.perf_counter()
        self.add_work((self._backward_end - self._backward_start) + (now - self._update_start))

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.end_step(float(outputs["loss"]))


def raw_loop(module: Ernie3PretrainModule, batches: list[dict], steps: int) -> StepClock:
    clock = StepClock()
    clock.instrument(module, log_off=True)
    config = module.configure_optimizers()
    optimizer, scheduler = config["optimizer"], config["lr_scheduler"]["scheduler"]
    module.train()
    for i, batch in enumerate(DataLoader(Cycle(batches, steps), batch_size=None)):
        batch = module.on_before_batch_transfer(batch, 0)  # the module's hook: reset -> bool
        loss = module.training_step(batch, i)
        start = time.perf_counter()
        loss.backward()
        optimizer.step()
        clock.add_work(time.perf_counter() - start)
        scheduler.step()
        optimizer.zero_grad()
        clock.end_step(float(loss.detach()))
    return clock


def lightning_fit(module: Ernie3PretrainModule, batches: list[dict], steps: int, *,
                  log_every: int = LOG_EVERY, log_off: bool = False,
                  barebones: bool = False) -> StepClock:
    clock = StepClock()
    clock.instrument(module, log_off=log_off or barebones)
    lean = ({"barebones": True} if barebones else  # barebones turns all of these off itself
            {"enable_progress_bar": False, "logger": False, "enable_checkpointing": False,
             "enable_model_summary": False, "log_every_n_steps": log_every})
    trainer = L.Trainer(accelerator="cpu", devices=1, max_steps=steps, limit_val_batches=0,
                        num_sanity_val_steps=0, callbacks=[clock], **lean)
    trainer.fit(module, train_dataloaders=DataLoader(Cycle(batches, steps), batch_size=None))
    return clock


def lightning_logging_every_step(module: Ernie3PretrainModule, batches: list[dict],
                                 steps: int) -> StepClock:
    return lightning_fit(module, batches, steps, log_every=1)


def lightning_without_logging(module: Ernie3PretrainModule, batches: list[dict],
                              steps: int) -> StepClock:
    return lightning_fit(module, batches, steps, log_off=True)


def lightning_barebones(module: Ernie3PretrainModule, batches: list[dict],
                        steps: int) -> StepClock:
    return lightning_fit(module, batches, steps, barebones=True)  # forbids self.log


def per_step_ms(clock: StepClock, *, skip: int, log_every: int) -> dict[str, float]:
    """Medians over the steps after ``skip`` (warm-up), in ms: the interval between step ends,
    its work, and the rest ("other"), plus the logging surcharge.

    Logging happens on few steps, which a median hides: the module calls ``self.log`` on step n
    when n % log_every == 0 (`is_logging_step`, n = optimizer steps done before it), and
    Lightning's logger connector updates when (n+1) % log_every == 0. What the "other" of those
    steps takes beyond the median, summed and spread over all steps, is the surcharge (0 for the
    raw loop, which never logs).
    """
    steps = range(max(skip, 1), len(clock.ends))  # step n: from the end of n-1 to the end of n
    interval = {n: 1000 * (clock.ends[n] - clock.ends[n - 1]) for n in steps}
    other = {n: interval[n] - 1000 * clock.work[n] for n in steps}
    median_other = statistics.median(other.values())
    logging = [other[n] - median_other for n in steps
               if log_every and (n % log_every == 0 or (n + 1) % log_every == 0)]
    return {"interval": statistics.median(interval.values()),
            "work": statistics.median(1000 * clock.work[n] for n in steps),
            "other": median_other, "surcharge": sum(logging) / len(steps)}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=200, help="steps per run")
    p.add_argument("--skip", type=int, default=20, help="warm-up steps left out of the medians")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--quick", action="store_true", help="smoke run: 15 steps, 1 repeat")
    args = p.parse_args(argv)
    steps, skip = (15, 2) if args.quick else (args.steps, args.skip)
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
                                  max_steps=10 * steps)
    print(f"Lightning overhead, {cpu_name()}, {args.threads} thread(s), torch "
          f"{torch.__version__}, lightning {L.__version__}, load average "
          + ", ".join(f"{x:.2f}" for x in os.getloadavg()))
    print(f"  model: `test` preset ({sum(p.numel() for p in module.parameters()):,} "
          f"parameters), every step 4 NLU micro-batches of 4 x <=32 + DLM 2 x 16; {repeats} "
          f"interleaved repeats of {steps} steps per side, medians of steps {skip + 1}..")

    variants = {"raw": (raw_loop, 0), "lightning (as shipped)": (lightning_fit, LOG_EVERY),
                "lightning, all values every step": (lightning_logging_every_step, 1),
                "lightning, self.log off": (lightning_without_logging, LOG_EVERY),
                "lightning barebones=True": (lightning_barebones, 0)}
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in variants}
    losses: dict[str, list[float]] = {}
    for _ in range(repeats):
        for name, (fn, log_every) in variants.items():
            clock = fn(copy.deepcopy(module), batches, steps)
            runs[name].append(per_step_ms(clock, skip=skip, log_every=log_every))
            losses[name] = clock.losses

    def cost(run: dict[str, float]) -> float:  # the loop's own ms per step
        return run["other"] + run["surcharge"]

    print(f"  ms/step (median over repeats)  {'step':>7} {'work':>7} {'other':>7} {'+logging':>8}"
          f" {'overhead vs raw (range)':>26}")
    for name in variants:
        values = {key: statistics.median(run[key] for run in runs[name]) for key in runs[name][0]}
        line = (f"  {name:<32} {values['interval']:>6.2f} {values['work']:>7.2f} "
                f"{values['other']:>7.2f} {values['surcharge']:>+8.2f}")
        if name != "raw":
            diffs = [cost(a) - cost(b) for a, b in zip(runs[name], runs["raw"], strict=True)]
            overhead = statistics.median(diffs)
            verdict = "PASS" if overhead <= TARGET_MS else "NOT MET"
            line += f"   {overhead:>+6.2f} ({min(diffs):+.2f}..{max(diffs):+.2f})  {verdict}"
        print(line)
    for name in variants:
        diff = max(abs(a - b) for a, b in zip(losses["raw"], losses[name], strict=True))
        assert diff <= 1e-6, f"{name}: losses differ by {diff} from the raw loop's"
    print(f"  losses of the {steps}-step runs: identical on every side")
    print(f"target: overhead <= {TARGET_MS:.0f} ms/step (as shipped the module logs the total "
          f"and 10 per-task values every {LOG_EVERY}th step; ProgressiveLearning, not used here, "
          "logs 5 more on the same steps)")


if __name__ == "__main__":
    main()
