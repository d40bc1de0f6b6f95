"""Checking a torch.distributed.checkpoint (DCP) folder before anything unpickles it.

``ModelParallelStrategy`` (FSDP2, tensor parallel) saves a checkpoint as a folder: shard files
(``__<rank>_0.distcp``), Lightning's ``meta.pt`` (steps, hyper-parameters, callback states) and
DCP's ``.metadata``, which says where every tensor's chunks lie. torch reads ``.metadata`` with
plain `pickle.load`, and unpickling runs whatever callable the file names: a crafted folder runs
code on every rank that loads it. It also loads every non-tensor entry ("bytes" items: an
optimiser's learning rate, a callback's state) with ``torch.load(weights_only=False)``.

So a folder is verified first (`verify_dcp_folder`):

* ``.metadata`` is unpickled by `_MetadataUnpickler`, which resolves only DCP's own metadata
  dataclasses, ``torch.Size``, torch dtypes and layouts, and paths (the ids DCP records); any
  other global stops it before it is called, with a `CheckpointError` naming the global;
* the result must have DCP's shape: tensor or bytes entries, storage entries that point at plain
  file names inside the folder, no storage transforms (compression; we never write them);
* every bytes item and ``meta.pt`` must load with ``torch.load(weights_only=True)``, which rebuilds
  only tensors and plain containers. The full unpickler torch uses next resolves the same
  globals, so what passed here cannot run code there.

Every path that loads such a folder calls it first: `read_dcp_checkpoint` (export), the CLI and
`pretrain()` (resume, `training.resume`). `read_dcp_checkpoint` then reads the shards itself,
through a reader that hands DCP the verified metadata and a planner whose bytes items load with
``weights_only=True``; it uses two private torch helpers (`_load_state_dict`,
`_EmptyStateDictLoadPlanner`), the ones torch's own ``dcp_to_torch_save`` uses.
"""

from __future__ import annotations

import copy
import io
import pickle
from pathlib import Path
from typing import Any

import torch
from torch.distributed.checkpoint import FileSystemReader
from torch.distributed.checkpoint import metadata as dcp_metadata
from torch.distributed.checkpoint._traverse import set_element
from torch.distributed.checkpoint.default_planner import _EmptyStateDictLoadPlanner
from torch.distributed.checkpoint.filesystem import _StorageInfo
from torch.distributed.checkpoint.state_dict_loader import _load_state_dict

from ernie3_lite.errors import CheckpointError, error_line
from ernie3_lite.files import UnsafeFileError, check_regular_file, read_bytes

METADATA_NAME = ".metadata"  # DCP's
LIGHTNING_META_NAME = "meta.pt"  # Lightning's steps, hyper-parameters, callback states
METADATA_LIMIT = 512 * 2**20  # bytes; a 10B-parameter model's metadata is a few MB
BYTES_ITEM_LIMIT = 64 * 2**20

_DCP_CLASSES = ("Metadata", "TensorStorageMetadata", "BytesStorageMetadata", "TensorProperties",
                "ChunkStorageMetadata", "StorageMeta", "MetadataIndex", "_MEM_FORMAT_ENCODING")
_ALLOWED_GLOBALS = {
    *(("torch.distributed.checkpoint.metadata", name) for name in _DCP_CLASSES),
    ("torch.distributed.checkpoint.filesystem", "_StorageInfo"),
    ("torch", "Size"),
    ("torch.serialization", "_get_layout"),  # a layout by name (torch.strided)
    *(("pathlib", name) for name in ("Path", "PosixPath", "PurePosixPath", "WindowsPath",
                                     "PureWindowsPath")),  # StorageMeta.checkpoint_id
}


class _MetadataUnpickler(pickle.Unpickler):
    """An unpickler that resolves only the globals a DCP ``.metadata`` names."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED_GLOBALS:
            return super().find_class(module, name)
        if module == "torch" and isinstance(getattr(torch, name, None), torch.dtype):
            return getattr(torch, name)
        raise pickle.UnpicklingError(f"it names {module}.{name}, which is not a "
                                     "torch.distributed.checkpoint metadata class")


def read_dcp_metadata(folder: str | Path) -> dcp_metadata.Metadata:
    """The folder's ``.metadata``, unpickled by `_MetadataUnpickler` and checked for shape."""
    path = Path(folder) / METADATA_NAME
    try:
        data = read_bytes(path, limit=METADATA_LIMIT)
    except (UnsafeFileError, FileNotFoundError) as error:
        raise CheckpointError(folder, f"not a distributed checkpoint folder ({error})") from None
    try:
        metadata = _MetadataUnpickler(io.BytesIO(data)).load()
    except Exception as error:  # a crafted or broken pickle fails in many ways; all are refusals
        raise CheckpointError(path, f"refused ({error_line(error)}); a checkpoint folder "
                                    "can run code when unpickled, so only DCP metadata is "
                                    "read") from None
    _check_shape(metadata, path)
    return metadata


def _check_shape(metadata: Any, path: Path) -> None:
    def refuse(what: str) -> None:
        raise CheckpointError(path, f"refused: {what}")

    if not isinstance(metadata, dcp_metadata.Metadata):
        refuse(f"holds a {type(metadata).__name__}, not DCP Metadata")
    entries = metadata.state_dict_metadata
    kinds = (dcp_metadata.TensorStorageMetadata, dcp_metadata.BytesStorageMetadata)
    if not isinstance(entries, dict) or not all(
            isinstance(k, str) and isinstance(v, kinds) for k, v in entries.items()):
        refuse("state_dict_metadata is not {name: tensor or bytes entry}")
    storage = metadata.storage_data
    if not isinstance(storage, dict):
        refuse("storage_data is not a dict")
    for index, info in storage.items():
        if not isinstance(index, dcp_metadata.MetadataIndex) or not isinstance(info, _StorageInfo):
            refuse("storage_data is not {MetadataIndex: _StorageInfo}")
        name = info.relative_path
        if not isinstance(name, str) or name in ("", ".", "..") or "/" in name or "\\" in name:
            refuse(f"storage entry {index.fqn!r} points outside the folder ({name!r})")
        if not all(isinstance(n, int) and n >= 0 for n in (info.offset, info.length)):
            refuse(f"storage entry {index.fqn!r} has a bad offset or length")
        if info.transform_descriptors:
            refuse(f"storage entry {index.fqn!r} uses transforms {info.transform_descriptors}")


def verify_dcp_folder(folder: str | Path) -> dcp_metadata.Metadata:
    """Refuse (CheckpointError) a DCP folder whose loading could run code; its metadata if not.

    Reads ``.metadata`` safely, checks that every shard file it names is a regular file that
    holds the bytes it points at, and that every bytes item and ``meta.pt`` load with
    ``weights_only=True``.
    """
    folder = Path(folder)
    metadata = read_dcp_metadata(folder)
    sizes: dict[str, int] = {}
    for index, info in metadata.storage_data.items():
        shard = folder / info.relative_path
        if info.relative_path not in sizes:
            try:
                sizes[info.relative_path] = check_regular_file(shard)
            except (UnsafeFileError, FileNotFoundError) as error:
                raise CheckpointError(shard, f"shard named by {METADATA_NAME}: {error}") from None
        if info.offset + info.length > sizes[info.relative_path]:
            raise CheckpointError(shard, f"too short for item {index.fqn!r} (truncated?)")
        entry = metadata.state_dict_metadata.get(index.fqn)
        if isinstance(entry, dcp_metadata.BytesStorageMetadata):
            if info.length > BYTES_ITEM_LIMIT:
                raise CheckpointError(shard, f"item {index.fqn!r} is {info.length} bytes")
            with open(shard, "rb") as f:
                f.seek(info.offset)
                _weights_only_load(io.BytesIO(f.read(info.length)), f"{shard} (item {index.fqn})")
    meta = folder / LIGHTNING_META_NAME
    if meta.exists():
        _weights_only_load(meta, str(meta))
    return metadata


def read_dcp_checkpoint(folder: str | Path) -> dict[str, Any]:
    """Every entry of a verified DCP folder as one nested dict of full tensors (no process
    group needed); Lightning's ``meta.pt`` entries are not included."""
    folder = Path(folder)
    metadata = verify_dcp_folder(folder)
    state: dict[str, Any] = {}
    _load_state_dict(state, storage_reader=_VerifiedReader(folder, metadata),
                     planner=_WeightsOnlyPlanner(), no_dist=True)
    return state


def read_lightning_meta(folder: str | Path) -> dict[str, Any]:
    """Lightning's ``meta.pt`` of a DCP folder ({} if there is none), loaded weights-only."""
    meta = Path(folder) / LIGHTNING_META_NAME
    return _weights_only_load(meta, str(meta)) if meta.exists() else {}


class _VerifiedReader(FileSystemReader):
    """DCP's file reader, handed the metadata `verify_dcp_folder` read (it never unpickles)."""

    def __init__(self, folder: Path, metadata: dcp_metadata.Metadata):
        super().__init__(folder)
        self._verified = metadata

    def read_metadata(self, *args: Any, **kwargs: Any) -> dcp_metadata.Metadata:
        metadata = copy.copy(self._verified)
        metadata.storage_meta = dcp_metadata.StorageMeta(load_id=self.load_id)
        return metadata


class _WeightsOnlyPlanner(_EmptyStateDictLoadPlanner):
    """Rebuilds the whole state from the metadata; bytes items load with weights_only=True."""

    def load_bytes(self, read_item: Any, value: io.BytesIO) -> None:
        obj = torch.load(value, weights_only=True)
        if self.flatten_state_dict:
            set_element(self.original_state_dict, self.mappings[read_item.dest_index.fqn], obj)
        else:
            self.state_dict[read_item.dest_index.fqn] = obj


def _weights_only_load(source: Any, name: str) -> Any:
    try:
        return torch.load(source, map_location="cpu", weights_only=True)
    except Exception as error:
        raise CheckpointError(name, "refused by torch.load(weights_only=True): "
                                    f"{error_line(error)}") from None

