"""`python -m ernie3_lite.finetune fit --config configs/finetune_sentiment.yaml`: fine-tuning
from a shell (ERNIE 3.0 arXiv 2107.02137 §4.2).

A `LightningCLI` over the three task modules (``model.class_path`` picks one) and
`FinetuneDataModule`; every constructor argument is a YAML key and a flag
(``--model.init_args.freeze_universal true``, ``--data.data_dir data/full``; ``fit --help``,
``--print_config``). Like the pre-training CLI (`ernie3_lite.cli`) it writes a run into
``runs/<config file name>/`` (``last.ckpt`` in its checkpoints/), keeps Lightning's info lines
off the console unless ``--log_level INFO``, and checks the configuration before anything is
built, stopping with one line per problem that names the field. It also fills in what the model
must take from the data before the model exists: the label names (read off the training split),
the vocabulary file the data must share with the model, and, for a model from scratch, its
max_seq_len (= ``data.max_len``). ``test --config ... --ckpt_path
runs/<name>/checkpoints/last.ckpt`` scores a fine-tuned checkpoint on the test split.
"""

from __future__ import annotations

import importlib
import inspect
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI

from ernie3_lite.cli import checked_ckpt_path, set_run_dirs
from ernie3_lite.config import PRESETS, ConfigError, Ernie3Config
from ernie3_lite.files import UnsafeFileError
from ernie3_lite.finetune.base import FinetuneModule
from ernie3_lite.finetune.checks import check_classes, check_label_sets, check_not_empty
from ernie3_lite.finetune.data import read_split, resolve_data_dir, task_file, task_labels
from ernie3_lite.finetune.datamodule import FinetuneDataModule
from ernie3_lite.training.checkpoint_io import with_atomic_io
from ernie3_lite.training.precision import AutoPrecisionTrainer
from ernie3_lite.training.quiet import QUIET_WARNINGS, quiet_lightning
from ernie3_lite.training.settings import check_optimizer

PROG = "ernie3-lite finetune"
OPTIMIZER_ARGS = ("lr", "weight_decay", "betas", "eps")
#: the splits each subcommand reads (train always: the labels come from it)
SUBCOMMAND_SPLITS = {None: ("train", "valid"), "fit": ("train", "valid"),
                     "validate": ("train", "valid"), "test": ("train", "test")}


class FinetuneCLI(LightningCLI):
    """`LightningCLI` with the fine-tuning checks and filled-in values (module docstring).

    instantiate=False stops after parsing and checking.
    """

    def __init__(self, *args: Any, instantiate: bool = True, **kwargs: Any):
        self.instantiate = instantiate
        super().__init__(*args, **kwargs)

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_lightning_class_args(ModelCheckpoint, "checkpoint")
        parser.set_defaults({"checkpoint.save_last": True, "checkpoint.save_top_k": 0})
        parser.add_argument("--log_level", type=Literal["DEBUG", "INFO", "WARNING", "ERROR"],
                            default="ERROR", help="level of Lightning's own loggers")

    def _parse_ckpt_path(self) -> None:
        """``--ckpt_path`` checked before Lightning reads it (`ernie3_lite.cli.prepare_resume`)."""
        checked_ckpt_path(self, super()._parse_ckpt_path)

    def instantiate_trainer(self, **kwargs: Any) -> AutoPrecisionTrainer:
        """The Trainer, saving through `AtomicCheckpointIO` (see `ernie3_lite.cli`)."""
        config = self.config_init[self.subcommand] if self.subcommand else self.config_init
        kwargs.setdefault("plugins", with_atomic_io(config.trainer.get("plugins")))
        return super().instantiate_trainer(**kwargs)

    def before_instantiate_classes(self) -> None:
        config = self.config[self.subcommand] if self.subcommand else self.config
        quiet_lightning(config.log_level)
        set_run_dirs(config)
        self.fail_on(prepare_config(config, fitting=self.subcommand in (None, "fit"),
                                    splits=SUBCOMMAND_SPLITS.get(self.subcommand)))

    def instantiate_classes(self) -> None:
        if not self.instantiate:
            return
        # the constructors name the field in their errors: show that line, not a traceback
        try:
            super().instantiate_classes()
        except (ValueError, TypeError, FileNotFoundError) as error:
            self.fail_on([constructor_problem(error)])

    def fail_on(self, problems: list[str]) -> None:
        """Exit with status 2 and one line per problem (argparse's convention)."""
        if problems:
            prog = PROG + (f" {self.subcommand}" if self.subcommand else "")
            sys.stderr.write("".join(f"{prog}: error: {p}\n" for p in problems))
            raise SystemExit(2)


def constructor_problem(error: Exception) -> str:
    """The line of a constructor's error that names the field. In subclass mode jsonargparse
    wraps it in a "Does not validate against any of the Union subtypes" report, whose
    ``- ...`` lines are the errors of each subtype (the other subtype is None)."""
    reasons = [line.strip()[2:] for line in str(error).splitlines()
               if line.strip().startswith("- ") and "NoneType" not in line]
    return reasons[0] if reasons else f"{type(error).__name__}: {error}"


def module_class(class_path: str) -> type[FinetuneModule] | None:
    """The class a ``model.class_path`` names (None if it is not a `FinetuneModule`)."""
    module_name, _, name = str(class_path).rpartition(".")
    try:
        cls = getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError, ValueError):
        return None
    return cls if inspect.isclass(cls) and issubclass(cls, FinetuneModule) else None


def prepare_config(config: Any, *, fitting: bool,
                   splits: tuple[str, ...] | None = None) -> list[str]:
    """Check a parsed config and fill in labels, vocabulary and max_seq_len; the problems.

    splits: the data splits the subcommand reads, checked here (not empty, labels known to the
    training split); None checks none of them.
    """
    model, data, trainer = config.model, config.data, config.trainer
    cls = module_class(model.class_path)
    if cls is None:
        return [f"model.class_path={model.class_path!r} is not a fine-tuning module "
                "(ernie3_lite.finetune.SequenceClassificationModule, "
                "TokenClassificationModule or HeadlineGenerationModule)"]
    args, problems = model.init_args, []
    try:  # the optimizer's numbers, before any data is read
        check_optimizer("model.init_args", **{k: args[k] for k in OPTIMIZER_ARGS if k in args})
    except ValueError as error:  # a ConfigError naming the field
        problems.append(str(error))
    if data.task != cls.task:
        problems.append(f"data.task={data.task!r} does not match the model {cls.__name__} "
                        f"(task {cls.task!r})")
    try:
        data_dir = resolve_data_dir(data.data_dir, owner="data.data_dir")
    except FileNotFoundError as error:
        return [*problems, str(error)]
    pretrained = args.get("pretrained")
    if pretrained is not None:
        config_file = Path(pretrained) / "config.json"
        if not config_file.is_file():
            return [*problems, f"model.init_args.pretrained={pretrained!r}: no config.json "
                    "there (a folder written by Ernie3Model.save_pretrained)"]
        try:
            longest = Ernie3Config.from_file(config_file).max_seq_len
        except (ConfigError, UnsafeFileError) as error:
            return [*problems, f"model.init_args.pretrained={pretrained!r}: {error}"]
        if data.max_len > longest:
            problems.append(f"data.max_len={data.max_len} exceeds the model's max_seq_len="
                            f"{longest}")
        vocab = args.get("vocab_file") or str(Path(pretrained) / "vocab.txt")
    else:
        if args.get("config") is None and args.get("preset") not in PRESETS:
            problems.append(f"model.init_args.preset={args.get('preset')!r} is not a preset; "
                            f"choose one of {sorted(PRESETS)}")
        vocab = args.get("vocab_file") or data.vocab_file or str(data_dir / "vocab.txt")
        overrides = dict(args.get("config_overrides") or {})
        overrides.setdefault("max_seq_len", data.max_len)  # the model takes the longest input
        args.config_overrides = overrides
    if data.vocab_file is not None and data.vocab_file != vocab:
        problems.append(f"data.vocab_file={data.vocab_file!r} differs from the model's "
                        f"vocabulary {vocab!r}: leave it out")
    data.vocab_file = args.vocab_file = vocab
    if "labels" in args and args.labels is None and data.task == cls.task:
        try:
            args.labels = task_labels(read_split(data_dir, data.task, "train"), data.task)
        except (FileNotFoundError, ValueError) as error:
            problems.append(f"data.data_dir: {error}")
    if splits and data.task == cls.task:
        problems += split_problems(data_dir, data.task, splits)
    if "max_target_len" in args and args.max_target_len != data.max_target_len:
        problems.append(f"data.max_target_len={data.max_target_len} must equal "
                        f"model.init_args.max_target_len={args.max_target_len}")
    if fitting and trainer.max_epochs is None and trainer.max_steps in (None, -1):
        problems.append("trainer.max_epochs or trainer.max_steps must be set (the learning "
                        "rate decays linearly to 0 at the end of training)")
    return problems


def split_problems(data_dir: Path, task: str, splits: tuple[str, ...]) -> list[str]:
    """`data.data_dir: <file>[:line]: ...` for an empty split or a label the training split
    lacks (see `ernie3_lite.finetune.checks`)."""
    try:
        read = {s: (task_file(data_dir, task, s), read_split(data_dir, task, s))
                for s in dict.fromkeys(("train", *splits))}
        for path, records in read.values():
            check_not_empty(records, path=path)
        check_classes(task_labels(read["train"][1], task), path=read["train"][0])
        check_label_sets(task, read.pop("train"), read)
    except (FileNotFoundError, ValueError) as error:
        return [f"data.data_dir: {error}"]
    return []


def cli_main(args: Sequence[str] | dict | None = None, *, run: bool = True,
             instantiate: bool = True) -> FinetuneCLI:
    """Run the CLI on `args` (None: ``sys.argv``); ``run=False`` builds ``cli.model``,
    ``cli.datamodule`` and ``cli.trainer`` without a subcommand (``args`` are ``fit``'s
    options, e.g. ``["--config", "configs/finetune_sentiment.yaml"]``), ``instantiate=False``
    only parses and checks (``cli.config``)."""
    quiet_lightning()  # before the CLI seeds ("Seed set to 0"); --log_level may undo it
    with warnings.catch_warnings():
        for message in QUIET_WARNINGS:
            warnings.filterwarnings("ignore", message=message)
        return FinetuneCLI(
            FinetuneModule, FinetuneDataModule, subclass_mode_model=True,
            trainer_class=AutoPrecisionTrainer,  # trainer.precision: auto
            save_config_kwargs={"overwrite": True},
            seed_everything_default=0,
            auto_configure_optimizers=False,  # the modules build AdamW + warm-up/decay
            parser_kwargs={"prog": PROG} if run else None, instantiate=instantiate,
            args=list(args) if isinstance(args, Sequence) and not isinstance(args, str) else args,
            run=run,
        )


def main(argv: Sequence[str] | None = None) -> None:
    """`ernie3-lite finetune fit|validate|test --config configs/finetune_<task>.yaml ...`."""
    cli_main(argv)
