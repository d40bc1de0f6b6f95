"""The prepared GPU check of issue #4: a few hundred pre-training steps, tokens/s and MFU.

It trains through the same path a user takes (`ernie3_lite.cli` on a YAML config, all five
tasks, bf16-mixed and SDPA attention in ``configs/pretrain_small.yaml``), with progressive
learning off so that every step has the full shapes, and measures:

* positions/s: the input positions of all five tasks' micro-batches per step (padding
  included), over the steps after ``--warmup``, with the device synchronised at every step end;
* FLOPs per step: counted by ``torch.utils.flop_counter.FlopCounterMode`` over one real training
  step (forward and backward; matmuls and attention, which is what MFU counts);
* MFU = achieved FLOP/s / the card's dense bf16 peak (a table of common cards below, or
  ``--peak-tflops``). Peak figures are the vendors' datasheet numbers without sparsity.

On a GPU (one run, a few minutes; data/full is used if it was built, else data_samples)::

    python benchmarks/gpu_check.py                                  # small, 300 steps
    python benchmarks/gpu_check.py --compile                        # + torch.compile per layer

``--quick`` runs the same code on the CPU with the ``test`` config for a few steps (the smoke
test in tests/test_benchmarks.py); its numbers mean nothing.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import lightning as L
import torch
from torch.utils.flop_counter import FlopCounterMode

from ernie3_lite.cli import cli_main

ROOT = Path(__file__).resolve().parents[1]
#: dense bf16 tensor-core peaks, TFLOP/s (datasheets, no sparsity); matched in the device name
PEAK_BF16_TFLOPS = {"H200": 989.0, "H100 PCIe": 756.0, "H100": 989.0, "A100": 312.0,
                    "L40S": 362.0, "L4": 121.0, "A10": 125.0, "V100": 125.0, "RTX 4090": 165.0}


class ThroughputClock(L.Callback):
    """Step end times (device synchronised), positions per step, and the FLOPs of one step."""

    def __init__(self, *, count_flops_at: int) -> None:
        self.count_flops_at = count_flops_at
        self.ends: list[float] = []
        self.positions: list[int] = []
        self.flops = 0
        self._counter: FlopCounterMode | None = None

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        # shapes only: no device sync; padding positions count too
        self.positions.append(sum(task["input_ids"].numel() for task in batch.values()))
        if trainer.global_step == self.count_flops_at:
            self._counter = FlopCounterMode(display=False)
            self._counter.__enter__()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self._counter is not None:  # training_step, backward and the update have run
            self._counter.__exit__(None, None, None)
            self.flops, self._counter = self._counter.get_total_flops(), None
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        self.ends.append(time.perf_counter())


def peak_tflops(device_name: str, override: float | None) -> float | None:
    if override is not None:
        return override
    for key, value in PEAK_BF16_TFLOPS.items():  # longer keys first where they overlap
        if key in device_name:
            return value
    return None


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", default="configs/pretrain_small.yaml")
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--warmup", type=int, default=50, help="steps left out of the timing")
    p.add_argument("--compile", action="store_true", help="torch.compile each layer")
    p.add_argument("--peak-tflops", type=float, help="the card's dense bf16 peak")
    p.add_argument("--accelerator", help="override the config's (e.g. cpu, to try the path)")
    p.add_argument("--out", type=Path, help="write the figures as JSON here")
    p.add_argument("--quick", action="store_true",
                   help="CPU smoke run: the test config, 8 steps")
    args = p.parse_args(argv)
    if args.quick:
        args.config, args.steps, args.warmup = "configs/pretrain_test.yaml", 8, 3
        args.accelerator = "cpu"
    data_dir = ROOT / "data" / "full"
    data_dir = data_dir if data_dir.is_dir() and not args.quick else ROOT / "data_samples"
    run_dir = Path(tempfile.mkdtemp(prefix="ernie3_gpu_check_"))
    overrides = [f"--trainer.max_steps={args.steps}", "--trainer.limit_val_batches=0",
                 "--trainer.num_sanity_val_steps=0", "--trainer.logger=false",
                 "--trainer.enable_progress_bar=false", "--trainer.enable_model_summary=false",
                 f"--trainer.default_root_dir={run_dir}",
                 "--progressive.warmup_steps=0",  # full shapes from the first step
                 # the LR warm-up must end within the run (the config checks it); the rate
                 # does not change the speed
                 f"--model.warmup_steps={max(1, min(args.warmup, args.steps - 1))}",
                 f"--checkpoint.every_n_train_steps={args.steps}", f"--data.data_dir={data_dir}"]
    if args.accelerator:
        overrides.append(f"--trainer.accelerator={args.accelerator}")
    if args.compile:
        overrides.append("--compile=true")
    cli = cli_main(["--config", str(ROOT / args.config), *overrides], run=False)
    clock = ThroughputClock(count_flops_at=max(args.warmup - 1, 0))
    cli.trainer.callbacks.append(clock)
    cli.trainer.fit(cli.model, datamodule=cli.datamodule)

    first = args.warmup  # step n ends at ends[n]; time steps warmup+1 .. end
    seconds = clock.ends[-1] - clock.ends[first]
    positions = sum(clock.positions[first + 1:])
    steps = len(clock.ends) - 1 - first
    step_ms = statistics.median(1000 * (b - a) for a, b in zip(clock.ends[first:],
                                                                 clock.ends[first + 1:]))
    on_gpu = torch.cuda.is_available() and cli.trainer.strategy.root_device.type == "cuda"
    device = torch.cuda.get_device_name() if on_gpu else "CPU"
    flops_per_step = clock.flops
    achieved = flops_per_step * steps / seconds  # FLOP/s, if every step does what step n did
    peak = peak_tflops(device, args.peak_tflops)
    result = {
        "device": device, "config": args.config, "precision": str(cli.trainer.precision),
        "compile": args.compile, "data": data_dir.name,
        "parameters": sum(p.numel() for p in cli.model.parameters()),
        "timed_steps": steps, "median_step_ms": round(step_ms, 2),
        "positions_per_step": round(positions / steps, 1),
        "positions_per_s": round(positions / seconds, 1),
        "flops_per_step": flops_per_step, "achieved_tflops": achieved / 1e12,
        "peak_bf16_tflops": peak,
        "mfu": None if peak is None else achieved / (peak * 1e12),
        "max_memory_gib": (round(torch.cuda.max_memory_allocated() / 2**30, 2)
                           if on_gpu else None),
        "torch": torch.__version__, "lightning": L.__version__,
    }
    print(f"GPU check on {device}: {args.config}, {result['parameters']:,} parameters, "
          f"{result['precision']}, compile={args.compile}, data {data_dir.name}")
    print(f"  {steps} timed steps after {args.warmup}: median {step_ms:.1f} ms/step, "
          f"{result['positions_per_step']:.0f} positions/step (all five tasks, padding included)")
    print(f"  throughput: {result['positions_per_s']:,.0f} positions/s")
    print(f"  FLOPs/step (FlopCounterMode, fwd+bwd): {flops_per_step / 1e9:.2f} G -> "
          f"{result['achieved_tflops']:.3f} TFLOP/s achieved")
    if peak is None:
        print("  MFU: no peak known for this device (pass --peak-tflops)")
    else:
        print(f"  MFU: {100 * result['mfu']:.1f} % of {peak:.0f} TFLOP/s dense bf16")
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
