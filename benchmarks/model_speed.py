"""Model-level speed of the ERNIE 3.0 NLG path (performance_notes.md §7 B1, B2, B3, B4).

Four benchmarks, each timing a candidate and its baseline in ONE process, interleaved (every
round runs both, so machine noise hits them alike), reporting the median of the timed rounds
after warm-up (best of ``--repeats`` medians where affordable) and PASS / NOT MET:

- S1 training tokens/s, NLG path (universal + NLG stacks, causal, recurrence memory 128,
  segments 16 x 128) vs a GPT with the same layer sizes, SDPA ``is_causal`` and learned
  absolute positions (batch 8 x 256: same tokens per step, same attention span), fp32 and
  bf16 autocast; target >= 0.75x. FLOPs/token use performance_notes §3.1 (TXL-corrected);
- S2 relative-attention core, the "fast" kernel vs the readable "reference" path of
  ``attention.py``, fwd+bwd at Q = M = 128 (runs benchmarks/attention_speed.py); target >= 2.5x
  (set against the former time-major einsum reference);
- S3 evaluation of a long stream of real news text: recurrence (segment 128, memory 384, TXL
  §3.2) vs the vanilla protocol (window 512 slid by 1, only its last position scored, the same
  model with memory off; Al-Rfou et al. 2018 as in TXL §4, Table 9); time per scored token,
  target >= 200x, plus both perplexities (window 512 slid by 128 shown for context); the
  weights are the shipped pre-trained nano (ernie3_lite/pretrained/nano) unless told otherwise;
- S4 greedy generation (batch 1, prompt 64, 128 new tokens): K/V cache with cached position
  keys vs re-running ``forward_nlg`` over the whole prefix; target >= 5x, identical tokens.

    OMP_NUM_THREADS=2 python benchmarks/model_speed.py [--quick] [--only S1,S3] \\
        [--checkpoint PATH | --random-weights]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from attention_speed import cpu_name
from attention_speed import main as attention_main
from baselines import GPT, GPTConfig

from ernie3_lite import DATA_SAMPLES, PRETRAINED_NANO
from ernie3_lite.config import Ernie3Config
from ernie3_lite.model.decoding import greedy_decode
from ernie3_lite.model.ernie3 import Ernie3Model
from ernie3_lite.model.memory import Ernie3Memory
from ernie3_lite.tokenization import CharTokenizer
from ernie3_lite.training.export import export_from_checkpoint

TARGETS = {"S1": 0.75, "S2": 2.5, "S3": 200.0, "S4": 5.0}
NLG_PATH = ("embeddings", "universal", "nlg_proj", "nlg", "lm_head")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", default="S1,S2,S3,S4", help="comma-separated subset, e.g. S1,S3")
    p.add_argument("--quick", action="store_true", help="smoke run: tiny shapes, seconds")
    p.add_argument("--iters", type=int, default=10, help="timed rounds per repeat (>= 10)")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--checkpoint", help="S3/S4 weights: a folder written by "
                   "Ernie3Model.save_pretrained (its vocab.txt is used if present) or a Lightning "
                   ".ckpt of ernie3_lite.training; default: the shipped ernie3_lite/pretrained/"
                   "nano (random weights with --quick)")
    p.add_argument("--random-weights", action="store_true", help="S3/S4 with random weights")
    p.add_argument("--sliding-tokens", type=int, default=256,
                   help="S3: positions scored by the stride-1 baseline (8 windows a batch)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    args.only = [name.strip().upper() for name in args.only.split(",") if name.strip()]
    if args.quick:
        args.iters, args.warmup, args.repeats, args.sliding_tokens = 3, 1, 1, 16
    args.preset = "test" if args.quick else "nano"  # quick: the unit-test sizes
    if args.quick or args.random_weights:
        args.checkpoint = None
    elif args.checkpoint is None and PRETRAINED_NANO.is_dir():
        args.checkpoint = str(PRETRAINED_NANO)
    return args


def time_interleaved(table: dict[str, Callable[[], object]], *, iters: int, warmup: int,
                     repeats: int) -> dict[str, float]:
    """Best (over repeats) median (over rounds) seconds per callable; one round runs them all."""
    best = {name: math.inf for name in table}
    for _ in range(repeats):
        samples: dict[str, list[float]] = {name: [] for name in table}
        for round_ in range(warmup + iters):
            for name, fn in table.items():
                start = time.perf_counter()
                fn()
                if round_ >= warmup:
                    samples[name].append(time.perf_counter() - start)
        best = {name: min(best[name], statistics.median(s)) for name, s in samples.items()}
    return best


def verdict(name: str, label: str, ratio: float, quick: bool, note: str = "",
            failed: str = "") -> str:
    met = "PASS" if ratio >= TARGETS[name] and not failed else "NOT MET"
    met = f"({met}; quick shapes, not a measurement)" if quick else met
    met = f"{met} ({failed})" if failed else met
    return f"{name} {label}: ratio {ratio:.2f}x (target >= {TARGETS[name]:g}x) {met}{note}"


# ---------------------------------------------------------------- S1 training throughput
def txl_flops_per_token(model: Ernie3Model, *, qlen: int, mlen: int) -> float:
    """performance_notes §3.1: 6·N_no_rnet + sum over layers (18·d·K + 8·d²·M/Q + 4·d²·K/Q).

    N counts the NLG path's weights that take part in matmuls (type embeddings and W_{k,R}
    left out: lookups, and W_{k,R} runs on K positions per segment, the 4·d²·K/Q term).
    """
    n = sum(p.numel() for name in NLG_PATH for p in getattr(model, name).parameters())
    n -= model.embeddings.token_type.weight.numel() + model.embeddings.task_type.weight.numel()
    klen, total = qlen + mlen, 0.0
    for stack in (model.universal, model.nlg):
        d = stack.d_model
        n -= sum(layer.attn.r_net.weight.numel() for layer in stack.layers)
        total += stack.n_layer * (18 * d * klen + 8 * d * d * mlen / qlen + 4 * d * d * klen / qlen)
    return 6 * n + total


def bench_s1(args) -> list[str]:
    bsz, qlen, mlen = (2, 16, 16) if args.quick else (16, 128, 128)
    torch.manual_seed(args.seed)
    config = Ernie3Config.from_name(args.preset, vocab_size=5275)  # len(data_samples/vocab.txt)
    txl = Ernie3Model(config).train()
    gpt = GPT(GPTConfig.like_nlg_path(config, block_size=2 * qlen)).train()
    txl_params = [p for name in NLG_PATH for p in getattr(txl, name).parameters()]
    opts = {"txl": torch.optim.AdamW(txl_params, lr=1e-4),
            "gpt": torch.optim.AdamW(gpt.parameters(), lr=1e-4)}
    data = torch.randint(4, config.vocab_size, (bsz, qlen + 1))  # (B, Q+1)
    gpt_data = data.reshape(bsz // 2, 2 * qlen + 2)[:, : 2 * qlen + 1]  # (B/2, 2Q+1)
    memory = {}

    def txl_step(bf16: bool) -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            out = txl.forward_nlg(data[:, :-1], memory=memory.get(bf16), mem_len=mlen)
            logits = txl.lm_logits(out.hidden)  # (B, Q, V)
        memory[bf16] = out.new_memory  # detached: the next segment reads it
        F.cross_entropy(logits.flatten(0, 1).float(), data[:, 1:].flatten()).backward()
        opts["txl"].step()
        opts["txl"].zero_grad(set_to_none=True)

    def gpt_step(bf16: bool) -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            logits = gpt(gpt_data[:, :-1])  # (B/2, 2Q, V)
        F.cross_entropy(logits.flatten(0, 1).float(), gpt_data[:, 1:].flatten()).backward()
        opts["gpt"].step()
        opts["gpt"].zero_grad(set_to_none=True)

    table = {f"{m} {p}": (lambda f=f, b=b: f(b)) for p, b in (("fp32", False), ("bf16", True))
             for m, f in (("txl", txl_step), ("gpt", gpt_step))}
    sec = time_interleaved(table, iters=args.iters, warmup=args.warmup, repeats=args.repeats)
    tokens = bsz * qlen
    f_txl, f_gpt = txl_flops_per_token(txl, qlen=qlen, mlen=mlen), gpt.flops_per_token()
    print(f"S1 sizes: universal {tuple(vars(config.universal).values())} + NLG "
          f"{tuple(vars(config.nlg).values())} (n_layer, d, H, d_inner), vocab "
          f"{config.vocab_size}, dropout {config.dropout}; TXL {bsz}x{qlen} + memory {mlen}, "
          f"GPT {bsz // 2}x{2 * qlen}; {tokens} tokens/step; fwd+bwd+AdamW")
    print(f"  FLOPs/token (§3.1): TXL {f_txl / 1e6:.1f} M, GPT {f_gpt / 1e6:.1f} M -> ideal "
          f"TXL/GPT {f_gpt / f_txl:.2f}x")
    lines = []
    for precision in ("fp32", "bf16"):
        rate = {m: tokens / sec[f"{m} {precision}"] for m in ("txl", "gpt")}
        for m, f in (("txl", f_txl), ("gpt", f_gpt)):
            print(f"  {m} {precision}: {sec[f'{m} {precision}'] * 1e3:8.1f} ms/step "
                  f"{rate[m]:8.0f} tok/s {rate[m] * f / 1e9:6.1f} GFLOP/s")
        lines.append(verdict("S1", f"{precision} NLG/GPT tokens/s", rate["txl"] / rate["gpt"],
                             args.quick))
    return lines


# ---------------------------------------------------------------- S2 attention core
def bench_s2(args) -> list[str]:
    argv = ["--quick"] if args.quick else ["--iters", str(args.iters), "--warmup",
                                           str(args.warmup), "--repeats", str(args.repeats)]
    ms = attention_main(argv)
    ratio = ms["core reference fwd+bwd"] / ms["core fast fwd+bwd"]
    return [verdict("S2", "reference/fast fwd+bwd time", ratio, args.quick)]


# ---------------------------------------------------------------- shared S3/S4 model and text
def news_stream(split: str, tokenizer: CharTokenizer) -> torch.Tensor:
    """Every headline and paragraph of data_samples/news/<split>.jsonl, each + [SEP], as (N,)."""
    ids = []
    with open(DATA_SAMPLES / "news" / f"{split}.jsonl", encoding="utf-8") as f:
        for line in f:
            doc = json.loads(line)
            for text in [doc["headline"], *doc["paragraphs"]]:
                ids += tokenizer.encode(text) + [tokenizer.sep_id]
    return torch.tensor(ids)


def eval_model(args) -> tuple[Ernie3Model, CharTokenizer, str]:
    """The S3/S4 model and its tokenizer: ``--checkpoint`` (by default the shipped pre-trained
    nano), else random weights of the preset. max_seq_len is raised to 512 for the stride-1
    windows: only a length check, as Transformer-XL positions are relative."""
    tokenizer = CharTokenizer.from_file(DATA_SAMPLES / "vocab.txt")
    if args.checkpoint is None:
        torch.manual_seed(args.seed)
        config = Ernie3Config.from_name(args.preset, vocab_size=tokenizer.vocab_size)
        model, weights = Ernie3Model(config), f"RANDOM init (seed {args.seed}), untrained"
    else:
        path = Path(args.checkpoint)
        if not path.is_dir():  # a Lightning .ckpt: export it the project's way first
            path = export_from_checkpoint(path, Path(tempfile.mkdtemp()) / "export",
                                          tokenizer=None)
        model = Ernie3Model.from_pretrained(path)
        if (path / "vocab.txt").exists():
            tokenizer = CharTokenizer.from_file(path / "vocab.txt")
        if tokenizer.vocab_size > model.config.vocab_size:
            raise ValueError(f"{args.checkpoint}: model vocab {model.config.vocab_size} < "
                             f"tokenizer vocab {tokenizer.vocab_size}")
        info = path / "training.json"
        record = json.loads(info.read_text()) if info.exists() else {}
        steps = record.get("total_steps", record.get("steps"))  # a continued run: all its steps
        weights = f"TRAINED, {args.checkpoint}" + (f" ({steps} steps)" if steps else "")
    model.config.max_seq_len = max(model.config.max_seq_len, 512)
    return model.eval(), tokenizer, weights


# ---------------------------------------------------------------- S3 long-document evaluation
@torch.inference_mode()
def bench_s3(args, model: Ernie3Model, stream: torch.Tensor) -> list[str]:
    seg, mem, window = (8, 24, 32) if args.quick else (128, 384, 512)
    n = stream.numel()
    nll_rec = torch.full((n,), math.nan)  # nll_rec[t]: -log p(x_t | x_<t), recurrent model
    starts = list(range(0, n - 1, seg))
    targets = torch.linspace(window, n - 1, args.sliding_tokens).long().unique()  # scored t
    batches = targets.split(8)  # 8 windows per forward, each scores its last position only
    memory, rec_sec, slide_sec, nll_slide = None, [], [], []

    def recurrent_segment(s: int) -> None:
        nonlocal memory
        nll, memory = segment_nll(model, stream, s, seg=seg, memory=memory, mem_len=mem)
        nll_rec[s + 1 : s + 1 + nll.numel()] = nll

    def sliding_batch(ts: torch.Tensor) -> None:
        windows = torch.stack([stream[t - window : t] for t in ts.tolist()])  # (8, window)
        hidden = model.forward_nlg(windows, mem_len=0).hidden[:, -1]  # (8, d): last only
        nll_slide.append(F.cross_entropy(model.lm_logits(hidden).float(), stream[ts],
                                         reduction="none"))

    for i in range(max(len(starts), len(batches))):  # interleaved
        if i < len(starts):
            t0 = time.perf_counter()
            recurrent_segment(starts[i])
            rec_sec.append((time.perf_counter() - t0, min(seg, n - 1 - starts[i])))
        if i < len(batches):
            t0 = time.perf_counter()
            sliding_batch(batches[i])
            slide_sec.append((time.perf_counter() - t0) / batches[i].numel())
    warm = mem // seg + 1  # segments before the memory is full (and the first, cold call)
    rec_per_token = statistics.median(t / k for t, k in rec_sec[warm:] if k == seg)
    slide_per_token = statistics.median(slide_sec[1:])
    strided_per_token, ppl_strided = stride_baseline(model, stream, window=window, seg=seg)
    own_mem, nll_own, memory = model.config.mem_len, torch.full((n,), math.nan), None
    for s in starts:  # untimed context: the memory length the weights were trained with
        nll, memory = segment_nll(model, stream, s, seg=seg, memory=memory, mem_len=own_mem)
        nll_own[s + 1 : s + 1 + nll.numel()] = nll
    nll_slide = torch.cat(nll_slide)
    ppl = {"rec all": nll_rec[1:].mean().exp(), "rec scored": nll_rec[targets].mean().exp(),
           "slide": nll_slide.mean().exp()}
    print(f"S3 text: news/test.jsonl, {n} tokens; {args.preset} sizes; recurrence segment "
          f"{seg} + memory {mem} (median of {len(rec_sec) - warm} segments with full memory); "
          f"stride-1 window {window}: {targets.numel()} evenly spread positions timed, "
          f"extrapolated per token (median of {len(slide_sec) - 1} batches of 8); one "
          f"interleaved pass, not best-of-3")
    print(f"  recurrence  {rec_per_token * 1e3:9.3f} ms/token  ppl {ppl['rec all']:.1f} (all "
          f"{n - 1} tokens), {ppl['rec scored']:.1f} (the {targets.numel()} scored positions)")
    print(f"  recurrence with the config's own mem_len {own_mem} (untimed): ppl "
          f"{nll_own[1:].mean().exp():.1f} (all), {nll_own[targets].mean().exp():.1f} (scored)")
    print(f"  stride 1    {slide_per_token * 1e3:9.3f} ms/token  ppl {ppl['slide']:.1f} (the "
          f"{targets.numel()} scored positions)")
    print(f"  stride {seg}  {strided_per_token * 1e3:9.3f} ms/token  ppl {ppl_strided:.1f}  "
          f"({strided_per_token / rec_per_token:.1f}x recurrence; context, no target)")
    return [verdict("S3", "stride-1/recurrent time per token", slide_per_token / rec_per_token,
                    args.quick, f" | ppl recurrent {ppl['rec scored']:.1f} vs sliding "
                    f"{ppl['slide']:.1f} on the same positions")]


def segment_nll(model: Ernie3Model, stream: torch.Tensor, start: int, *, seg: int,
                memory: Ernie3Memory | None, mem_len: int) -> tuple[torch.Tensor, Ernie3Memory]:
    """-log p(next token) at stream[start : start+seg] with recurrence memory; + the new memory."""
    ids = stream[start : min(start + seg, stream.numel() - 1)][None]  # (1, <= seg)
    out = model.forward_nlg(ids, memory=memory, mem_len=mem_len)
    logits = model.lm_logits(out.hidden[0])  # (<= seg, V)
    targets = stream[start + 1 : start + 1 + ids.size(1)]  # (<= seg,)
    return F.cross_entropy(logits.float(), targets, reduction="none"), out.new_memory


def stride_baseline(model, stream, *, window: int, seg: int) -> tuple[float, float]:
    """Windows of ``window`` tokens slid by ``seg``, scoring their last ``seg`` positions."""
    sec, nll = [], []
    for end in range(window, stream.numel() - 1, seg):
        t0 = time.perf_counter()
        out = model.forward_nlg(stream[end - window : end][None], mem_len=0)
        logits = model.lm_logits(out.hidden[0, -seg:])  # (seg, V)
        nll.append(F.cross_entropy(logits.float(), stream[end - seg + 1 : end + 1],
                                   reduction="none"))
        sec.append((time.perf_counter() - t0) / seg)
    return statistics.median(sec[1:] or sec), float(torch.cat(nll).mean().exp())


# ---------------------------------------------------------------- S4 generation
@torch.inference_mode()  # as `greedy_decode` runs: the same autograd-free mode on both sides
def bench_s4(args, model: Ernie3Model, stream: torch.Tensor) -> list[str]:
    prompt_len, new = (8, 8) if args.quick else (64, 128)
    prompt = stream[:prompt_len][None]  # (1, P): the start of the first news document
    results = {}

    def cached() -> None:
        results["cached"] = greedy_decode(model, prompt, max_new_tokens=new)

    def recompute() -> None:
        ids = prompt
        for _ in range(new):
            hidden = model.forward_nlg(ids, mem_len=0).hidden[:, -1]  # whole prefix again
            ids = torch.cat([ids, model.lm_logits(hidden).argmax(-1, keepdim=True)], dim=1)
        results["recompute"] = ids

    iters = args.iters
    sec = time_interleaved({"cached": cached, "recompute": recompute}, iters=iters,
                           warmup=1, repeats=1)
    same = torch.equal(results["cached"], results["recompute"])
    print(f"S4 greedy, batch 1, prompt {prompt_len}, {new} new tokens, {args.preset} sizes; "
          f"median of {iters} interleaved generations after 1 warm-up (one repeat)")
    for name, s in sec.items():
        print(f"  {name:<10s} {s * 1e3:8.1f} ms  {new / s:8.1f} tok/s")
    return [verdict("S4", "cached/recompute tokens/s", sec["recompute"] / sec["cached"],
                    args.quick, " | identical tokens" if same else "",
                    failed="" if same else "the generated tokens differ")]


def main(argv: list[str] | None = None) -> list[str]:
    args = parse_args(argv)
    started = time.perf_counter()
    torch.manual_seed(args.seed)
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"torch {torch.__version__} | threads {torch.get_num_threads()} (OMP_NUM_THREADS="
          f"{os.environ.get('OMP_NUM_THREADS', 'unset')}) | {cpu_name()} | cpu capability "
          f"{torch.backends.cpu.get_cpu_capability()} | load average {load} | "
          f"{time.strftime('%Y-%m-%d %H:%M')}")
    summary = []
    if "S1" in args.only:
        summary += bench_s1(args)
    if "S2" in args.only:
        summary += bench_s2(args)
    if "S3" in args.only or "S4" in args.only:
        model, tokenizer, weights = eval_model(args)
        print(f"S3/S4 weights: {weights}")
        stream = news_stream("test", tokenizer)
        stream = stream[:200] if args.quick else stream
        if "S3" in args.only:
            summary += bench_s3(args, model, stream)
        if "S4" in args.only:
            summary += bench_s4(args, model, stream)
    print("summary (ratios measured in this run; load average at the end "
          + ", ".join(f"{x:.2f}" for x in os.getloadavg()) + ")")
    for line in summary:
        print("  " + line)
    print(f"total {time.perf_counter() - started:.0f} s")
    return summary


if __name__ == "__main__":
    main()
