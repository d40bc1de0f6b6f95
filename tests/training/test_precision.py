"""`precision="auto"`: bf16 autocast only where the hardware has bf16 (training/precision.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

from ernie3_lite.cli import cli_main
from ernie3_lite.training import precision as auto
from ernie3_lite.training import ship
from ernie3_lite.training.precision import (
    AutoPrecisionTrainer,
    choose_precision,
    cpu_native_bf16,
    resolve_precision,
)

AVX2_FLAGS = "fpu sse sse2 avx avx2 fma"
SAPPHIRE_FLAGS = AVX2_FLAGS + " avx512f avx512bw avx512_bf16 amx_bf16 amx_tile"


@pytest.fixture
def cpu(monkeypatch, tmp_path):
    """Pretend to be a CPU-only machine with the given /proc/cpuinfo flags (None: no file)."""
    monkeypatch.delenv(auto.ENV_VAR, raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(auto, "_announced", set())

    def make(flags: str | None, *, onednn_bf16: bool = True) -> None:
        info = tmp_path / "cpuinfo"
        if flags is not None:
            info.write_text(f"processor\t: 0\nflags\t\t: {flags}\n", encoding="utf-8")
        monkeypatch.setattr(auto, "CPUINFO", info)
        monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: onednn_bf16)

    return make


def test_avx2_cpu_gets_float32(cpu):
    cpu(AVX2_FLAGS, onednn_bf16=False)
    assert choose_precision("auto")[0] == "32-true"
    cpu(AVX2_FLAGS, onednn_bf16=True)  # oneDNN may emulate bf16 on AVX-512 without bf16 units
    chosen, reason = choose_precision("auto")
    assert chosen == "32-true" and "emulated" in reason


def test_native_bf16_cpu_gets_bf16_mixed(cpu):
    cpu(SAPPHIRE_FLAGS)
    assert cpu_native_bf16() == (True, "the CPU has native bf16 (avx512_bf16, amx_bf16)")
    assert choose_precision("auto") == ("bf16-mixed", "the CPU has native bf16 "
                                        "(avx512_bf16, amx_bf16)")


def test_unreadable_flags_are_treated_as_no_bf16(cpu):
    cpu(None)
    assert choose_precision("auto")[0] == "32-true"


def test_the_cpu_model_comes_from_the_same_reader(cpu, tmp_path):
    """`cpu_model` (training.json's "machine", the benchmarks' "cpu") reads the file the flags
    come from: one reader of /proc/cpuinfo."""
    cpu(AVX2_FLAGS)
    assert auto.cpu_model() is None  # the fixture's file names no model
    (tmp_path / "cpuinfo").write_text("processor\t: 0\nmodel name\t: AMD EPYC 7B13\n"
                                      "flags\t\t: avx avx2\n", encoding="utf-8")
    assert auto.cpu_model() == "AMD EPYC 7B13" and auto.cpu_flags() == {"avx", "avx2"}
    assert ship.machine().startswith("AMD EPYC 7B13, ") and ship.machine().endswith(", no GPU")
    (tmp_path / "cpuinfo").unlink()  # no /proc/cpuinfo (macOS, Windows)
    assert auto.cpu_model() is None and ship.machine().startswith("unknown CPU, ")


def test_explicit_value_wins_and_env_replaces_auto_only(cpu, monkeypatch):
    cpu(SAPPHIRE_FLAGS)
    assert choose_precision("32-true") == ("32-true", "as configured")
    assert choose_precision(None)[0] == "bf16-mixed"  # None means auto
    monkeypatch.setenv(auto.ENV_VAR, "32-true")
    assert choose_precision("auto") == ("32-true", "ERNIE3_PRECISION=32-true")
    assert choose_precision("bf16-mixed")[0] == "bf16-mixed"


def test_gpu_decision(cpu, monkeypatch):
    cpu(AVX2_FLAGS, onednn_bf16=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *a: "Some GPU")
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert choose_precision("auto", accelerator="gpu")[0] == "bf16-mixed"
    assert choose_precision("auto", accelerator="auto")[0] == "bf16-mixed"
    assert choose_precision("auto", accelerator="cpu")[0] == "32-true"  # the CPU's own rule
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert choose_precision("auto", accelerator="cuda")[0] == "32-true"


def test_decision_is_printed_once_with_its_reason(cpu, capsys):
    cpu(AVX2_FLAGS, onednn_bf16=False)
    assert resolve_precision("auto") == "32-true"
    assert resolve_precision("auto") == "32-true"
    assert resolve_precision("32-true") == "32-true"  # an explicit value is not announced
    lines = capsys.readouterr().out.splitlines()
    assert lines == ["precision auto -> 32-true: oneDNN reports no bf16 support on this CPU "
                     "(force one with ERNIE3_PRECISION=32-true or =bf16-mixed)"]


def test_trainer_accepts_auto(cpu):
    cpu(AVX2_FLAGS, onednn_bf16=False)
    trainer = AutoPrecisionTrainer(accelerator="cpu", logger=False, enable_progress_bar=False,
                                   enable_checkpointing=False, max_steps=1)
    assert trainer.precision == "32-true"
    cpu(SAPPHIRE_FLAGS)
    trainer = AutoPrecisionTrainer(accelerator="cpu", logger=False, enable_progress_bar=False,
                                   enable_checkpointing=False, max_steps=1, precision="auto")
    assert trainer.precision == "bf16-mixed"


def test_cli_configs_all_say_auto():
    root = Path(__file__).resolve().parents[2] / "configs"
    for path in sorted(root.glob("*.yaml")):
        trainer = yaml.safe_load(path.read_text(encoding="utf-8")).get("trainer", {})
        assert trainer.get("precision", "auto") == "auto", path.name


def test_fit_cli_parses_auto(cpu):
    cpu(AVX2_FLAGS, onednn_bf16=False)
    cli = cli_main(["--config", "configs/pretrain_nano.yaml"], run=False, instantiate=False)
    assert cli.config.trainer.precision == "auto"
