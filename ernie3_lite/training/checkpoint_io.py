"""`AtomicCheckpointIO`: Lightning checkpoints written atomically and read weights-only.

Lightning's own `TorchCheckpointIO` serialises to memory and writes through an fsspec
"transaction", whose temporary file lives in ``$TMPDIR``: with the run folder on another
filesystem (``/tmp`` on tmpfs, runs on disk or NFS) the final move is a copy, and a kill or a full
disk during it leaves a truncated ``last.ckpt`` (and the temporary file behind in ``$TMPDIR``).
This plugin writes the checkpoint beside its target and renames it over (`atomic.atomic_open`).

It also loads every checkpoint with ``torch.load(weights_only=True)``, whatever the caller or
``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD`` say: a ``.ckpt`` is a pickle, and a full unpickler runs what
a crafted file names. Our checkpoints hold only tensors and plain containers (see
`schedule.py`, `run.LossHistory`), so nothing is lost.

`pretrain()`, `finetune()`, `ship` and both CLIs install it. (``ModelParallelStrategy`` saves its
folder of shards with torch.distributed.checkpoint instead; see `training.dcp_metadata`.)
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import torch
from lightning.fabric.utilities.types import _PATH
from lightning.pytorch.plugins.io import CheckpointIO, TorchCheckpointIO

from ernie3_lite.atomic import atomic_open
from ernie3_lite.errors import CheckpointError, error_line
from ernie3_lite.files import UnsafeFileError, check_regular_file


class AtomicCheckpointIO(TorchCheckpointIO):
    """`TorchCheckpointIO` with an atomic save in the target's folder and weights-only loads."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: _PATH,
                        storage_options: Any | None = None) -> None:
        if storage_options is not None or "://" in str(path):  # remote: Lightning's own way
            return super().save_checkpoint(checkpoint, path, storage_options)
        with atomic_open(path, "wb") as f:
            torch.save(checkpoint, f)
        return None

    def load_checkpoint(self, path: _PATH, map_location: Callable | Any = "cpu",
                        weights_only: bool | None = None) -> dict[str, Any]:
        if weights_only is False:
            raise CheckpointError(path, "weights_only=False would let the checkpoint run code "
                                        "when loaded; this project only loads weights_only=True")
        return load_weights_only(path, map_location=map_location)


def load_weights_only(path: _PATH, *, map_location: Any = "cpu") -> dict[str, Any]:
    """``torch.load(path, weights_only=True)`` of a regular file; CheckpointError otherwise."""
    try:
        check_regular_file(path)
    except (UnsafeFileError, FileNotFoundError) as error:
        raise CheckpointError(path, f"cannot be loaded: {_reason(error)}") from None
    try:
        return torch.load(os.fspath(path), map_location=map_location, weights_only=True)
    except Exception as error:
        raise CheckpointError(path, "refused by torch.load(weights_only=True): "
                                    f"{error_line(error)}") from None

def _reason(error: Exception) -> str:
    return getattr(error, "reason", None) or getattr(error, "strerror", None) or str(error)


def with_atomic_io(plugins: Any) -> list:
    """A Trainer's ``plugins`` with `AtomicCheckpointIO` added, unless one is a CheckpointIO."""
    plugins = list(plugins) if isinstance(plugins, list | tuple) else [plugins] if plugins else []
    if not any(isinstance(plugin, CheckpointIO) for plugin in plugins):
        plugins.append(AtomicCheckpointIO())
    return plugins
