"""A run killed half-way and resumed with ``--ckpt_path`` ends exactly as an uninterrupted run.

Three runs of configs/pretrain_test.yaml (6 steps, dropout 0.1, progressive learning over 4
steps, a checkpoint every 3): straight through; killed at the start of step 4, after the step-3
checkpoint (an exception, as a crash would); resumed from that checkpoint. Per-step losses come
from the CSV logs. Exactness needs everything a step depends on to be restored or recomputed:
weights, AdamW moments, the LR schedule's position, the document-LM memory (in the
checkpoint), the batches (rebuilt from global_step), the progressive sizes (a function of the
step) and the dropout masks (`StepSeed`).
"""

from __future__ import annotations

import csv
from pathlib import Path

import lightning as L
import pytest
import torch

from ernie3_lite.cli import cli_main

CONFIG = str(Path(__file__).resolve().parents[2] / "configs" / "pretrain_test.yaml")
STEPS, KILL_AT = 6, 3
# the resumed run writes into the killed run's checkpoint folder, on purpose
pytestmark = pytest.mark.filterwarnings("ignore:Checkpoint directory .* exists and is not empty")


class Crash(RuntimeError):
    pass


class CrashAt(L.Callback):
    """Raise at the start of step `step` (after the checkpoint of the step before)."""

    def __init__(self, step: int):
        self.step = step

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if trainer.global_step == self.step:
            raise Crash(f"killed at step {self.step}")


def fit(root: Path, *extra: str) -> None:
    cli_main(["fit", "--config", CONFIG, f"--trainer.default_root_dir={root}",
              f"--trainer.max_steps={STEPS}", f"--checkpoint.every_n_train_steps={KILL_AT}",
              *extra])


def train_losses(root: Path) -> dict[int, float]:
    """step -> train/loss over every CSV log of a run folder (a resumed run adds a version)."""
    losses = {}
    for path in sorted(root.glob("lightning_logs/version_*/metrics.csv")):
        with open(path, newline="") as f:
            losses |= {int(r["step"]): float(r["train/loss"]) for r in csv.DictReader(f)
                       if r["train/loss"]}
    return losses


def weights(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, weights_only=True)["state_dict"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    straight, killed = tmp_path_factory.mktemp("straight"), tmp_path_factory.mktemp("killed")
    fit(straight)
    # the killed run: the CLI's own objects, with a crash added to its trainer
    cli = cli_main(["--config", CONFIG, f"--trainer.default_root_dir={killed}",
                    f"--trainer.max_steps={STEPS}",
                    f"--checkpoint.every_n_train_steps={KILL_AT}"], run=False)
    cli.trainer.callbacks.append(CrashAt(KILL_AT))
    with pytest.raises(Crash):
        cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    half = killed / "checkpoints" / "last.ckpt"
    assert torch.load(half, weights_only=True)["global_step"] == KILL_AT
    fit(killed, f"--ckpt_path={half}")
    return {"straight": straight, "killed": killed}


def test_resumed_run_logs_the_same_losses_as_the_uninterrupted_one(runs):
    straight, resumed = train_losses(runs["straight"]), train_losses(runs["killed"])
    assert sorted(straight) == sorted(resumed) == list(range(STEPS))
    for step in range(STEPS):
        assert resumed[step] == pytest.approx(straight[step], rel=1e-6, abs=1e-6), step
    assert len(set(straight.values())) == STEPS  # the losses move: the comparison means something


def test_resumed_run_ends_with_the_same_weights(runs):
    want = weights(runs["straight"] / "checkpoints" / "last.ckpt")
    got = weights(runs["killed"] / "checkpoints" / "last.ckpt")
    assert want.keys() == got.keys()
    for name in want:
        torch.testing.assert_close(got[name], want[name], rtol=1e-6, atol=1e-6, msg=name)
    start = weights(runs["killed"] / "checkpoints" / f"step{STEPS}.ckpt")
    assert all(torch.equal(start[n], got[n]) for n in got)  # last.ckpt is the step-6 one


def test_resumed_run_restores_the_document_lm_memory(runs):
    want = torch.load(runs["straight"] / "checkpoints" / "last.ckpt", weights_only=True)
    got = torch.load(runs["killed"] / "checkpoints" / "last.ckpt", weights_only=True)
    assert want["global_step"] == got["global_step"] == STEPS
    for a, b in zip(want["dlm_memory"]["nlg"], got["dlm_memory"]["nlg"], strict=True):
        torch.testing.assert_close(b, a, rtol=1e-6, atol=1e-6)
