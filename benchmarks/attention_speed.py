"""B3: relative-attention micro-benchmark (performance_notes.md §7 B3; TXL arXiv 1901.02860 App. B).

Two tables, all variants timed in one process and interleaved (every timed round runs every
variant once, so machine noise hits them alike):

- core: attention on already projected heads (what B3 compares and what the target is about);
- module: the whole ``RelMultiHeadAttention`` call, qkv/r/o projections included (the
  projections are the same GEMMs in every variant, so they dilute the ratios).

Variants: "reference" = the readable path of ``attention.py`` (the paper's order of operations,
batch-first, pad-and-reshape rel_shift; the baseline); "fast" = the tuned kernel of
``attention_kernels.py`` (head-major GEMMs, strided-view rel_shift, mask and AC fused into the
scores; the training path); "sdpa" = F.scaled_dot_product_attention with the shifted position
term as a float mask; "no-pos" = SDPA with no position term at all, a lower bound that is not
Transformer-XL.

Reports forward+backward and no-grad forward: the median of ``--iters`` rounds after warm-up,
best of ``--repeats`` medians. Outputs and all gradients must match the reference to 1e-4.

    OMP_NUM_THREADS=2 python benchmarks/attention_speed.py [--quick] [--bidirectional]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

from ernie3_lite.model.attention import IMPLS, RelMultiHeadAttention, relative_attention
from ernie3_lite.model.attention_kernels import fast_relative_attention
from ernie3_lite.model.positions import causal_mask, relative_positions, sinusoid_embedding

TOLERANCE = 1e-4
TARGET_TRAIN = 2.5  # fast fwd+bwd vs reference at Q=M=128 (performance_notes.md §7 B3)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--n-head", type=int, default=6)
    p.add_argument("--d-head", type=int, default=64)
    p.add_argument("--d-model", type=int, default=384)
    p.add_argument("--qlen", type=int, default=128)
    p.add_argument("--mlen", type=int, default=128)
    p.add_argument("--bidirectional", action="store_true", help="NLU positions (R = K+Q-1)")
    p.add_argument("--iters", type=int, default=10, help="timed rounds per repeat (>= 10)")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--quick", action="store_true", help="smoke run: Q=M=32, 3 rounds, 1 repeat")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if args.quick:
        args.qlen, args.mlen, args.iters, args.warmup, args.repeats = 32, 32, 3, 1, 1
    return args


def build_module(args: argparse.Namespace):
    """One module (impl switched per call), its input h, and the kwargs of a forward call."""
    torch.manual_seed(args.seed)
    attn = RelMultiHeadAttention(d_model=args.d_model, n_head=args.n_head, d_head=args.d_head)
    u = torch.nn.Parameter(0.02 * torch.randn(args.n_head, args.d_head))
    v = torch.nn.Parameter(0.02 * torch.randn(args.n_head, args.d_head))
    h = torch.randn(args.batch, args.qlen, args.d_model, requires_grad=True)
    memory = torch.randn(args.batch, args.mlen, args.d_model)  # detached, as the stack passes it
    klen = args.mlen + args.qlen
    pos = relative_positions(qlen=args.qlen, klen=klen, bidirectional=args.bidirectional)
    mask = None if args.bidirectional else causal_mask(qlen=args.qlen, mlen=args.mlen)
    kwargs = dict(pos_emb=sinusoid_embedding(pos, args.d_model), r_w_bias=u, r_r_bias=v,
                  memory=memory, attn_mask=mask)
    return attn, h, kwargs


def module_variants(args):
    """Whole ``RelMultiHeadAttention`` calls (projections included), output (B, Q, d_model).

    Returns the variants, the leaves whose .grad is reset, and a function collecting gradients.
    """
    attn, h, kwargs = build_module(args)

    def call(impl: str) -> Callable[[], torch.Tensor]:
        def run() -> torch.Tensor:
            attn.impl = impl
            return attn(h, **kwargs).output
        return run

    leaves = [h, kwargs["r_w_bias"], kwargs["r_r_bias"], *attn.parameters()]
    return {impl: call(impl) for impl in IMPLS}, leaves, lambda: [t.grad for t in leaves]


def core_variants(args):
    """Attention on already projected heads (what B3 compares), output (B, H, Q, Dh).

    Every variant gets the (B, len, H, Dh) leaves seen through a transpose, exactly as
    ``RelMultiHeadAttention`` produces them, and pos_keys (H, R, Dh).
    """
    torch.manual_seed(args.seed)
    b, n, d, q_len = args.batch, args.n_head, args.d_head, args.qlen
    k_len = args.mlen + q_len
    r_len = k_len + q_len - 1 if args.bidirectional else k_len
    batch_first = [torch.randn(b, t, n, d, requires_grad=True)
                   for t in (q_len, k_len, k_len)]  # (B, len, H, Dh)
    pos_keys = torch.randn(n, r_len, d, requires_grad=True)  # (H, R, Dh)
    u, v_bias = (torch.randn(n, d, requires_grad=True) for _ in range(2))
    mask = None if args.bidirectional else causal_mask(qlen=q_len, mlen=args.mlen)
    common = dict(r_w_bias=u, r_r_bias=v_bias, scale=args.d_head ** -0.5, attn_mask=mask)

    def heads() -> list[torch.Tensor]:
        return [t.transpose(1, 2) for t in batch_first]  # (B, H, len, Dh)

    def reference() -> torch.Tensor:
        return relative_attention(*heads(), pos_keys, **common)[0]

    def fast(use_sdpa: bool) -> Callable[[], torch.Tensor]:
        def run() -> torch.Tensor:
            return fast_relative_attention(*heads(), pos_keys, use_sdpa=use_sdpa, **common)[0]
        return run

    def no_pos() -> torch.Tensor:  # SDPA without the position term: a lower bound, not TXL
        return F.scaled_dot_product_attention(*heads(), attn_mask=None if mask is None else ~mask)

    def grads() -> list[torch.Tensor]:  # d q, d k, d v (B, len, H, Dh), d pos_keys, d u, d v
        return [t.grad for t in batch_first] + [pos_keys.grad, u.grad, v_bias.grad]

    table = {"reference": reference, "fast": fast(False), "sdpa": fast(True), "no-pos": no_pos}
    return table, [*batch_first, pos_keys, u, v_bias], grads


def check_equal(table, leaves, grads_of, skip=("no-pos",)) -> dict[str, float]:
    """Max |diff| to the reference over the output and all gradients."""
    results = {}
    for name, fn in table.items():
        if name in skip:
            continue
        for leaf in leaves:
            leaf.grad = None
        out = fn()
        out.backward(torch.linspace(-1, 1, out.numel()).view_as(out))
        results[name] = (out.detach(), [g.clone() for g in grads_of()])
    ref_out, ref_grads = results.pop("reference")
    errors = {}
    for name, (out, grads) in results.items():
        diffs = [(out - ref_out).abs().max()]
        diffs += [(g - r).abs().max() for g, r in zip(grads, ref_grads, strict=True)]
        errors[name] = max(float(d) for d in diffs)
        assert errors[name] <= TOLERANCE, f"{name} differs from reference by {errors[name]:.2e}"
    return errors


def timed(table, leaves) -> dict[str, Callable[[], None]]:
    """fwd+bwd and no-grad forward callables for every variant."""
    def fwd_bwd(fn) -> Callable[[], None]:
        def run() -> None:
            for leaf in leaves:
                leaf.grad = None
            fn().sum().backward()
        return run

    def fwd(fn) -> Callable[[], None]:
        def run() -> None:
            with torch.no_grad():
                fn()
        return run

    out = {f"{name} fwd+bwd": fwd_bwd(fn) for name, fn in table.items()}
    return out | {f"{name} fwd no_grad": fwd(fn) for name, fn in table.items()}


def time_interleaved(table: dict[str, Callable[[], None]], args) -> dict[str, float]:
    """Best (over repeats) median (over rounds) milliseconds per variant."""
    best = {name: float("inf") for name in table}
    for _ in range(args.repeats):
        samples: dict[str, list[float]] = {name: [] for name in table}
        for round_ in range(args.warmup + args.iters):
            for name, fn in table.items():
                start = time.perf_counter()
                fn()
                elapsed = time.perf_counter() - start
                if round_ >= args.warmup:
                    samples[name].append(elapsed * 1e3)
        for name, ms in samples.items():
            best[name] = min(best[name], statistics.median(ms))
    return best


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def report(title: str, ms: dict[str, float], pairs: list[tuple[str, str]]) -> dict[str, float]:
    print(title)
    for name, value in ms.items():
        print(f"  {name:<22s} {value:8.2f} ms")
    ratios = {f"{a} / {b}": ms[a] / ms[b] for a, b in pairs}
    for name, value in ratios.items():
        print(f"  {name:<46s} {value:5.2f}x")
    return ratios


def main(argv: list[str] | None = None) -> dict[str, float]:
    args = parse_args(argv)
    started = time.perf_counter()
    print(f"torch {torch.__version__} | threads {torch.get_num_threads()} "
          f"(OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}) | {cpu_name()} | "
          f"cpu capability {torch.backends.cpu.get_cpu_capability()}")
    mode = "bidirectional" if args.bidirectional else "causal"
    print(f"B={args.batch} H={args.n_head} Dh={args.d_head} d_model={args.d_model} "
          f"Q={args.qlen} M={args.mlen} {mode} fp32 | median of {args.iters} interleaved rounds "
          f"after {args.warmup} warm-up, best of {args.repeats}")
    core, core_leaves, core_grads = core_variants(args)
    module, module_leaves, module_grads = module_variants(args)
    errors = {f"core {k}": e for k, e in check_equal(core, core_leaves, core_grads).items()}
    errors |= {f"module {k}": e
               for k, e in check_equal(module, module_leaves, module_grads).items()}
    print("max |diff| vs reference (output and gradients): "
          + ", ".join(f"{k} {e:.1e}" for k, e in errors.items()) + f"  (<= {TOLERANCE:g})")
    table = {f"core {k}": fn for k, fn in timed(core, core_leaves).items()}
    table |= {f"module {k}": fn for k, fn in timed(module, module_leaves).items()}
    ms = time_interleaved(table, args)
    pairs = [("reference fwd+bwd", "fast fwd+bwd"), ("reference fwd+bwd", "sdpa fwd+bwd"),
             ("reference fwd no_grad", "fast fwd no_grad"),
             ("fast fwd no_grad", "sdpa fwd no_grad")]
    core_ratios = report("core: attention on projected heads (B3)",
                         {k[5:]: v for k, v in ms.items() if k.startswith("core ")},
                         pairs + [("fast fwd+bwd", "no-pos fwd+bwd")])
    report("module: RelMultiHeadAttention incl. qkv/r/o projections",
           {k[7:]: v for k, v in ms.items() if k.startswith("module ")}, pairs)
    speedup = core_ratios["reference fwd+bwd / fast fwd+bwd"]
    verdict = "met" if speedup >= TARGET_TRAIN else "NOT met"
    print(f"target: core fast fwd+bwd >= {TARGET_TRAIN}x reference: {verdict} ({speedup:.2f}x) | "
          f"total {time.perf_counter() - started:.1f} s")
    return ms


if __name__ == "__main__":
    main()
