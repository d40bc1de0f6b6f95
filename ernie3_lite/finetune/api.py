"""Fine-tuning from Python in one call: `finetune(task)` and `evaluate(module or checkpoint)`.

ERNIE 3.0 (arXiv 2107.02137 §4.2) fine-tunes the pre-trained network on each downstream task.
`finetune` wires `FinetuneDataModule` and the task's module (`TASK_MODULES`) into a
`lightning.Trainer`, trains, then scores the final weights on the valid and test splits. The
CLI (`python -m ernie3_lite.finetune fit --config configs/finetune_sentiment.yaml`) builds the
same objects from YAML; this function is the short path for scripts and notebooks.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L

from ernie3_lite import DATA_SAMPLES, PRETRAINED_NANO
from ernie3_lite.finetune.base import FinetuneModule
from ernie3_lite.finetune.data import SPLITS, TASKS, resolve_data_dir
from ernie3_lite.finetune.datamodule import FinetuneDataModule
from ernie3_lite.finetune.modules import TASK_MODULES
from ernie3_lite.training.checkpoint_io import AtomicCheckpointIO, load_weights_only
from ernie3_lite.training.precision import resolve_precision
from ernie3_lite.training.quiet import quiet_lightning
from ernie3_lite.training.run import LossHistory
from ernie3_lite.training.settings import check_optimizer


class MetricHistory(LossHistory):
    """`LossHistory` for fine-tuning: the task metrics are logged in the module's own
    ``on_validation_epoch_end``, which Lightning runs AFTER the callbacks' hook, so they are
    read at ``on_validation_end``; validations outside `fit` are not recorded."""

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        pass

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.sanity_checking and trainer.state.fn == "fit":
            super().on_validation_epoch_end(trainer, pl_module)


@dataclass
class FinetuneResult:
    """What `finetune` returns: metrics of the final weights on valid and test ({"acc": ...,
    "loss": ...} without the stage prefix), the trained module, the last checkpoint, the logged
    history (``history.val["val/acc"]``: (step, value) per epoch) and the training time."""

    task: str
    valid: dict[str, float]
    test: dict[str, float]
    module: FinetuneModule
    datamodule: FinetuneDataModule
    checkpoint: Path | None
    history: MetricHistory
    train_seconds: float
    steps: int


def finetune(
    task: str,
    *,
    pretrained: str | Path | None = PRETRAINED_NANO,
    preset: str = "nano",
    data_dir: str | Path = DATA_SAMPLES,
    max_epochs: int | None = 1,
    max_steps: int = -1,
    batch_size: int = 16,
    lr: float = 1e-3,
    warmup_ratio: float = 0.1,
    freeze_universal: bool = False,
    seed: int = 0,
    out_dir: str | Path | None = None,
    limit_train_batches: int | float | None = None,
    progress_bar: bool = False,
    max_len: int = 128,
    max_target_len: int = 32,
    eval_batch_size: int = 32,
    config_overrides: dict[str, Any] | None = None,
    precision: str = "auto",
    accelerator: str = "auto",
    val_every: int | None = None,
    train_examples: int | None = None,
    vocab_file: str | Path | None = None,
) -> FinetuneResult:
    """Fine-tune on `task` ("sentiment", "ner" or "headline") and score valid and test.

    pretrained: a `save_pretrained` folder (default the shipped nano); None trains `preset`
    from scratch, its max_seq_len raised to `max_len` (the pre-trained vs scratch ablation).
    Training stops after `max_epochs` or `max_steps` (-1: no step limit), whichever is first;
    the learning rate warms up over `warmup_ratio` of those steps, then decays linearly to 0.
    out_dir: where checkpoints/last.ckpt goes (default runs/finetune_<task>).
    val_every: validate every this many steps (a learning curve in `history`); None: after
    every epoch; 0: never during training. The final weights are scored on valid and test.
    train_examples: train on the first N training records only (few-shot, quick checks).
    vocab_file: the vocabulary of a model from scratch (default data_dir's vocab.txt; give the
    pre-trained folder's to compare the two starts with one tokenizer). A pre-trained model
    always uses its own.
    """
    if task not in TASKS:
        raise ValueError(f"task={task!r} must be one of {TASKS}")
    check_optimizer("finetune", lr=lr)  # before any data is read
    quiet_lightning(filter_warnings=True)
    L.seed_everything(seed, workers=True, verbose=False)
    out_dir = Path(out_dir) if out_dir is not None else Path("runs") / f"finetune_{task}"
    data_path = resolve_data_dir(data_dir)
    vocab = (Path(pretrained) / "vocab.txt" if pretrained is not None
             else Path(vocab_file) if vocab_file is not None else data_path / "vocab.txt")
    datamodule = FinetuneDataModule(task, data_dir=str(data_path), vocab_file=str(vocab),
                                    batch_size=batch_size, eval_batch_size=eval_batch_size,
                                    max_len=max_len, max_target_len=max_target_len,
                                    train_examples=train_examples, seed=seed)
    datamodule.check_splits()  # an empty test split must not wait for the end of training
    overrides = dict(config_overrides or {})
    if pretrained is None:
        overrides.setdefault("max_seq_len", max_len)  # the model must take the longest input
    module = TASK_MODULES[task](**_task_kwargs(task, datamodule), pretrained=_str(pretrained),
                                preset=preset, config_overrides=overrides or None,
                                vocab_file=str(vocab), freeze_universal=freeze_universal, lr=lr,
                                warmup_ratio=warmup_ratio)
    check_fits(module, datamodule)
    history = MetricHistory()
    checkpoints = L.pytorch.callbacks.ModelCheckpoint(dirpath=out_dir / "checkpoints",
                                                      save_last=True, save_top_k=0)
    trainer = L.Trainer(
        accelerator=accelerator, devices=1, max_epochs=max_epochs, max_steps=max_steps,
        limit_train_batches=limit_train_batches, num_sanity_val_steps=0, logger=False,
        **_validation_schedule(val_every),
        enable_model_summary=False, enable_progress_bar=progress_bar,
        default_root_dir=str(out_dir), callbacks=[history, checkpoints], deterministic=True,
        gradient_clip_val=1.0, log_every_n_steps=10,
        precision=resolve_precision(precision, accelerator=accelerator),
        plugins=[AtomicCheckpointIO()],
    )
    start = time.perf_counter()
    trainer.fit(module, datamodule=datamodule)
    seconds = time.perf_counter() - start
    valid = _final_validation(trainer, module, datamodule, history)
    test = _strip(trainer.test(module, datamodule=datamodule, verbose=False)[0], "test/")
    last = out_dir / "checkpoints" / "last.ckpt"
    return FinetuneResult(task, valid, test, module, datamodule,
                          last if last.exists() else None, history, seconds, trainer.global_step)


def evaluate(
    module: FinetuneModule | str | Path,
    *,
    data_dir: str | Path = DATA_SAMPLES,
    split: str = "test",
    eval_batch_size: int = 32,
    max_len: int | None = None,
    train_examples: int | None = None,
    accelerator: str = "auto",
) -> dict[str, float]:
    """Metrics of a fine-tuned module (or a checkpoint `finetune` / the CLI wrote) on a split.

    split: "valid", "test" or "train" (how well it fits its training data; `train_examples`
    limits it to the first N records). max_len: default the smaller of 128 and the model's
    max_seq_len. Inputs are built with the module's own tokenizer and label order.
    """
    if split not in SPLITS:
        raise ValueError(f"split={split!r} must be one of {SPLITS}")
    quiet_lightning(filter_warnings=True)
    if not isinstance(module, FinetuneModule):
        module = load_checkpoint(module)
    max_len = max_len if max_len is not None else min(128, module.config.max_seq_len)
    datamodule = FinetuneDataModule(module.task, data_dir=str(resolve_data_dir(data_dir)),
                                    eval_batch_size=eval_batch_size, max_len=max_len,
                                    max_target_len=getattr(module, "max_target_len", 32),
                                    train_examples=train_examples)
    datamodule.use_model_vocabulary(module.tokenizer, getattr(module, "labels", None))
    check_fits(module, datamodule)
    trainer = L.Trainer(accelerator=accelerator, devices=1, logger=False,
                        enable_progress_bar=False, enable_model_summary=False)
    # `validate` logs under val/ whichever split it reads; the test split goes through `test`
    run = trainer.test if split == "test" else trainer.validate
    prefix = "test/" if split == "test" else "val/"
    loader = datamodule.eval_dataloader(split)
    return _strip(run(module, dataloaders=loader, verbose=False)[0], prefix)


def load_checkpoint(path: str | Path) -> FinetuneModule:
    """The fine-tuned module in a Lightning checkpoint (its task and vocabulary are inside)."""
    state = load_weights_only(path)
    task = state.get("finetune_task")
    if task not in TASK_MODULES:
        raise ValueError(f"{path} is not a fine-tuning checkpoint (no 'finetune_task' entry)")
    return TASK_MODULES[task].load_from_checkpoint(path, map_location="cpu", weights_only=True)


def check_fits(module: FinetuneModule, datamodule: FinetuneDataModule) -> None:
    """The inputs the data builds must fit the model (it refuses longer ones at the first step)."""
    longest = module.config.max_seq_len
    if datamodule.max_len > longest:
        raise ValueError(f"max_len={datamodule.max_len} exceeds the model's max_seq_len="
                         f"{longest}")
    if module.tokenizer.vocab_size != module.config.vocab_size:
        raise ValueError(f"the tokenizer has {module.tokenizer.vocab_size} tokens, the model "
                         f"{module.config.vocab_size}")


def _validation_schedule(val_every: int | None) -> dict[str, Any]:
    """Trainer arguments: every `val_every` steps, every epoch (None) or never (0)."""
    if val_every is None:
        return {"check_val_every_n_epoch": 1}
    if isinstance(val_every, bool) or not isinstance(val_every, int) or val_every < 0:
        raise ValueError(f"val_every={val_every!r} must be None or an int >= 0")
    if val_every == 0:  # limit_val_batches=0 would stop the final validation too
        return {"check_val_every_n_epoch": 2**31 - 1}
    return {"val_check_interval": val_every, "check_val_every_n_epoch": None}


def _final_validation(trainer: L.Trainer, module: FinetuneModule,
                      datamodule: FinetuneDataModule, history: MetricHistory) -> dict[str, float]:
    """Valid metrics of the final weights: those of the last validation in `fit` when it ran
    after the last step (an epoch's end), else a new validation."""
    recorded = {key: values[-1] for key, values in history.val.items()}
    if recorded and all(step == trainer.global_step for step, _ in recorded.values()):
        return _strip({key: value for key, (_, value) in recorded.items()}, "val/")
    return _strip(trainer.validate(module, datamodule=datamodule, verbose=False)[0], "val/")


def _task_kwargs(task: str, datamodule: FinetuneDataModule) -> dict[str, Any]:
    if task == "headline":
        return {"max_target_len": datamodule.max_target_len}
    return {"labels": datamodule.labels}


def _strip(metrics: dict[str, Any], prefix: str) -> dict[str, float]:
    return {k.removeprefix(prefix): float(v) for k, v in metrics.items()}


def _str(path: str | Path | None) -> str | None:
    return None if path is None else str(path)
