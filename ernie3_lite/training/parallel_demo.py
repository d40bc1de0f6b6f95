"""A few CPU steps of pre-training under each parallel strategy (gloo), for tests and notebook 08.

    python -m ernie3_lite.training.parallel_demo --demo fsdp2 --out runs/fsdp2

trains the ``test`` preset for a few steps under one strategy (`training.parallel`: DDP, FSDP2,
tensor parallel, both) and writes each rank's losses, parameter counts and the final full
weights, so that tests can compare FSDP2 with DDP and tensor parallel with one process (ERNIE 3.0
arXiv 2107.02137 §3.3.3 shards its 10B model; ERNIE 3.0 Titan arXiv 2112.12731 adds tensor
parallel). A script module, not a library one: the library's `parallel` never imports training.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

import lightning as L
import torch

from ernie3_lite.training.datamodule import Ernie3DataModule
from ernie3_lite.training.module import Ernie3PretrainModule
from ernie3_lite.training.parallel import full_state_dict
from ernie3_lite.training.quiet import quiet_lightning
from ernie3_lite.training.resume import resolve_resume

DEMOS = ("single", "ddp", "fsdp2", "tp", "tp4", "fsdp2_tp")


class _RecordLosses(L.Callback):
    """Each rank's training losses, parameter counts and the names of the parameters it holds
    only part of, and the full weights at the end."""

    def __init__(self, out: Path):
        self.out, self.losses = out, []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.losses.append(float(outputs["loss"]))

    def on_train_end(self, trainer, pl_module) -> None:
        from torch.distributed.tensor import DTensor

        weights = full_state_dict(pl_module)  # every rank takes part in the all-gathers
        local = {name: (p.to_local() if isinstance(p, DTensor) else p).numel()
                 for name, p in pl_module.named_parameters()}
        record = {"losses": self.losses, "local_numel": sum(local.values()),
                  "full_numel": sum(t.numel() for t in weights.values()),
                  "split": sorted(name for name, p in pl_module.named_parameters()
                                  if local[name] < p.numel())}
        rank = trainer.global_rank
        (self.out / f"rank{rank}.json").write_text(json.dumps(record))
        if rank == 0:
            torch.save(weights, self.out / "weights.pt")


def demo_strategy(name: str) -> tuple[Any, int]:
    """(Trainer strategy, devices) of a demo."""
    from lightning.pytorch.strategies import DDPStrategy, ModelParallelStrategy

    if name == "single":
        return "auto", 1
    if name == "ddp":
        return DDPStrategy(process_group_backend="gloo"), 2
    if name == "fsdp2":
        return ModelParallelStrategy(data_parallel_size=2, tensor_parallel_size=1), 2
    if name == "tp":
        return ModelParallelStrategy(data_parallel_size=1, tensor_parallel_size=2), 2
    if name == "tp4":  # one head of the test preset's four per rank
        return ModelParallelStrategy(data_parallel_size=1, tensor_parallel_size=4), 4
    if name == "fsdp2_tp":
        return ModelParallelStrategy(data_parallel_size=2, tensor_parallel_size=2), 4
    raise ValueError(f"demo={name!r} must be one of {DEMOS}")


def run_demo(name: str, *, out: Path, steps: int = 4, resume_at: int | None = None,
             resume_from: Path | None = None, seed: int = 0) -> None:
    """Train `steps` steps of the ``test`` preset under strategy `name`; results into `out`.

    resume_at: stop after that many steps, save a checkpoint, and finish the run from it in a
    new Trainer (under ModelParallelStrategy the checkpoint is a folder of shards).
    resume_from: finish a run from the checkpoint another demo saved (its ``last.ckpt``),
    e.g. one with another number of tensor-parallel ranks.
    """
    quiet_lightning()
    # gathering the full weights of a 2-D (FSDP2 x TP) run takes two all-gathers per tensor,
    # which torch reports at WARNING level; it is a one-off at the end
    logging.getLogger("torch.distributed.tensor._redistribute").setLevel(logging.ERROR)
    out.mkdir(parents=True, exist_ok=True)
    L.seed_everything(seed, verbose=False)
    data = Ernie3DataModule(batch_size=2, max_len=16, dlm_batch_size=2, seg_len=8,
                             val_batches=1, seed=seed)
    sizes = dict(vocab_size=data.vocab_size, sr_max_segments=data.max_segments)
    module = Ernie3PretrainModule(preset="test", lr=3e-3, warmup_steps=1, max_steps=steps,
                                  **sizes)
    recorder = _RecordLosses(out)
    ckpt_path = resume_from
    if resume_at is not None:
        first = _demo_trainer(name, out=out, steps=resume_at, callbacks=[])
        first.fit(module, datamodule=data)
        ckpt_path = out / f"step{resume_at}.ckpt"
        first.save_checkpoint(ckpt_path)
        module = Ernie3PretrainModule(preset="test", lr=3e-3, warmup_steps=1, max_steps=steps,
                                      **sizes)
    trainer = _demo_trainer(name, out=out, steps=steps, callbacks=[recorder])
    # a folder of shards is verified before DCP unpickles its .metadata on every rank
    trainer.fit(module, datamodule=data, ckpt_path=resolve_resume(ckpt_path), weights_only=True)
    trainer.save_checkpoint(out / "last.ckpt")  # a folder of shards under ModelParallelStrategy


def _demo_trainer(name: str, *, out: Path, steps: int, callbacks: list) -> L.Trainer:
    strategy, devices = demo_strategy(name)
    return L.Trainer(accelerator="cpu", devices=devices, strategy=strategy, max_steps=steps,
                     limit_val_batches=0, logger=False, enable_checkpointing=False,
                     enable_progress_bar=False, enable_model_summary=False,
                     callbacks=callbacks, default_root_dir=out)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="A few CPU steps under one parallel strategy.")
    parser.add_argument("--demo", choices=DEMOS, required=True)
    parser.add_argument("--out", type=Path, required=True, help="folder for losses and weights")
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--resume-at", type=int, help="checkpoint after this many steps and "
                        "finish from the checkpoint in a new Trainer")
    parser.add_argument("--resume-from", type=Path, help="finish from another demo's last.ckpt")
    args = parser.parse_args(argv)
    run_demo(args.demo, out=args.out, steps=args.steps, resume_at=args.resume_at,
             resume_from=args.resume_from)


if __name__ == "__main__":
    main()
