"""Train and export the pre-trained `nano` model shipped in `ernie3_lite/pretrained/nano/`.

    python -m ernie3_lite.training.ship train --data data/full --out runs/shipped_nano
    python -m ernie3_lite.training.ship export --run runs/shipped_nano \
        --data data/full --out ernie3_lite/pretrained/nano

`train` is `pretrain()` (the same objects `make demo` and `ernie3-lite fit` use) on the full
corpora with all five tasks; it writes the run's loss history beside the checkpoint. `export`
writes the weights as bfloat16 safetensors (half the bytes; the loader casts back to float32),
with config.json, vocab.txt and training.json holding the command, steps, time and final losses.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import torch

from ernie3_lite.model.ernie3 import Ernie3Model
from ernie3_lite.tokenization import CharTokenizer
from ernie3_lite.training.export import export_from_checkpoint
from ernie3_lite.training.multitask import TASKS
from ernie3_lite.training.precision import cpu_model


def train(args: argparse.Namespace) -> None:
    from ernie3_lite.training.run import pretrain

    last = Path(args.out) / "checkpoints" / "last.ckpt"
    resume_from = last if args.resume and last.exists() else None
    if args.resume and resume_from is None:
        print(f"--resume: no {last} yet, starting from step 0", flush=True)
    run = pretrain(args.data, preset="nano", max_steps=args.steps, warmup_steps=args.warmup,
                   max_time=args.max_time, lr=args.lr, out_dir=args.out, val_every=args.val_every,
                   progress_bar=True, precision=args.precision, init_from=args.init_from,
                   checkpoint_every=args.checkpoint_every, ckpt_path=resume_from,
                   batch_size=args.batch_size, max_len=args.max_len,
                   dlm_batch_size=args.dlm_batch_size, seg_len=args.seg_len,
                   poetry_share=args.poetry_share)
    history = {"vocab": vocab_name(args.poetry_share), "machine": machine(),
               "train": run.history.train, "val": run.history.val,
               "seconds": run.history.seconds, "steps": run.trainer.global_step,
               "command": " ".join(["python -m ernie3_lite.training.ship", *args.argv]),
               "init_from": args.init_from, "precision": run.trainer.precision}
    (Path(args.out) / "history.json").write_text(json.dumps(history), encoding="utf-8")


def machine() -> str:
    """What trained it, for training.json: the CPU (or GPU), its cores and torch's threads."""
    if torch.cuda.is_available():
        return f"{torch.cuda.get_device_name()} (CUDA)"
    cpu = cpu_model() or "unknown CPU"
    return f"{cpu}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads, no GPU"


def vocab_name(poetry_share: float) -> str:
    """The data folder's vocabulary a run trains with: poetry adds its characters."""
    return "vocab_poetry.txt" if poetry_share else "vocab.txt"


def final_losses(history: dict, *, window: int = 50) -> dict[str, float]:
    """Mean training loss of each task over the last `window` steps, last validation values."""
    out = {}
    for task in TASKS:
        series = history["train"].get(f"train/{task}_loss", [])[-window:]
        if series:
            out[f"train/{task}_loss"] = round(sum(v for _, v in series) / len(series), 4)
        for key in (f"val/{task}_loss", f"val/{task}_acc"):
            if history["val"].get(key):
                out[key] = round(history["val"][key][-1][1], 4)
    return out


def export(args: argparse.Namespace) -> None:
    run_dir = Path(args.run)
    history = json.loads((run_dir / "history.json").read_text(encoding="utf-8"))
    # the vocabulary the run trained with (runs before the poetry corpus have no "vocab" key)
    tokenizer = CharTokenizer.from_file(Path(args.data) / history.get("vocab", "vocab.txt"))
    with tempfile.TemporaryDirectory() as tmp:
        export_from_checkpoint(run_dir / "checkpoints" / "last.ckpt", tmp, tokenizer=tokenizer)
        model = Ernie3Model.from_pretrained(tmp)
    previous = {}
    start = history.get("init_from")
    if start and (Path(start) / "training.json").exists():  # continued pre-training
        previous = json.loads((Path(start) / "training.json").read_text(encoding="utf-8"))
    info = {
        "command": history.get("command", "python -m ernie3_lite.training.ship train"),
        "started_from": previous or None,
        "data": "full build of data_samples/README.md (python -m ernie3_lite.data build "
                "--out data/full), train split",
        "vocab": history.get("vocab", "vocab.txt"),
        "steps": history["steps"], "train_seconds": round(history["seconds"]),
        # the whole pre-training, this run and every run it continued
        "total_steps": history["steps"] + previous.get("total_steps", previous.get("steps", 0)),
        "total_train_seconds": round(history["seconds"]) + previous.get(
            "total_train_seconds", previous.get("train_seconds", 0)),
        "machine": history.get("machine", "2 CPU cores, 1 torch thread, no GPU"),
        "precision": history.get("precision"),
        "final_losses": final_losses(history), "dtype": "bfloat16 (loaded as float32)",
    }
    model.to(torch.bfloat16).save_pretrained(args.out, tokenizer=tokenizer, extra=info)
    print(json.dumps(info, indent=1, ensure_ascii=False))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m ernie3_lite.training.ship",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("train", "export"):
        cmd = commands.add_parser(name)
        cmd.add_argument("--data", default="data/full")
        cmd.add_argument("--steps", type=int, default=2500)
        cmd.add_argument("--warmup", type=int, default=250)
        cmd.add_argument("--lr", type=float, default=1e-3)
    commands.choices["train"].add_argument("--out", default="runs/shipped_nano")
    # the recipe (benchmarks/README.md, "How to spend a CPU-hour"): the tasks' shares of a step
    recipe = commands.choices["train"].add_argument_group("recipe")
    recipe.add_argument("--batch-size", dest="batch_size", type=int, default=8,
                        help="rows per NLU task and step")
    recipe.add_argument("--max-len", dest="max_len", type=int, default=128,
                        help="tokens per NLU row")
    recipe.add_argument("--dlm-batch-size", dest="dlm_batch_size", type=int, default=4,
                        help="document-LM rows per step")
    recipe.add_argument("--seg-len", dest="seg_len", type=int, default=128,
                        help="document-LM tokens per row (its memory is as long)")
    recipe.add_argument("--poetry-share", dest="poetry_share", type=float, default=0.0,
                        help="poem characters per news character in the DLM and KMLM text "
                             "(needs a build with the poetry corpus)")
    commands.choices["train"].add_argument("--max-time", dest="max_time", default="00:01:15:00")
    commands.choices["train"].add_argument("--val-every", dest="val_every", type=int, default=250)
    commands.choices["train"].add_argument("--precision", default="auto",
                                           help="Lightning precision, e.g. bf16-mixed; auto: "
                                           "bf16-mixed where the CPU has native bf16")
    commands.choices["train"].add_argument("--checkpoint-every", dest="checkpoint_every",
                                           type=int, default=250,
                                           help="write checkpoints/last.ckpt every N steps")
    commands.choices["train"].add_argument("--resume", action="store_true",
                                           help="go on from --out's checkpoints/last.ckpt "
                                                "(same arguments as the killed run)")
    commands.choices["train"].add_argument("--init-from", dest="init_from", default=None,
                                           help="a save_pretrained directory to continue from")
    commands.choices["export"].add_argument("--run", default="runs/shipped_nano")
    commands.choices["export"].add_argument("--out", default="ernie3_lite/pretrained/nano")
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # what training.json records
    (train if args.command == "train" else export)(args)


if __name__ == "__main__":
    main()
