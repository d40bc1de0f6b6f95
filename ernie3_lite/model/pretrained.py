"""Save and load a trained `Ernie3Model` as a folder of safetensors + JSON, never pickle.

A pretrained folder holds::

    model.safetensors   the weights (safetensors: a JSON header and raw bytes, no code)
    config.json         `Ernie3Config.to_json()`, enough to rebuild the model
    vocab.txt           the tokenizer's vocabulary (`CharTokenizer.save`), if one was given
    training.json       optional free-form information (steps, data, hyper-parameters)

`torch.load` unpickles, and unpickling runs whatever code the file names, so loading a model
someone sent you must not use it. `Ernie3Model.from_pretrained` reads only safetensors and JSON
(`read_config`, `read_weights`). Lightning and DCP checkpoints are the training layer's
(`training.export.export_from_checkpoint` turns one into such a folder).

safetensors refuses tensors that share storage (tied weights would be written twice and come
back untied). `Ernie3Model`'s LM heads already borrow the embedding at call time (see
`heads.py`), so its state dict has no shared storage; `save_pretrained` still handles it for any
model: it writes each storage once under its first name and lists the other names in the file's
metadata (``"tied"``); on load, every alias gets the canonical tensor, and `load_state_dict`
copies it into the module's shared parameter, which therefore stays shared.

A folder is written aside and swapped in (`atomic.replace_folder`): a save that fails half-way
leaves the previous export as it was, loadable. Loading trusts nothing in the folder: files must
be regular (a FIFO or /dev/zero is refused unread), JSON is read bounded and errors name the file
and line, and every weight must be a finite float tensor of the expected name and shape.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import Tensor

from ernie3_lite.atomic import atomic_write_text, default_mode, replace_folder
from ernie3_lite.config import Ernie3Config
from ernie3_lite.errors import CheckpointError
from ernie3_lite.files import UnsafeFileError, check_regular_file
from ernie3_lite.tokenization import CharTokenizer

if TYPE_CHECKING:  # the model imports this module to save and load itself
    from ernie3_lite.model.ernie3 import Ernie3Model

WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"
VOCAB_NAME = "vocab.txt"
TRAINING_NAME = "training.json"
_TIED_KEY = "tied"  # safetensors metadata: JSON {alias name: canonical name}


def save_pretrained(model: Ernie3Model, path: str | Path, *, tokenizer: CharTokenizer | None = None,
                    extra: dict[str, Any] | None = None) -> Path:
    """Write `model` (and `tokenizer`, `extra` as training.json) into the folder `path`."""
    path = Path(path)
    if tokenizer is not None and tokenizer.vocab_size > model.config.vocab_size:
        raise ValueError(f"tokenizer has {tokenizer.vocab_size} tokens, the model's embedding "
                         f"only {model.config.vocab_size}")
    tensors, tied = untie(fuse_split_projections(model.state_dict()))
    with replace_folder(path) as new:
        _write_weights(tensors, tied, new / WEIGHTS_NAME)
        model.config.save(new / CONFIG_NAME)
        if tokenizer is not None:
            tokenizer.save(new / VOCAB_NAME)
        if extra is not None:
            text = json.dumps(extra, indent=2, ensure_ascii=False, default=str)
            atomic_write_text(new / TRAINING_NAME, text + "\n")
    return path


def _write_weights(tensors: dict[str, Tensor], tied: dict[str, str], file: Path) -> None:
    """safetensors into `file`, flushed to disk, with the umask's mode (not 0600)."""
    save_file(tensors, str(file),
              metadata={"format": "pt", _TIED_KEY: json.dumps(tied, sort_keys=True)})
    os.chmod(file, default_mode())
    with open(file, "rb") as f:
        os.fsync(f.fileno())


def untie(state: dict[str, Tensor]) -> tuple[dict[str, Tensor], dict[str, str]]:
    """(tensors without shared storage, {alias: canonical}) for safetensors.

    Names that are the same tensor (same storage, offset, shape, stride) become aliases of the
    first; other views into a storage already used are cloned (saved as independent copies).
    """
    tensors: dict[str, Tensor] = {}
    tied: dict[str, str] = {}
    seen: dict[tuple, str] = {}  # exact view -> canonical name
    storages: set[int] = set()
    for name, tensor in state.items():
        tensor = tensor.detach().cpu()
        ptr = tensor.untyped_storage().data_ptr()
        view = (ptr, tensor.storage_offset(), tuple(tensor.shape), tensor.stride(), tensor.dtype)
        if tensor.numel() and view in seen:
            tied[name] = seen[view]
            continue
        if tensor.numel() and ptr in storages:
            tensor = tensor.clone()  # a different view of a saved storage: an independent copy
        elif tensor.numel():
            seen[view] = name
            storages.add(ptr)
        tensors[name] = tensor.contiguous()
    return tensors, tied


def read_config(path: str | Path) -> Ernie3Config:
    """The `Ernie3Config` of the pretrained folder `path` (its config.json, bounded read)."""
    return Ernie3Config.from_file(Path(path) / CONFIG_NAME)


def read_weights(path: str | Path, *, expected: dict[str, Tensor],
                 map_location: str | torch.device = "cpu") -> dict[str, Tensor]:
    """The weights of the pretrained folder `path`, checked against `expected` (the state dict
    of the model its config builds): `Ernie3Model.from_pretrained` rebuilds the model from
    `read_config` and loads these. Nothing is unpickled; names and shapes are checked before
    any weight is read, and a mismatch raises ValueError listing the missing, unexpected and
    wrongly shaped names."""
    return read_safetensors(Path(path) / WEIGHTS_NAME, expected=expected, device=map_location)


def read_safetensors(file: str | Path, *, expected: dict[str, Tensor],
                     device: str | torch.device = "cpu") -> dict[str, Tensor]:
    """The state dict in `file` (aliases re-expanded), after checking it against `expected`:
    names, shapes, and values (finite floats where the model has floats)."""
    try:
        check_regular_file(file)  # a FIFO would block safe_open; a folder gives "No such device"
    except UnsafeFileError as error:
        raise CheckpointError(file, f"the weights file {error.reason}") from None
    try:
        with safe_open(str(file), framework="pt", device=str(device)) as handle:
            tied = _read_tied(handle.metadata() or {}, file)
            shapes = {name: tuple(handle.get_slice(name).get_shape()) for name in handle.keys()}
            for alias, canonical in tied.items():
                if canonical not in shapes:
                    raise CheckpointError(file, f"'tied' metadata maps {alias!r} to "
                                                f"{canonical!r}, which the file does not hold")
            shapes |= {alias: shapes[canonical] for alias, canonical in tied.items()
                       if canonical in shapes}
            check_state_shapes(shapes, expected, source=str(file))
            state = {name: handle.get_tensor(name) for name in handle.keys()}
    except SafetensorError as error:
        raise ValueError(f"{file} is not a valid safetensors file ({error}); "
                         "pickled checkpoints are never loaded here") from None
    check_state_values(state, expected, source=file)
    return state | {alias: state[canonical] for alias, canonical in tied.items()}


def _read_tied(metadata: dict[str, str], file: Path | str) -> dict[str, str]:
    """The file's ``"tied"`` metadata, {alias: canonical}; anything else is refused."""
    try:
        tied = json.loads(metadata.get(_TIED_KEY, "{}"))
    except json.JSONDecodeError as error:
        raise CheckpointError(file, f"'tied' metadata is not JSON ({error.msg})") from None
    if not isinstance(tied, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                             for k, v in tied.items()):
        raise CheckpointError(file, "'tied' metadata must be a JSON object of names to names")
    return tied


def check_state_values(state: dict[str, Tensor], expected: dict[str, Tensor], *,
                       source: str | Path) -> None:
    """Refuse a tensor whose dtype kind differs from the model's (integer weights for float
    parameters) or that holds NaN or infinity: either would load silently and train or
    generate garbage."""
    for name, tensor in state.items():
        want = expected.get(name)
        if want is not None and want.is_floating_point() != tensor.is_floating_point():
            raise CheckpointError(source, f"tensor {name!r} is {tensor.dtype}, the model's is "
                                          f"{want.dtype}")
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise CheckpointError(source, f"tensor {name!r} holds NaN or infinite values")


def check_state_shapes(found: dict[str, tuple[int, ...]], expected: dict[str, Tensor], *,
                       source: str) -> None:
    """Raise ValueError listing missing, unexpected and wrongly shaped names, if any."""
    missing = sorted(set(expected) - set(found))
    unexpected = sorted(set(found) - set(expected))
    wrong = sorted(f"{name}: file {found[name]} vs model {tuple(expected[name].shape)}"
                   for name in set(found) & set(expected)
                   if found[name] != tuple(expected[name].shape))
    if missing or unexpected or wrong:
        lines = [f"{source} does not match the model built from its config:"]
        for label, names in (("missing", missing), ("unexpected", unexpected),
                             ("wrong shape", wrong)):
            if names:
                lines.append(f"  {label} ({len(names)}): " + ", ".join(names))
        raise ValueError("\n".join(lines))


def fuse_split_projections(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """Map the ``attn.q_net`` / ``k_net`` / ``v_net`` weights of a tensor-parallel model
    (`RelMultiHeadAttention.split_projections`) back to the one stacked ``attn.qkv_net.weight``
    of every other model; other entries pass through, in order. Full tensors only."""
    fused: dict[str, Tensor] = {}
    for name, tensor in state.items():
        base, _, field = name.rpartition(".attn.")
        if field == "q_net.weight":
            parts = [state[f"{base}.attn.{n}_net.weight"] for n in "qkv"]  # each (H·Dh, d)
            fused[f"{base}.attn.qkv_net.weight"] = torch.cat(parts)  # (3·H·Dh, d)
        elif field not in ("k_net.weight", "v_net.weight"):
            fused[name] = tensor
    return fused
