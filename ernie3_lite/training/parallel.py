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
does not). `training.parallel_demo` (``python -m ernie3_lite.training.parallel_demo --demo NAME
--out DIR``) trains a few steps of the ``test`` preset under one strategy, so that tests can
compare FSDP2 with DDP and TP with one process.
"""

from __future__ import annotations

import warnings

import lightning as L
import torch
from torch import nn
from torch.distributed.device_mesh import DeviceMesh

from ernie3_lite.model.ernie3 import HEADS, TASK_MODULES, head_method
from ernie3_lite.model.pretrained import fuse_split_projections
from ernie3_lite.training.tensor_parallel import shard_layers, transformer_layers

#: `Ernie3Model` methods the training step calls instead of ``forward``; FSDP2 must run its
#: all-gather / reduce-scatter hooks around each of them, not only around ``forward``
FSDP_FORWARD_METHODS = ("forward_nlu", "forward_nlg", *map(head_method, HEADS))


def task_modules(model: nn.Module) -> dict[str, tuple[str, ...]]:
    """`TASK_MODULES` of `model`, the modules only some tasks' losses reach (every task reaches
    the embeddings and the universal stack): with ``config.share_task_modules`` (an ablation)
    the document LM runs the NLU projection and stack, and the model has no `nlg_proj` / `nlg`."""
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
