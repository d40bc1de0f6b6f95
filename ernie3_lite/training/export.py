"""Export: a Lightning checkpoint of pre-training becomes a pretrained folder (ERNIE 3.0's
released models are weights + config + vocabulary; ours are `model.pretrained`'s folders).

The checkpoint formats are the training layer's knowledge: a ``.ckpt`` file, or the folder of
torch.distributed.checkpoint shards that ``ModelParallelStrategy`` (FSDP2, tensor parallel)
writes, verified by `training.dcp_metadata` before anything in it is unpickled.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ernie3_lite.config import Ernie3Config
from ernie3_lite.files import check_regular_file
from ernie3_lite.model.ernie3 import Ernie3Model
from ernie3_lite.model.pretrained import check_state_shapes, fuse_split_projections, save_pretrained
from ernie3_lite.tokenization import CharTokenizer
from ernie3_lite.training.dcp_metadata import read_dcp_checkpoint, read_lightning_meta

__all__ = ["export_from_checkpoint", "read_sharded_checkpoint"]


def export_from_checkpoint(ckpt_path: str | Path, out_dir: str | Path, *,
                           tokenizer: CharTokenizer | None,
                           extra: dict[str, Any] | None = None) -> Path:
    """Turn a Lightning checkpoint of `Ernie3PretrainModule` into a pretrained folder.

    `ckpt_path` is a ``.ckpt`` file, or the folder of shards that ``ModelParallelStrategy``
    (FSDP2, tensor parallel) saves; its shards are gathered into full tensors, and the q/k/v
    projections of a tensor-parallel run fused back into ``qkv_net``.

    This DOES use `torch.load`, with ``weights_only=True``: the unpickler then only rebuilds
    tensors and plain containers (dict, list, str, numbers) and refuses any other class or
    function. A folder is verified first (`dcp_metadata.verify_dcp_folder`): its ``.metadata``
    may name only DCP's metadata classes. Still, prefer checkpoints from your own training;
    share the exported folder. The checkpoint must keep the model under
    ``state_dict["model.*"]`` and the resolved config as ``hyper_parameters["config"]`` (a dict),
    as `Ernie3PretrainModule` does.
    """
    ckpt_path = Path(ckpt_path)
    if ckpt_path.is_dir():
        checkpoint = read_sharded_checkpoint(ckpt_path)
    else:
        check_regular_file(ckpt_path)  # a FIFO would block torch.load
        checkpoint = torch.load(ckpt_path, map_location="cpu", weights_only=True)
    hparams = dict(checkpoint.get("hyper_parameters") or {})
    if not isinstance(hparams.get("config"), dict):
        raise ValueError(f"{ckpt_path} has no hyper_parameters['config'] dict")
    model = Ernie3Model(Ernie3Config.from_dict(hparams.pop("config")))
    state = fuse_split_projections({_model_key(name): tensor for name, tensor
                                    in checkpoint["state_dict"].items()
                                    if name.startswith("model.")})
    shapes = {name: tuple(tensor.shape) for name, tensor in state.items()}
    check_state_shapes(shapes, model.state_dict(), source=str(ckpt_path))
    model.load_state_dict(state)
    info = {"source_checkpoint": ckpt_path.name, "epoch": checkpoint.get("epoch"),
            "global_step": checkpoint.get("global_step"), "hyper_parameters": hparams}
    return save_pretrained(model, out_dir, tokenizer=tokenizer, extra=info | (extra or {}))


def read_sharded_checkpoint(folder: Path) -> dict[str, Any]:
    """A ``ModelParallelStrategy`` checkpoint folder as one dict with full tensors: the
    torch.distributed.checkpoint shards (``state_dict``, optimizer) plus Lightning's
    ``meta.pt`` (steps, hyper-parameters, ...). No process group is needed; nothing is
    unpickled before `verify_dcp_folder` passed."""
    return read_dcp_checkpoint(folder) | read_lightning_meta(folder)


def _model_key(name: str) -> str:
    """``model.universal.layers.0...`` -> ``universal.layers.0...`` (also drops torch.compile's
    ``_orig_mod.`` wrapper prefix)."""
    return name.removeprefix("model.").replace("_orig_mod.", "")
