"""Tensor parallel (intra-layer model parallel) of every Transformer-XL layer of `Ernie3Model`.

ERNIE 3.0 Titan (arXiv 2112.12731) trains with "intra-layer tensor model parallelism", the
Megatron-LM recipe (arXiv 1909.08053 §3): inside each layer, split the first matrix of a block
by output columns and the second by input rows, so every rank computes its part alone and one
all-reduce of the block's output rebuilds the full result.

* Feed-forward network: ``fc_in`` by columns (each rank holds d_inner / T hidden units, GeLU
  works element by element), ``fc_out`` by rows, all-reduce.
* Attention, by heads: heads are independent until ``o_net`` mixes them, so each rank keeps
  H / T heads. W_q, W_{k,E}, W_v are split by columns, and so is W_{k,R} (``r_net``: position
  keys are per head too), as is each stack's u and v (H, Dh) by rows; ``o_net`` by rows,
  all-reduce. The fused ``qkv_net`` [W_q; W_{k,E}; W_v] is first split into three Linears
  (`RelMultiHeadAttention.split_projections`): a column split of the stacked weight would give
  rank 0 all of W_q and half of W_{k,E}.

Everything else (embeddings, LayerNorms, heads) is replicated. The layer input enters attention
once, as a replicated DTensor made by ``attn_norm``: the q, k and v projections read it, and
backward all-reduces its gradient once, not once per projection (memory, normalised by the
same LayerNorm, joins the keys the same way). `parallel.full_state_dict` gathers the shards and
maps q/k/v back to ``qkv_net``, so exported weights look like those of any other model.
"""

from __future__ import annotations

from typing import Any

from torch import nn
from torch.distributed.device_mesh import DeviceMesh

from ernie3_lite.config import STACK_NAMES


def transformer_layers(model: nn.Module) -> list[nn.Module]:
    """Every `RelTransformerLayer` of the universal, NLU and NLG stacks, bottom to top, each
    once (with ``share_task_modules`` the NLG path runs the NLU stack: no stack of its own)."""
    return [layer for stack in transformer_stacks(model) for layer in stack.layers]


def transformer_stacks(model: nn.Module) -> list[nn.Module]:
    return [getattr(model, name) for name in STACK_NAMES if hasattr(model, name)]


def check_divisible(model: nn.Module, size: int) -> None:
    """Heads and FFN hidden units must split evenly over `size` ranks; say which does not."""
    for stack_name in STACK_NAMES:
        stack = getattr(model, stack_name, None)
        if stack is None:
            continue
        d_inner = stack.layers[0].ff.fc_in.out_features
        for field, value in (("n_head", stack.n_head), ("d_inner", d_inner)):
            if value % size:
                raise ValueError(f"{stack_name}.{field}={value} must be divisible by "
                                 f"tensor_parallel_size={size}")


def shard_layers(model: nn.Module, tp_mesh: DeviceMesh) -> None:
    """Split every layer's attention (by heads) and FFN (by hidden units) over `tp_mesh`."""
    from torch.distributed.tensor.parallel import parallelize_module

    check_divisible(model, tp_mesh.size())
    for layer in transformer_layers(model):
        layer.attn.split_projections()
        parallelize_module(layer, tp_mesh, layer_plan())
        layer.attn.n_head //= tp_mesh.size()  # the heads this rank computes
    for stack in transformer_stacks(model):
        shard_position_biases(stack, tp_mesh)


def layer_plan() -> dict[str, Any]:
    """`parallelize_module` plan of one `RelTransformerLayer` (names relative to the layer).

    Colwise: input replicated, weight rows (= output columns) split, output this rank's slice
    (B, T, n / T) as a plain tensor. Rowwise: input that slice, partial (B, T, d) sums,
    all-reduced to the replicated output.
    """
    from torch.distributed.tensor import Replicate
    from torch.distributed.tensor.parallel import (
        ColwiseParallel,
        PrepareModuleOutput,
        RowwiseParallel,
    )

    return {
        # LN(h) and LN(memory) as replicated DTensors: one gradient all-reduce for q, k and v
        "attn_norm": PrepareModuleOutput(output_layouts=Replicate(),
                                         desired_output_layouts=Replicate(),
                                         use_local_output=False),
        "attn.q_net": ColwiseParallel(),  # (B, Q, H/T·Dh)
        "attn.k_net": ColwiseParallel(),  # (B, K, H/T·Dh)
        "attn.v_net": ColwiseParallel(),
        "attn.r_net": ColwiseParallel(),  # (R, H/T·Dh) position keys of this rank's heads
        "attn.o_net": RowwiseParallel(),  # (B, Q, H/T·Dh) -> all-reduce -> (B, Q, d)
        "ff.fc_in": ColwiseParallel(),  # (B, Q, d_inner/T)
        "ff.fc_out": RowwiseParallel(),  # -> all-reduce -> (B, Q, d)
    }


def shard_position_biases(stack: nn.Module, tp_mesh: DeviceMesh) -> None:
    """Split the stack's u (``r_w_bias``) and v (``r_r_bias``), each (H, Dh), by heads.

    They are DTensor parameters (so the optimizer, FSDP2 and checkpoints see their true
    global shape); each layer's attention gets this rank's (H/T, Dh) rows as plain tensors,
    whose gradients flow back into the DTensor's shard.
    """
    from torch.distributed.tensor import Shard, distribute_tensor

    for name in ("r_w_bias", "r_r_bias"):
        bias = getattr(stack, name)
        shard = distribute_tensor(bias.detach(), tp_mesh, [Shard(0)])  # (H/T, Dh) per rank
        setattr(stack, name, nn.Parameter(shard, requires_grad=bias.requires_grad))
    for layer in stack.layers:
        layer.attn.register_forward_pre_hook(_local_position_biases, with_kwargs=True)


def _local_position_biases(module: nn.Module, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
    local = {name: kwargs[name].to_local() for name in ("r_w_bias", "r_r_bias")
             if hasattr(kwargs.get(name), "to_local")}
    return args, {**kwargs, **local}
