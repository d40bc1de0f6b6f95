"""`precision="auto"`: bf16 autocast only where the hardware computes in bf16, float32 elsewhere.

ERNIE 3.0 trains in mixed precision (arXiv 2107.02137 §3.3.2 uses fp16 on V100s); on today's
hardware the cheap half type is bfloat16. On a CPU that is only a speed-up where the CPU has bf16
instructions (AVX-512-BF16 or AMX): there autocast gives ~2-3x the fp32 tokens/s
(benchmarks/README.md, S1). Without them oneDNN *emulates* bf16 and a step runs roughly 10x
slower than in float32 (measured on an AVX2-only AMD EPYC, issue 12), which is what most laptops
are. So every config, `pretrain()`, `finetune()`, the demo and the notebooks ask for ``"auto"``
and this module decides, once per process, with the reason printed:

* a CUDA GPU that supports bf16 -> ``"bf16-mixed"``; any other GPU -> ``"32-true"``;
* a CPU whose feature flags list ``avx512_bf16`` or ``amx_bf16`` -> ``"bf16-mixed"``;
* anything else (AVX2, Apple silicon, flags unreadable) -> ``"32-true"``.

An explicit precision ("32-true", "bf16-mixed", ...) always wins. The environment variable
``ERNIE3_PRECISION`` replaces what ``"auto"`` would choose (``make test`` sets it to
``32-true`` so that CI proves the path an AVX2 laptop takes).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import lightning as L
import torch

AUTO = "auto"
ENV_VAR = "ERNIE3_PRECISION"
#: the CPU flags (Linux /proc/cpuinfo spelling) that mean bf16 runs natively
NATIVE_BF16_FLAGS = ("avx512_bf16", "amx_bf16")
CPUINFO = Path("/proc/cpuinfo")

_announced: set[tuple[str, str]] = set()


def cpuinfo_field(*keys: str) -> str | None:
    """The value of the first /proc/cpuinfo line whose key is one of `keys`; None where the file
    cannot be read or has no such line. The one reader of that file: precision "auto" asks it
    for the CPU's flags, training/ship.py and the benchmarks for its model name."""
    try:
        text = CPUINFO.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in keys:
            return value.strip()
    return None


def cpu_flags() -> set[str] | None:
    """The CPU's feature flags from /proc/cpuinfo (``Features`` on ARM), or None where unread."""
    flags = cpuinfo_field("flags", "Features")
    return None if flags is None else set(flags.split())


def cpu_model() -> str | None:
    """The CPU's model name from /proc/cpuinfo, e.g. "AMD EPYC 7B13", or None where unread."""
    return cpuinfo_field("model name")


def cpu_native_bf16() -> tuple[bool, str]:
    """(does this CPU compute bf16 natively?, why) from its flags and oneDNN's own probe."""
    if not torch.ops.mkldnn._is_mkldnn_bf16_supported():
        return False, "oneDNN reports no bf16 support on this CPU"
    flags = cpu_flags()
    if flags is None:
        return False, "the CPU's feature flags cannot be read, so bf16 may be emulated"
    native = [flag for flag in NATIVE_BF16_FLAGS if flag in flags]
    if native:
        return True, f"the CPU has native bf16 ({', '.join(native)})"
    return False, ("the CPU has no avx512_bf16 or amx_bf16: bf16 autocast would be emulated, "
                   "~10x slower than float32")


def _uses_cuda(accelerator: Any) -> bool:
    name = str(accelerator or AUTO).lower()
    if name in ("cuda", "gpu"):
        return True
    return name == AUTO and torch.cuda.is_available()


def choose_precision(precision: Any = AUTO, *, accelerator: Any = AUTO) -> tuple[str, str]:
    """(Lightning precision, reason): `precision` itself unless it is ``"auto"`` (or None)."""
    if precision is not None and str(precision) != AUTO:
        return str(precision), "as configured"
    forced = os.environ.get(ENV_VAR, "").strip()
    if forced and forced != AUTO:
        return forced, f"{ENV_VAR}={forced}"
    if _uses_cuda(accelerator):
        if torch.cuda.is_bf16_supported():
            return "bf16-mixed", f"the GPU ({torch.cuda.get_device_name()}) supports bf16"
        return "32-true", "the GPU does not support bf16"
    native, reason = cpu_native_bf16()
    return ("bf16-mixed" if native else "32-true"), reason


def resolve_precision(precision: Any = AUTO, *, accelerator: Any = AUTO,
                      announce: bool = True) -> str:
    """The Lightning precision to train with; prints the decision of ``"auto"`` once per process."""
    chosen, reason = choose_precision(precision, accelerator=accelerator)
    auto = precision is None or str(precision) == AUTO
    if auto and announce and (chosen, reason) not in _announced:
        _announced.add((chosen, reason))
        print(f"precision auto -> {chosen}: {reason} (force one with {ENV_VAR}=32-true or "
              f"=bf16-mixed)", flush=True)
    return chosen


PrecisionInput = Literal["auto", "32-true", "32", "bf16-mixed", "bf16-true", "bf16", "16-mixed",
                         "16-true", "16", "64-true", "64", "transformer-engine",
                         "transformer-engine-float16"]


class AutoPrecisionTrainer(L.Trainer):
    """`lightning.Trainer` that also accepts ``precision="auto"`` (the default), resolved by
    `resolve_precision` for its accelerator; used by both LightningCLIs."""

    def __init__(self, *args: Any, accelerator: Any = AUTO, precision: PrecisionInput | int |
                 None = AUTO, **kwargs: Any) -> None:
        super().__init__(*args, accelerator=accelerator,
                         precision=resolve_precision(precision, accelerator=accelerator),
                         **kwargs)
