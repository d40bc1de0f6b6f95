"""`python -m ernie3_lite <command>` (also installed as `ernie3-lite`).

Commands:
  demo      the main job on data_samples/: data pipeline, a few minutes of pre-training, results
  data      the data tools (`build`, `stats`): see `python -m ernie3_lite data --help`
  fit       pre-train with Lightning: `fit --config configs/pretrain_nano.yaml` (`fit --help`)
  validate  evaluate a checkpoint: the same options plus `--ckpt_path` (ernie3_lite/cli.py)
  generate  text from the NLG network: `generate --prompt 本报北京 --strategy sample --seed 1`
  evaluate  zero-shot classification / cloze and the knowledge probe: `evaluate zeroshot|probe`
  finetune  sentiment / NER / headline generation: `finetune fit --config configs/finetune_ner.yaml`
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from ernie3_lite import DATA_SAMPLES

#: the LightningCLI subcommands (`ernie3_lite.cli`)
LIGHTNING_COMMANDS = ("fit", "validate")


def main(argv: Sequence[str] | None = None) -> None:
    given = argv
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["data"]:
        from ernie3_lite.data.__main__ import main as data_main

        return data_main(argv[1:])
    if argv[:1] == ["generate"]:
        from ernie3_lite.generation.cli import main as generation_main

        return generation_main(argv[1:])
    if argv[:1] == ["finetune"]:
        from ernie3_lite.finetune.cli import main as finetune_main

        return finetune_main(argv[1:])
    if argv[:1] == ["evaluate"]:
        from ernie3_lite.evaluation.cli import main as evaluation_main

        return evaluation_main(argv[1:])
    if argv[:1] and argv[0] in LIGHTNING_COMMANDS:
        from ernie3_lite.cli import cli_main

        cli_main(given)  # None: LightningCLI reads sys.argv itself
        return None
    parser = argparse.ArgumentParser(prog="ernie3-lite", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="data pipeline + a few minutes of pre-training")
    demo.add_argument("--data", type=Path, default=DATA_SAMPLES, help="a built data folder")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--no-train", action="store_true", help="only the data pipeline")
    demo.add_argument("--steps", type=int, default=150, help="pre-training steps")
    demo.add_argument("--minutes", type=float, default=3.0, help="pre-training time limit")
    demo.add_argument("--out", type=Path, default=Path("runs/demo"), help="output folder")
    commands.add_parser("data", help="build / stats (see `data --help`)")
    commands.add_parser("generate", help="text from the NLG network (see `generate --help`)")
    commands.add_parser("evaluate", help="zero-shot and knowledge probe (`evaluate --help`)")
    commands.add_parser("finetune", help="LightningCLI fine-tuning (see `finetune --help`)")
    for name in LIGHTNING_COMMANDS:
        commands.add_parser(name, help=f"LightningCLI {name} (see `{name} --help`)")
    args = parser.parse_args(argv)
    if args.command == "demo":
        from ernie3_lite.demo import run

        run(args.data, seed=args.seed, train=not args.no_train, max_steps=args.steps,
            max_minutes=args.minutes, out_dir=args.out)


if __name__ == "__main__":
    main()
