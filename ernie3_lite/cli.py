"""`ernie3-lite fit --config configs/pretrain_nano.yaml`: ERNIE 3.0 pre-training from a shell.

A `LightningCLI` over `Ernie3PretrainModule` and `Ernie3DataModule` (ERNIE 3.0 arXiv 2107.02137
§3.2–3.3): every constructor argument is a YAML key and a ``--model.* / --data.* / --trainer.*``
flag (``ernie3-lite fit --help``, ``--print_config``). On top of Lightning's CLI this one

* links what the model must take from the data: ``data.vocab_size -> model.vocab_size``,
  ``data.max_segments -> model.sr_max_segments``, ``data.task_weights -> model.task_weights``;
* adds progressive learning (``--progressive.*``, §3.3.1; ``warmup_steps: 0`` turns it off), a
  checkpoint callback that keeps ``last.ckpt`` (``--checkpoint.*``), and `StepSeed`;
* writes a run into ``runs/<config file name>/`` (checkpoints in its ``checkpoints/``), so a
  killed run resumes with ``--ckpt_path last``;
* checks a fit configuration before any data is read and stops with a message that names the
  wrong field (``--model.config_overrides.universal.n_head=3`` with d_model 256, ...);
* keeps Lightning's info lines off the console unless ``--log_level INFO``;
* accepts ``trainer.precision: auto`` (the configs' choice): bf16-mixed where the hardware has
  bf16, else 32-true (`training/precision.py`);
* ``--compile true`` compiles every Transformer-XL layer with `torch.compile` (GPU runs).

Multi-GPU, multi-node and sharded runs are Trainer flags; see `parallel.py` and the README.
"""

from __future__ import annotations

import os
import random
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import lightning as L
import torch
import yaml
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI

from ernie3_lite.config import PRESETS, ConfigError
from ernie3_lite.errors import CheckpointError, error_line
from ernie3_lite.training.checkpoint_io import with_atomic_io
from ernie3_lite.training.datamodule import Ernie3DataModule
from ernie3_lite.training.module import Ernie3PretrainModule
from ernie3_lite.training.parallel import data_parallel_coordinates
from ernie3_lite.training.precision import AutoPrecisionTrainer
from ernie3_lite.training.progressive import ProgressiveLearning, start_fits
from ernie3_lite.training.quiet import QUIET_WARNINGS, quiet_lightning
from ernie3_lite.training.resume import resolve_resume
from ernie3_lite.training.settings import check_optimizer, check_steps

RUNS_DIR = Path("runs")


class StepSeed(L.Callback):
    """Reseed torch's RNG before every training step from (seed, data-parallel rank, step).

    Dropout is the only randomness inside a step (batches are a pure function of the step, see
    `multitask.py`), so with the RNG reseeded per step, step s draws the same masks however the
    run got there. Lightning does not put RNG states into checkpoints, and a resumed run draws
    from the RNG at other moments (a new DataLoader iterator takes a base seed from it), so
    without this a resumed run with dropout would not repeat the uninterrupted one. Ranks of one
    tensor-parallel group get the same seed: their replicated activations need the same masks.
    """

    def __init__(self, seed: int | None = None):
        """seed: base seed; None = the one `seed_everything` chose (``PL_GLOBAL_SEED``), or 0."""
        self.seed = seed

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any,
                             batch_idx: int) -> None:
        seed = self.seed if self.seed is not None else int(os.environ.get("PL_GLOBAL_SEED", 0))
        rank, _ = data_parallel_coordinates(trainer)
        # a str seed goes through SHA-512: nearby (rank, step) pairs get unrelated streams
        torch.manual_seed(random.Random(f"{seed}/{rank}/{trainer.global_step}").getrandbits(63))


class Ernie3CLI(LightningCLI):
    """`LightningCLI` with ERNIE 3.0's links, callbacks and checks (see the module docstring).

    instantiate=False stops after parsing and checking (for configs of a GPU run on a laptop).
    """

    def __init__(self, *args: Any, instantiate: bool = True, **kwargs: Any):
        self.instantiate = instantiate
        super().__init__(*args, **kwargs)

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        # the model's vocabulary and SR classes come from the data module once it exists
        parser.link_arguments("data.vocab_size", "model.vocab_size", apply_on="instantiate")
        parser.link_arguments("data.max_segments", "model.sr_max_segments",
                              apply_on="instantiate")
        # the loss weights are the configured value itself, so both hparams hold the same
        # thing (Lightning refuses to log a key the two hold with different values)
        parser.link_arguments("data.task_weights", "model.task_weights", apply_on="parse")
        parser.add_lightning_class_args(ProgressiveLearning, "progressive")
        parser.add_lightning_class_args(ModelCheckpoint, "checkpoint")
        parser.set_defaults({
            "progressive.warmup_steps": 0, "progressive.start_seq_len": 32,
            "progressive.start_batch_size": 1,
            "checkpoint.save_last": True, "checkpoint.every_n_train_steps": 100,
            "checkpoint.filename": "step{step}", "checkpoint.auto_insert_metric_name": False,
        })
        parser.add_argument("--log_level", type=Literal["DEBUG", "INFO", "WARNING", "ERROR"],
                            default="ERROR", help="level of Lightning's own loggers (INFO shows "
                            "the device lines and the model summary)")
        parser.add_argument("--compile", type=bool, default=False,
                            help="torch.compile each Transformer-XL layer (GPU; slow to start)")

    def _parse_ckpt_path(self) -> None:
        """Lightning's CLI reads ``--ckpt_path`` here (for its hyper-parameters), before any
        hook: check the path first (`prepare_resume`)."""
        checked_ckpt_path(self, super()._parse_ckpt_path)

    def instantiate_trainer(self, **kwargs: Any) -> L.Trainer:
        """The Trainer, saving through `AtomicCheckpointIO` (unless ``--trainer.plugins``
        names another CheckpointIO)."""
        config = self.config_init[self.subcommand] if self.subcommand else self.config_init
        kwargs.setdefault("plugins", with_atomic_io(config.trainer.get("plugins")))
        return super().instantiate_trainer(**kwargs)

    def before_instantiate_classes(self) -> None:
        config = self.config[self.subcommand] if self.subcommand else self.config
        quiet_lightning(config.log_level)
        expand_dotted_overrides(config.model)
        set_run_dirs(config)
        self.fail_on(check_config(config, fitting=self.subcommand in (None, "fit")))

    def instantiate_classes(self) -> None:
        if not self.instantiate:
            return
        # our constructors name the field in their errors (Ernie3Config.nlg.n_head=..., ...):
        # show that line, not a traceback through jsonargparse
        try:
            super().instantiate_classes()
        except (ValueError, TypeError, FileNotFoundError) as error:
            self.fail_on([f"{type(error).__name__}: {error}"])
        self.fail_on(check_sizes(self.model, self.datamodule))
        config = self.config[self.subcommand] if self.subcommand else self.config
        if config.compile:
            self.fail_on(check_compile(self.model, config.progressive))
            compile_layers(self.model)

    def fail_on(self, problems: list[str]) -> None:
        """Exit with status 2 and one line per problem (argparse's convention, without the
        90-line usage jsonargparse would print first)."""
        if problems:
            prog = "ernie3-lite" + (f" {self.subcommand}" if self.subcommand else "")
            sys.stderr.write("".join(f"{prog}: error: {p}\n" for p in problems))
            raise SystemExit(2)


def expand_dotted_overrides(model: Any) -> None:
    """Nest and type ``--model.config_overrides.<stack>.<field>=<value>`` flags.

    `config_overrides` is a plain dict, so jsonargparse hands such a flag over either as the key
    "universal.d_model" or nested with the value as text ("3"); nest the first and parse the
    second as YAML, so that `resolve_config` updates exactly that field of the stack. (With
    two flags for the same stack, jsonargparse keeps only the last: set several in YAML.)
    """
    overrides = model.get("config_overrides")
    if not overrides:
        return
    nested: dict[str, Any] = {}
    for key, value in dict(overrides).items():
        *parents, leaf = str(key).split(".")
        target = nested
        for parent in parents:
            target = target.setdefault(parent, {})
        if isinstance(value, dict):
            value = {k: yaml.safe_load(v) if isinstance(v, str) else v for k, v in value.items()}
            target.setdefault(leaf, {}).update(value)
        else:
            target[leaf] = yaml.safe_load(value) if parents and isinstance(value, str) else value
    model.config_overrides = nested


def set_run_dirs(config: Any) -> None:
    """runs/<name of the last --config file>/ unless trainer.default_root_dir is given; the
    checkpoint folder <root>/checkpoints does not change between runs, so ``--ckpt_path last``
    finds the checkpoint of the killed run."""
    trainer = config.trainer
    if trainer.default_root_dir is None:
        files = [Path(str(p)) for p in config.get("config") or []]
        trainer.default_root_dir = str(RUNS_DIR / (files[-1].stem if files else "ernie3"))
    if config.get("checkpoint") is not None and config.checkpoint.dirpath is None:
        config.checkpoint.dirpath = str(Path(trainer.default_root_dir) / "checkpoints")


def check_config(config: Any, *, fitting: bool) -> list[str]:
    """Problems a parsed config would only show after the data is read (or never)."""
    problems = []
    model, trainer = config.model, config.trainer
    if model.config is None and model.preset not in PRESETS:
        problems.append(f"model.preset={model.preset!r} is not a preset; choose one of "
                        f"{sorted(PRESETS)}")
    if not fitting:
        return problems
    if trainer.max_steps is None or trainer.max_steps <= 0:
        problems.append(f"trainer.max_steps={trainer.max_steps} must be > 0: the training "
                        "stream is endless, so only max_steps ends a run")
    interval = trainer.val_check_interval
    if isinstance(interval, float) and trainer.limit_val_batches != 0:
        problems.append(f"trainer.val_check_interval={interval} must be an int (steps): the "
                        "training stream is endless, so an epoch never ends")
    problems += numeric_problems(config)
    total = model.max_steps if model.max_steps is not None else trainer.max_steps
    if total is not None and total > 0 and model.warmup_steps >= total:
        problems.append(f"model.warmup_steps={model.warmup_steps} must be < the "
                        f"{'model' if model.max_steps is not None else 'trainer'}.max_steps="
                        f"{total} (the learning rate decays after the warm-up)")
    return problems


def numeric_problems(config: Any) -> list[str]:
    """The optimizer's numbers (lr > 0, ...) and the progressive start length, checked before
    the data is read: torch refuses a negative lr only when the optimizer is built."""
    problems, model = [], config.model
    for check, fields in ((check_optimizer, ("lr", "weight_decay", "betas", "eps")),
                          (check_steps, ("warmup_steps", "max_steps"))):
        try:
            check("model", **{name: model.get(name) for name in fields})
        except ConfigError as error:
            problems.append(str(error))
    progressive, data = config.get("progressive"), config.data
    if progressive is not None and progressive.warmup_steps and \
            isinstance(progressive.start_seq_len, int) and \
            not start_fits(progressive.start_seq_len, data.max_len):
        problems.append(f"progressive.start_seq_len={progressive.start_seq_len} must be <= "
                        f"data.max_len={data.max_len} (the ramp ends there)")
    return problems


def prepare_resume(config: Any) -> list[str]:
    """Check ``--ckpt_path`` before Lightning reads it: a folder must pass
    `verify_dcp_folder` (its ``.metadata`` is unpickled on every rank), an unreadable
    ``last.ckpt`` falls back to the newest readable step checkpoint (`resolve_resume`), and
    checkpoints load with ``weights_only=True`` whatever the environment says."""
    if config.get("weights_only") is False:
        return ["weights_only=false is refused: a full unpickler runs whatever code a crafted "
                "checkpoint names, so checkpoints load weights_only=true here"]
    config.weights_only = True
    folder = config.checkpoint.dirpath if config.get("checkpoint") is not None else None
    try:
        config.ckpt_path = resolve_resume(config.get("ckpt_path"), folder=folder)
    except CheckpointError as error:
        return [str(error)]
    return []


def checked_ckpt_path(cli: LightningCLI, parse: Any) -> None:
    """Run `prepare_resume` on the subcommand's config, then Lightning's own `parse` of the
    checkpoint's hyper-parameters (a weights-only load); any refusal is one line, status 2."""
    subcommand = cli.config.get("subcommand")
    if not subcommand:
        return
    config = cli.config[subcommand]
    set_run_dirs(config)
    problems = prepare_resume(config)
    if not problems:
        try:
            parse()
        except Exception as error:  # a weights-only refusal: torch's message runs to 6 lines
            problems = [str(CheckpointError(config.ckpt_path, "refused by torch.load("
                                            f"weights_only=True): {error_line(error)}"))]
    if problems:
        sys.stderr.write("".join(f"{cli.parser.prog} {subcommand}: error: {p}\n"
                                 for p in problems))
        raise SystemExit(2)


def check_sizes(model: Ernie3PretrainModule, data: Ernie3DataModule) -> list[str]:
    """Inputs the data builds must fit the model (it refuses longer segments at the first step)."""
    longest = model.config.max_seq_len
    return [f"data.{name}={value} exceeds the model's max_seq_len={longest}"
            for name, value in (("max_len", data.max_len), ("seg_len", data.seg_len))
            if value > longest]


def check_compile(model: Ernie3PretrainModule, progressive: Any) -> list[str]:
    """A compiled layer is specialised on its dropout p: a ramped dropout recompiles it every
    step of the ramp (until dynamo gives up after 8 versions and runs it eagerly)."""
    final = model.config.dropout
    if progressive is None or progressive.warmup_steps == 0 or progressive.start_dropout == final:
        return []
    return [f"compile=true with progressive.start_dropout={progressive.start_dropout} ramping "
            f"to the model's dropout={final} recompiles every layer at each new value: set "
            f"progressive.start_dropout={final} (or compile=false)"]


def compile_layers(module: Ernie3PretrainModule) -> None:
    """`torch.compile` every Transformer-XL layer in place (names and state dict unchanged).

    Layers, not the whole step: the masked-token selection (``hidden[labels != -100]``) has a
    data-dependent shape and would break the graph anyway, and all layers share one code
    object, so they share the compiled graphs. Those are one per mode: NLU or NLG, with or
    without memory, training or evaluation (grad on or off), more than dynamo's default limit
    of 8, after which it would run the layer eagerly; hence the higher limit.
    """
    torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, 32)
    model = module.model
    stacks = [model.universal, model.nlu]
    if model.nlg_stack is not model.nlu:  # ``share_task_modules``: no NLG stack of its own
        stacks.append(model.nlg_stack)
    for stack in stacks:
        for layer in stack.layers:
            layer.compile(dynamic=True)


def cli_main(args: Sequence[str] | dict | None = None, *, run: bool = True,
             instantiate: bool = True) -> Ernie3CLI:
    """Run the CLI on `args` (None: ``sys.argv``); ``run=False`` only builds the objects
    (``cli.model``, ``cli.datamodule``, ``cli.trainer``), ``instantiate=False`` not even those
    (``cli.config`` is parsed and checked).

    With ``run=False`` there is no subcommand: ``args`` are the ``fit`` options without it, e.g.
    ``cli_main(["--config", "configs/pretrain_test.yaml"], run=False)``.
    """
    quiet_lightning()  # before the CLI seeds ("Seed set to 0"); --log_level may undo it
    with warnings.catch_warnings():
        for message in QUIET_WARNINGS:
            warnings.filterwarnings("ignore", message=message)
        return Ernie3CLI(
            Ernie3PretrainModule, Ernie3DataModule, trainer_class=AutoPrecisionTrainer,
            save_config_kwargs={"overwrite": True},
            trainer_defaults={"callbacks": [StepSeed()]},
            seed_everything_default=0,  # reproducible unless a config says otherwise
            auto_configure_optimizers=False,  # the module builds AdamW + warm-up/decay itself
            parser_kwargs={"prog": "ernie3-lite"} if run else None, instantiate=instantiate,
            args=list(args) if isinstance(args, Sequence) and not isinstance(args, str) else args,
            run=run,
        )


if __name__ == "__main__":
    cli_main()
