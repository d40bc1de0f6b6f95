"""Sharded data parallel (FSDP2) and tensor parallel (TP) for ERNIE 3.0 pre-training.

ERNIE 3.0 (arXiv 2107.02137 §3.3.3) fits its 10B model on 384 V100s with "parameter sharding"
(ZeRO); ERNIE 3.0 Titan (arXiv 2112.12731) names the full recipe, 4D hybrid parallelism: data
parallel, intra-layer tensor parallel, inter-layer pipeline parallel and sharded data parallel.
Lightning's `ModelParallelStrategy` gives sharding and tensor parallel on one device mesh
(``data_parallel`` x ``tensor_parallel``); `Ernie3PretrainModule.configure_model` calls
`parallelize` with that mesh:

* tensor parallel (`tensor_parallel.py`): Megatron-style, inside every layer, attention split
  by heads and each feed-forward network by hidden units, one all-reduce after each;
* sharding (FSDP2, ``fully_shard``) over the data-parallel ranks: each Transformer-XL layer is
  one unit whose parameters, gradients and optimizer state are split over the ranks and
  all-gathered just for its forward and backward; the root unit holds the rest (embeddings,
  heads, u/v, norms). With both, the TP-split weights are sharded again on the 2-D mesh.

`freeze_unreached` is for plain DDP too: a task with weight 0 leaves modules without gradients.
Everything runs on CPU with gloo (``strategy="fsdp"`` refuses CPU; FSDP2 through this strategy
does not). ``python -m ernie3_lite.training.parallel --demo NAME --out DIR`` trains a few steps
of the ``test`` preset under one strategy and writes each rank's losses and the final full
weights, so that tests can compare FSDP2 with DDP and TP with one process.
"""

from __future__ import annotations

import argparse
import json
import logging
import warnings
from pathlib import Path
from typing import Any

import lightning as L
import torch
from torch import nn
from torch.distributed.device_mesh import DeviceMesh

from ernie3_lite.model.pretrained import fuse_split_projections
from ernie3_lite.training.datamodule import Ernie3DataModule
from ernie3_lite.training.resume import resolve_resume
from ernie3_lite.training.tensor_parallel import shard_layers, transformer_layers

#: `Ernie3Model` methods the training step calls instead of ``forward``; FSDP2 must run its
#: all-gather / reduce-scatter hooks around each of them, not only around ``forward``
FSDP_FORWARD_METHODS = ("forward_nlu", "forward_nlg", "mlm_logits", "lm_logits",
                        "sentence_reorder_logits", "sentence_distance_logits")


#: the `Ernie3Model` modules that only some tasks' losses reach (`module.py`, task_losses);
#: every task reaches the embeddings and the universal stack
TASK_MODULES = {
    "kmlm": ("nlu_proj", "nlu", "mlm_head"),
    "uktp": ("nlu_proj", "nlu", "mlm_head"),
    "sr": ("nlu_proj", "nlu", "sentence_reorder_head"),
    "sd": ("nlu_proj", "nlu", "sentence_distance_head"),
    "dlm": ("nlg_proj", "nlg", "lm_head"),
}


def task_modules(model: nn.Module) -> dict[str, tuple[str, ...]]:
    """`TASK_MODULES` of `model`: with ``config.share_task_modules`` (an ablation) the document
    LM runs the NLU projection and stack, and the model has no `nlg_proj` / `nlg`."""
    config = getattr(model, "config", None)
    if not getattr(config, "share_task_modules", False):
        return dict(TASK_MODULES)
    shared = {"nlg_proj": "nlu_proj", "nlg": "nlu"}
    return {task: tuple(shared.get(n, n) for n in names) for task, names in TASK_MODULES.items()}


def freeze_unreached(model: nn.Module, task_weights: dict[str, float]) -> list[str]:
    """Stop training the modules that no task with a positive weight reaches; returns them.

    DDP all-reduces every trainable parameter each step and fails when one got no gradient
    (a task with weight 0 is absent from the batch, so its head is not in the graph). Its
    weight says it should not be trained, so it is frozen, and DDP and the optimizer skip it;
    ``find_unused_parameters=True`` would instead search the graph for unused ones every step.
    """
    modules = task_modules(model)
    reached = {name for task, weight in task_weights.items() if weight > 0
               for name in modules[task]}
    frozen = sorted({name for names in modules.values() for name in names} - reached)
    for name in frozen:
        getattr(model, name).requires_grad_(False)
    return frozen


def data_parallel_coordinates(trainer: L.Trainer) -> tuple[int, int]:
    """(rank, size) of this process among the replicas that read different data.

    DDP: the global rank and world size. ModelParallelStrategy: the position on the
    ``data_parallel`` mesh dimension, so the ranks of one tensor-parallel group share batches.
    """
    kwargs = getattr(trainer.strategy, "distributed_sampler_kwargs", None) or {}
    rank = kwargs.get("rank", trainer.global_rank)
    return int(rank), int(kwargs.get("num_replicas", trainer.world_size))


def is_parallelized(model: nn.Module) -> bool:
    from torch.distributed.tensor import DTensor

    return any(isinstance(p, DTensor) for p in model.parameters())


def parallelize(model: nn.Module, mesh: DeviceMesh) -> nn.Module:
    """TP over ``mesh["tensor_parallel"]``, then FSDP2 over ``mesh["data_parallel"]`` (either
    or both, by the sizes; TP first, as FSDP2 then shards the TP shards).

    `model` is an `Ernie3Model`; it is changed in place (and returned). A second call is a no-op:
    Lightning calls ``configure_model`` again for every ``validate`` / ``test`` after ``fit``.
    """
    if is_parallelized(model):
        return model
    tp_mesh, dp_mesh = mesh["tensor_parallel"], mesh["data_parallel"]
    if tp_mesh.size() > 1:
        shard_layers(model, tp_mesh)
    if dp_mesh.size() > 1:
        shard_parameters(model, dp_mesh)
    return model


def shard_parameters(model: nn.Module, dp_mesh: DeviceMesh) -> None:
    """FSDP2: one unit per Transformer-XL layer, the root unit for everything else.

    The tied LM heads read ``embeddings.word.weight`` directly, so the embeddings must stay in
    the root unit (a unit of their own would hand the heads a sharded weight). The training
    step calls ``forward_nlu`` etc., not ``forward``: those are registered as forward methods.
    """
    from torch.distributed.fsdp import fully_shard, register_fsdp_forward_method

    # our layers return (hidden, weights, (k, v)) and k, v are views; nothing writes into them
    # in place, which is what FSDP2's warning is about
    warnings.filterwarnings("ignore", message="FSDP2-wrapped module .* returned a view tensor")
    for layer in transformer_layers(model):
        fully_shard(layer, mesh=dp_mesh)
    fully_shard(model, mesh=dp_mesh)
    for name in FSDP_FORWARD_METHODS:
        register_fsdp_forward_method(model, name)


def full_state_dict(module: nn.Module) -> dict[str, torch.Tensor]:
    """Every parameter and buffer as a full CPU tensor (a collective: call it on every rank),
    with the q/k/v projections of tensor parallel fused back into ``qkv_net``."""
    from torch.distributed.tensor import DTensor

    return fuse_split_projections(
        {name: (t.full_tensor() if isinstance(t, DTensor) else t).detach().cpu().clone()
         for name, t in module.state_dict().items()})


# ---- demo: a few steps under each strategy, on CPU with gloo ---------------------------------
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
    from ernie3_lite.training.module import Ernie3PretrainModule
    from ernie3_lite.training.quiet import quiet_lightning

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
