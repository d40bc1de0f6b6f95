"""`python -m ernie3_lite.generation --prompt 中国 --strategy sample --top-p 0.9 --seed 1`

Loads an exported model (default: the shipped pre-trained `nano`) and prints the prompt and its
continuation; ``--stream`` prints token by token as they are chosen. Why generation stopped
goes to stderr, so stdout is just the text.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from ernie3_lite import PRETRAINED_NANO
from ernie3_lite.config import ConfigError
from ernie3_lite.generation.config import STRATEGIES, GenerationConfig
from ernie3_lite.generation.generate import generate_stream
from ernie3_lite.model.ernie3 import Ernie3Model
from ernie3_lite.tokenization import CharTokenizer


def load_model(path: str | Path = PRETRAINED_NANO) -> tuple[Ernie3Model, CharTokenizer]:
    """(model in eval mode, tokenizer) from an exported model folder with its vocab.txt."""
    path = Path(path)
    if not (path / "vocab.txt").is_file():
        raise FileNotFoundError(f"{path} has no vocab.txt: export the model with its tokenizer "
                                "(Ernie3Model.save_pretrained(path, tokenizer=...))")
    return Ernie3Model.from_pretrained(path), CharTokenizer.from_file(path / "vocab.txt")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m ernie3_lite.generation",
                                     description=__doc__.split("\n\n")[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    defaults = GenerationConfig()
    add = parser.add_argument
    add("--prompt", default="", help="text to continue (default: empty, a new document)")
    add("--model", type=Path, default=PRETRAINED_NANO, help="exported model folder")
    add("--strategy", choices=STRATEGIES, default=defaults.strategy)
    add("--max-new-tokens", type=int, default=defaults.max_new_tokens)
    add("--min-new-tokens", type=int, default=defaults.min_new_tokens)
    add("--temperature", type=float, default=defaults.temperature)
    add("--top-k", type=int, default=defaults.top_k, help="0 = off")
    add("--top-p", type=float, default=defaults.top_p, help="1.0 = off")
    add("--repetition-penalty", type=float, default=defaults.repetition_penalty,
        help="CTRL penalty on tokens already present, 1.0 = off (1.2 in the CTRL paper)")
    add("--num-beams", type=int, default=defaults.num_beams, help="beam width (--strategy beam)")
    add("--length-penalty", type=float, default=defaults.length_penalty)
    add("--seed", type=int, default=None, help="sampling seed (same seed, same text)")
    add("--stop-token", action="append", default=[], dest="stop_tokens",
        help="vocabulary token that ends generation, e.g. 。 (repeatable)")
    add("--stop", action="append", default=[], dest="stop_strings",
        help="string that ends generation (repeatable)")
    add("--no-document-start", action="store_true",
        help="do not put the [SEP] that starts a document before the prompt")
    add("--stream", action="store_true", help="print token by token")
    return parser


def config_from_args(args: argparse.Namespace) -> GenerationConfig:
    return GenerationConfig(
        strategy=args.strategy, max_new_tokens=args.max_new_tokens,
        min_new_tokens=args.min_new_tokens, temperature=args.temperature, top_k=args.top_k,
        top_p=args.top_p, repetition_penalty=args.repetition_penalty, num_beams=args.num_beams,
        length_penalty=args.length_penalty, seed=args.seed, stop_tokens=tuple(args.stop_tokens),
        stop_strings=tuple(args.stop_strings), start_of_document=not args.no_document_start)


def main(argv: Sequence[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        config = config_from_args(args)
    except ConfigError as error:
        parser.error(str(error))
    try:
        model, tokenizer = load_model(args.model)
        stream = generate_stream(model, tokenizer, args.prompt, config)
    except (FileNotFoundError, ValueError) as error:
        parser.error(str(error))
    print(args.prompt, end="", flush=True)
    for token in stream:
        if args.stream:
            print(token.text, end="", flush=True)
    result = stream.result()
    print("" if args.stream else result.text, flush=True)
    print(f"[{len(result.token_ids)} tokens, stop: {result.stop_reason}]", file=sys.stderr)
