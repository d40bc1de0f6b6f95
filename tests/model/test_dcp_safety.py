"""A torch.distributed.checkpoint folder runs no code when exported (model/dcp_metadata.py).

torch unpickles a DCP folder's ``.metadata`` with plain `pickle` and its non-tensor ("bytes")
items with ``weights_only=False``; a crafted folder wrote a file through
`export_from_checkpoint`. Each crafted folder below carries a payload that creates a folder when
unpickled: the export must refuse it with a one-line `CheckpointError`, and the marker must not
exist. A genuine folder (what ``ModelParallelStrategy`` writes: model and optimiser entries,
Lightning's ``meta.pt``) still exports exactly.
"""

from __future__ import annotations

import os
import pickle
import warnings

import pytest
import torch
import torch.distributed.checkpoint as dcp

from ernie3_lite.config import Ernie3Config
from ernie3_lite.errors import CheckpointError
from ernie3_lite.model.ernie3 import Ernie3Model
from ernie3_lite.training.dcp_metadata import read_dcp_metadata, verify_dcp_folder
from ernie3_lite.training.export import export_from_checkpoint


class Payload:
    """Unpickling this creates the folder `marker` (a stand-in for any code)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return os.makedirs, (self.marker,)


def save_dcp(state: dict, folder) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "torch.distributed is disabled ... single process"
        dcp.save(state, checkpoint_id=str(folder), no_dist=True)


def model_folder(folder, *, extra: dict | None = None) -> Ernie3Model:
    """A folder shaped like Lightning's ModelParallelStrategy checkpoint of a `test` model."""
    torch.manual_seed(0)
    model = Ernie3Model(Ernie3Config.from_name("test")).eval()
    weights = {f"model.{k}": v.clone() for k, v in model.state_dict().items()}
    first = next(iter(weights))
    optimizer = {"state": {first: {"step": torch.tensor(3.0), "exp_avg": torch.zeros(1)}},
                 "param_groups": [{"lr": 1e-3, "betas": (0.9, 0.98), "params": [first]}]}
    save_dcp({"state_dict": weights, "optimizer_0": optimizer, **(extra or {})}, folder)
    torch.save({"epoch": 0, "global_step": 7,
                "hyper_parameters": {"config": model.config.to_dict(), "lr": 1e-3}},
               folder / "meta.pt")
    return model


def test_a_genuine_folder_exports_exactly(tmp_path):
    model = model_folder(tmp_path / "ckpt")
    out = export_from_checkpoint(tmp_path / "ckpt", tmp_path / "out", tokenizer=None)
    loaded = Ernie3Model.from_pretrained(out)
    for name, tensor in model.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[name], tensor, rtol=0, atol=0)


def test_metadata_that_is_a_payload_is_refused(tmp_path):
    model_folder(tmp_path / "ckpt")
    marker = tmp_path / "pwned"
    (tmp_path / "ckpt" / ".metadata").write_bytes(pickle.dumps(Payload(marker)))
    with pytest.raises(CheckpointError, match=r"\.metadata: refused .*os.*makedirs") as info:
        export_from_checkpoint(tmp_path / "ckpt", tmp_path / "out", tokenizer=None)
    assert "\n" not in str(info.value)
    assert not marker.exists() and not (tmp_path / "out").exists()


def test_a_payload_hidden_inside_real_metadata_is_refused(tmp_path):
    model_folder(tmp_path / "ckpt")
    marker = tmp_path / "pwned"
    with open(tmp_path / "ckpt" / ".metadata", "rb") as f:
        metadata = pickle.load(f)  # our own, genuine file
    metadata.planner_data = {"x": Payload(marker)}
    (tmp_path / "ckpt" / ".metadata").write_bytes(pickle.dumps(metadata))
    with pytest.raises(CheckpointError, match="refused"):
        export_from_checkpoint(tmp_path / "ckpt", tmp_path / "out", tokenizer=None)
    assert not marker.exists()


def test_a_payload_in_a_bytes_item_is_refused(tmp_path):
    # the .metadata is genuine; torch would load the item with weights_only=False
    marker = tmp_path / "pwned"
    model_folder(tmp_path / "ckpt", extra={"callbacks": {"evil": Payload(marker)}})
    with pytest.raises(CheckpointError, match=r"item callbacks.evil.*weights_only=True"):
        export_from_checkpoint(tmp_path / "ckpt", tmp_path / "out", tokenizer=None)
    assert not marker.exists()


def test_a_payload_in_lightning_meta_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    model_folder(tmp_path / "ckpt")
    torch.save({"hyper_parameters": Payload(marker)}, tmp_path / "ckpt" / "meta.pt")
    with pytest.raises(CheckpointError, match=r"meta.pt: refused by torch.load"):
        verify_dcp_folder(tmp_path / "ckpt")
    assert not marker.exists()


def test_storage_outside_the_folder_is_refused(tmp_path):
    model_folder(tmp_path / "ckpt")
    with open(tmp_path / "ckpt" / ".metadata", "rb") as f:
        metadata = pickle.load(f)
    for info in metadata.storage_data.values():
        info.relative_path = "../../etc/passwd"
    (tmp_path / "ckpt" / ".metadata").write_bytes(pickle.dumps(metadata))
    with pytest.raises(CheckpointError, match="points outside the folder"):
        read_dcp_metadata(tmp_path / "ckpt")


def test_a_truncated_shard_is_named(tmp_path):
    model_folder(tmp_path / "ckpt")
    shard = next((tmp_path / "ckpt").glob("*.distcp"))
    shard.write_bytes(shard.read_bytes()[:100])
    with pytest.raises(CheckpointError, match=r"distcp: too short for item"):
        verify_dcp_folder(tmp_path / "ckpt")


def test_a_folder_without_metadata_is_not_a_checkpoint(tmp_path):
    (tmp_path / "ckpt").mkdir()
    with pytest.raises(CheckpointError, match="not a distributed checkpoint folder"):
        export_from_checkpoint(tmp_path / "ckpt", tmp_path / "out", tokenizer=None)
