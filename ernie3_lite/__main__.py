"""`python -m ernie3_lite <command>` (also installed as `ernie3-lite`).

Commands:
  demo    the data pipeline end to end on data_samples/: statistics and one example per task
  data    the data tools (`build`, `stats`): see `python -m ernie3_lite data --help`
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from ernie3_lite import DATA_SAMPLES


def main(argv: Sequence[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["data"]:
        from ernie3_lite.data.__main__ import main as data_main

        return data_main(argv[1:])
    parser = argparse.ArgumentParser(prog="ernie3-lite", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="the data pipeline on shipped data")
    demo.add_argument("--data", type=Path, default=DATA_SAMPLES, help="a built data folder")
    demo.add_argument("--seed", type=int, default=0)
    commands.add_parser("data", help="build / stats (see `data --help`)")
    args = parser.parse_args(argv)
    if args.command == "demo":
        from ernie3_lite.demo import run

        run(args.data, seed=args.seed)


if __name__ == "__main__":
    main()
