"""Several processes on the CPU (gloo): DDP through the CLI, FSDP2 and tensor parallel through
`ModelParallelStrategy` (ernie3_lite/training/parallel.py).

Every multi-process run is a subprocess with a timeout: Lightning's launcher re-runs the
command line for rank 1, which inside pytest would be pytest itself (ecosystem notes §1.4), and
a gloo hang must fail the test instead of blocking it. The truth tests compare strategies that
do the same arithmetic: FSDP2 with DDP (both average the two ranks' gradients), and tensor
parallel with one process (both ranks of the TP pair read the one process's batches).
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ernie3_lite.model.ernie3 import Ernie3Model
from ernie3_lite.training import TASKS, Ernie3DataModule, Ernie3PretrainModule
from ernie3_lite.training.export import export_from_checkpoint
from ernie3_lite.training.parallel import TASK_MODULES, freeze_unreached

ROOT = Path(__file__).resolve().parents[2]
TEST_CONFIG = str(ROOT / "configs" / "pretrain_test.yaml")
TIMEOUT = 180  # seconds; a run takes 10-20 s on 2 cores


def run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    env = {**os.environ, "GLOO_SOCKET_IFNAME": "lo", "MASTER_ADDR": "127.0.0.1",
           "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=TIMEOUT)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    return done


def fit_ddp(root: Path, *extra: str) -> dict:
    run("ernie3_lite", "fit", "--config", TEST_CONFIG, "--trainer.accelerator=cpu",
        "--trainer.devices=2", "--trainer.strategy=ddp", f"--trainer.default_root_dir={root}",
        *extra)
    return torch.load(root / "checkpoints" / "last.ckpt", weights_only=True)


@pytest.mark.slow
def test_ddp_through_the_cli_trains_both_ranks(tmp_path):
    ckpt = fit_ddp(tmp_path)
    assert ckpt["global_step"] == 6
    memory = ckpt["dlm_memory"]  # gathered from every rank: (world, B, M, d) per layer
    assert memory["data_parallel_size"] == 2
    for layer in memory["universal"] + memory["nlg"]:
        assert layer.shape[0] == 2 and layer.abs().sum(dim=(1, 2, 3)).min() > 0  # both ran DLM
        assert not torch.equal(layer[0], layer[1])  # on their own rows of the stream
    with open(tmp_path / "lightning_logs" / "version_0" / "metrics.csv", newline="") as f:
        steps = [int(r["step"]) for r in csv.DictReader(f) if r["train/loss"]]
    assert steps == list(range(6))


@pytest.mark.slow
def test_ddp_with_a_disabled_task_freezes_what_only_it_trains(tmp_path):
    # dlm weight 0: the NLG stack and LM head get no gradient; unfrozen, DDP would stop with
    # "parameters that were not used in producing the loss"
    ckpt = fit_ddp(tmp_path, "--data.task_weights.dlm=0")
    assert ckpt["global_step"] == 6 and ckpt["dlm_memory"] is None


def demo(name: str, out: Path, *extra: str) -> dict:
    """Run `parallel.py --demo name`; {"ranks": [per-rank records], "weights": full weights}."""
    run("ernie3_lite.training.parallel_demo", "--demo", name, "--out", str(out), *extra)
    ranks = [json.loads(p.read_text()) for p in sorted(out.glob("rank*.json"))]
    return {"ranks": ranks, "weights": torch.load(out / "weights.pt", weights_only=True)}


def assert_same_weights(got: dict, want: dict, *, atol: float) -> None:
    assert got.keys() == want.keys()
    for name in want:
        torch.testing.assert_close(got[name], want[name], rtol=0, atol=atol, msg=name)


@pytest.mark.slow
def test_fsdp2_and_fsdp2_with_tp_shard_the_weights_and_match_ddp(tmp_path):
    ddp = demo("ddp", tmp_path / "ddp")
    fsdp2 = demo("fsdp2", tmp_path / "fsdp2")  # 2 ranks, each holds half of every layer
    for mine, theirs in zip(fsdp2["ranks"], ddp["ranks"], strict=True):
        assert mine["losses"] == pytest.approx(theirs["losses"], rel=1e-6)
        assert mine["local_numel"] < 0.55 * mine["full_numel"]
    assert sum(r["local_numel"] for r in fsdp2["ranks"]) == fsdp2["ranks"][0]["full_numel"]
    assert_same_weights(fsdp2["weights"], ddp["weights"], atol=1e-6)
    shards = sorted(p.name for p in (tmp_path / "fsdp2" / "last.ckpt").iterdir())
    assert shards == [".metadata", "__0_0.distcp", "__1_0.distcp", "meta.pt"]
    # 4 ranks, mesh [[0, 1], [2, 3]]: a TP pair per data-parallel rank, FFNs split in the pair
    mesh_2d = demo("fsdp2_tp", tmp_path / "fsdp2_tp")
    for rank, record in enumerate(mesh_2d["ranks"]):
        want = ddp["ranks"][rank // 2]["losses"]  # data-parallel rank = rank // 2
        assert record["losses"] == pytest.approx(want, rel=1e-5)
        assert record["local_numel"] < fsdp2["ranks"][rank // 2]["local_numel"]
    assert_same_weights(mesh_2d["weights"], ddp["weights"], atol=2e-4)


def tensor_parallel_names(model: torch.nn.Module) -> list[str]:
    """What tensor parallel must split: in every layer q/k/v (named as after
    `split_projections`), W_{k,R}, the output projection and both FFN matrices (and fc_in's
    bias, by hidden unit); u and v of every stack."""
    names = []
    for stack in ("universal", "nlu", "nlg"):
        names += [f"model.{stack}.r_w_bias", f"model.{stack}.r_r_bias"]
        for n in range(len(getattr(model, stack).layers)):
            layer = f"model.{stack}.layers.{n}"
            names += [f"{layer}.attn.{p}_net.weight" for p in ("q", "k", "v", "r", "o")]
            names += [f"{layer}.ff.fc_in.weight", f"{layer}.ff.fc_in.bias",
                      f"{layer}.ff.fc_out.weight"]
    return sorted(names)


@pytest.mark.slow
def test_tensor_parallel_matches_one_process_and_resumes_from_shards_on_2_or_4_ranks(
        tmp_path):
    single = demo("single", tmp_path / "single")
    tp = demo("tp", tmp_path / "tp", "--resume-at", "2")  # 2 steps, checkpoint, 2 more
    model = Ernie3PretrainModule(preset="test", vocab_size=100, warmup_steps=1, max_steps=2).model
    for rank in tp["ranks"]:  # both ranks of the pair computed the one process's losses
        assert rank["losses"] == pytest.approx(single["ranks"][0]["losses"][2:], rel=1e-5)
        assert rank["split"] == tensor_parallel_names(model)  # attention by heads, FFNs
    # the rest (embeddings, LayerNorms, heads) is on both ranks
    assert sum(r["local_numel"] for r in tp["ranks"]) > tp["ranks"][0]["full_numel"]
    # Adam divides by sqrt(v): float-rounding differences of the all-reduce grow to ~1e-5
    assert_same_weights(tp["weights"], single["weights"], atol=2e-4)
    # the DLM memory is stored once per data-parallel rank (one here: both ranks read the same)
    memory = torch.load(tmp_path / "tp" / "step2.ckpt" / "meta.pt", weights_only=True)
    assert memory["dlm_memory"]["data_parallel_size"] == 1
    assert memory["dlm_memory"]["universal"][0].shape[0] == 1
    # the step-2 shards resume on 4 ranks (one head each): DCP reshards the weights and Adam's
    # state, the memory is found again, and the run ends as the one process's
    tp4 = demo("tp4", tmp_path / "tp4", "--resume-from", str(tmp_path / "tp" / "step2.ckpt"))
    for rank in tp4["ranks"]:
        assert rank["losses"] == pytest.approx(single["ranks"][0]["losses"][2:], rel=1e-5)
    assert_same_weights(tp4["weights"], single["weights"], atol=2e-4)
    # the folder of shards exports like a .ckpt file, with q/k/v fused back into qkv_net
    exported = Ernie3Model.from_pretrained(export_from_checkpoint(tmp_path / "tp" / "last.ckpt",
                                                      tmp_path / "export", tokenizer=None))
    want = {name.removeprefix("model."): t for name, t in tp["weights"].items()}
    assert_same_weights(exported.state_dict(), want, atol=0)


# ---- fast: which modules each task trains (what DDP needs) -----------------------------------
@pytest.fixture(scope="module")
def data() -> Ernie3DataModule:
    data = Ernie3DataModule(batch_size=2, max_len=16, dlm_batch_size=2, seg_len=8, val_batches=1)
    data.setup("fit")
    return data


@pytest.mark.parametrize("enabled", [(t,) for t in TASKS] + [tuple(t for t in TASKS if t != "dlm")],
                         ids=lambda tasks: "+".join(tasks))
def test_freezing_leaves_trainable_exactly_what_the_enabled_tasks_reach(data, enabled):
    weights = {t: float(t in enabled) for t in TASKS}
    module = Ernie3PretrainModule(preset="test", vocab_size=data.vocab_size, task_weights=weights,
                                  warmup_steps=1, max_steps=10)
    batch = next(iter(data.train_dataloader()))
    results = module.task_losses({t: batch[t] for t in enabled}, stage="train")
    sum(loss for loss, _, _ in results.values()).backward()
    reached = {n for n, p in module.model.named_parameters() if p.grad is not None}
    frozen = freeze_unreached(module.model, weights)
    trainable = {n for n, p in module.model.named_parameters() if p.requires_grad}
    assert trainable == reached  # nothing DDP would wait for, nothing trainable left out
    assert set(frozen) <= {n for names in TASK_MODULES.values() for n in names}
