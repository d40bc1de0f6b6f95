"""How fast this machine streams weights through one-token GEMVs (why S4 is memory-bound).

A decoding step multiplies one token's vector by every weight matrix of the NLG path once, so it
reads each weight once and does two FLOPs per weight: its speed is the speed at which weights
come from memory. This prints the GEMV bandwidth (weight bytes / time) when the matrices a loop
cycles through total 2-24 MB (1 MB each, 1024 x 256 fp32, like the nano FFN), and for one large
matrix, at 1 and 2 threads. Where the total outgrows what the cache keeps, the rate falls to
DRAM's; the nano NLG path holds ~20 MB of weights (benchmarks/README.md, S4).

    python benchmarks/memory_bandwidth.py
"""

from __future__ import annotations

import time

import torch
import torch.nn.functional as F

MB = 1 << 20


def gemv_rate(weights: list[torch.Tensor], x: torch.Tensor, *, rounds: int) -> float:
    """GB/s of weight bytes over ``rounds`` passes through all of ``weights`` (after 3 warm-up)."""
    for _ in range(3):
        for w in weights:
            F.linear(x, w)
    start = time.perf_counter()
    for _ in range(rounds):
        for w in weights:
            F.linear(x, w)
    seconds = time.perf_counter() - start
    return rounds * sum(w.numel() * w.element_size() for w in weights) / seconds / 1e9


@torch.inference_mode()
def main() -> None:
    torch.manual_seed(0)
    matrices = [torch.randn(1024, 256) for _ in range(24)]  # 1 MB each, fp32
    x = torch.randn(1, 256)
    big = torch.randn(40 * 1024, 256)  # one 40 MB matrix
    print(f"torch {torch.__version__}; one-token GEMVs (1, 256) x (1024, 256)^T, fp32")
    for threads in (1, 2):
        torch.set_num_threads(threads)
        rates = {total: gemv_rate(matrices[:total], x, rounds=max(400 // total, 10))
                 for total in (2, 4, 8, 12, 16, 20, 24)}
        cycle = ", ".join(f"{total} MB {rate:.0f}" for total, rate in rates.items())
        single = gemv_rate([big], x, rounds=20)
        print(f"  {threads} thread(s): GB/s cycling through {cycle}; one 40 MB GEMV {single:.0f}")


if __name__ == "__main__":
    main()
