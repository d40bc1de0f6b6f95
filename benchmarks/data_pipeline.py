"""Knowledge-masked LM batch building speed (ERNIE 1.0 arXiv 1904.09223 §3.2; ERNIE 3.0 §3.2.1).

Builds one batch of 32 knowledge-masked 512-token examples from the real People's Daily documents
in data_samples/ (sentences packed to 510 tokens + [CLS] + [SEP]), on ONE thread, after the
segmentation (jieba + KG names, the slow part) is cached. Three stages, interleaved every round
so machine noise hits them alike:

- "from segmentation": tokenize each cached `SegmentedText`, map its spans to tokens, pack,
  mask, collate (what a loader does when only the segmentation is cached; the headline);
- "from encodings": pack + mask + collate from cached `EncodedText` (tokens + token spans);
- "mask + collate": the masking path alone, on already packed texts.

Reports the median of ``--iters`` rounds after warm-up, best of ``--repeats`` medians, and checks
the batch: shape (32, 512), about 15% of real tokens labelled.

    python benchmarks/data_pipeline.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable

import torch

from ernie3_lite import DATA_SAMPLES
from ernie3_lite.data.formats import read_news
from ernie3_lite.data.kmlm import KnowledgeMaskedLM, pack_texts
from ernie3_lite.data.masking import IGNORE_INDEX, encode_segmented
from ernie3_lite.data.peoples_daily import split_sentences
from ernie3_lite.data.segmentation import Segmenter
from ernie3_lite.tokenization import CharTokenizer

TARGET_MS = 50.0  # one batch of 32 x 512 from cached segmentation, one core


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--max-len", type=int, default=512)
    p.add_argument("--iters", type=int, default=10, help="timed rounds per repeat (>= 10)")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--quick", action="store_true", help="smoke run: 3 rounds, 1 repeat")
    p.add_argument("--data", default=str(DATA_SAMPLES), help="a data_samples-style folder")
    args = p.parse_args(argv)
    if args.quick:
        args.iters, args.warmup, args.repeats = 3, 1, 1
    return args


def load_sentences(data: str, needed_tokens: int, tokenizer) -> list[str]:
    """Sentences of the news documents in order, until about `needed_tokens` tokens."""
    out, n = [], 0
    for doc in read_news(f"{data}/news/train.jsonl"):
        for par in doc.paragraphs:
            for a, b in split_sentences(par):
                out.append(par[a:b])
                n += len(tokenizer.encode(par[a:b]))
                if n >= needed_tokens:
                    return out
    raise SystemExit(f"{data}/news/train.jsonl has only {n} tokens, {needed_tokens} needed")


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1e3


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(1)
    tok = CharTokenizer.from_file(f"{args.data}/vocab.txt")
    seg = Segmenter.from_triples(f"{args.data}/kg/triples.tsv", disk_cache=False)
    body = args.max_len - 2
    sentences = load_sentences(args.data, args.batch * body + body, tok)
    segmented = [seg.analyse(s) for s in sentences]  # the cache: jieba is not timed
    encoded = [encode_segmented(tok, s) for s in segmented]
    packed = list(pack_texts(encoded, max_tokens=body))[: args.batch]
    builder = KnowledgeMaskedLM(tok, max_len=args.max_len, seed=0)

    def from_segmentation():
        texts = pack_texts((encode_segmented(tok, s) for s in segmented), max_tokens=body)
        return builder.batch(texts.__next__() for _ in range(args.batch))

    def from_encodings():
        texts = pack_texts(encoded, max_tokens=body)
        return builder.batch(texts.__next__() for _ in range(args.batch))

    stages = {
        "from segmentation": from_segmentation,
        "from encodings": from_encodings,
        "mask + collate": lambda: builder.batch(packed),
    }
    batch = from_segmentation()
    labelled = (batch["labels"] != IGNORE_INDEX).sum() / batch["attention_mask"].sum()
    assert batch["input_ids"].shape == (args.batch, args.max_len), batch["input_ids"].shape
    assert 0.14 < float(labelled) < 0.16, float(labelled)

    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, "
          f"{platform.processor() or platform.machine()}, {os.cpu_count()} cpus")
    print(f"batch {tuple(batch['input_ids'].shape)}, {len(sentences)} real sentences, "
          f"{float(labelled):.3f} of real tokens labelled")
    best = {name: float("inf") for name in stages}
    for _ in range(args.repeats):
        for _ in range(args.warmup):
            for fn in stages.values():
                fn()
        rounds = {name: [] for name in stages}
        for _ in range(args.iters):
            for name, fn in stages.items():
                rounds[name].append(timed(fn))
        for name in stages:
            best[name] = min(best[name], statistics.median(rounds[name]))
    for name, ms in best.items():
        print(f"{name:>18}: {ms:7.2f} ms / batch (median of {args.iters}, best of {args.repeats})")
    verdict = "OK" if best["from segmentation"] < TARGET_MS else "OVER"
    print(f"target: < {TARGET_MS:.0f} ms from cached segmentation -> {verdict}")


if __name__ == "__main__":
    main()
