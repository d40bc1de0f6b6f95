"""`FinetuneModule`: what the three fine-tuning LightningModules share.

ERNIE 3.0 (arXiv 2107.02137 §3.1) fine-tunes one pre-trained network per downstream task: NLU
tasks read the universal module and the NLU module, generation reads the universal module and
the causal NLG module. Each task module here wraps an `Ernie3Model` and adds at most one head;
this base class builds (or loads) that model, decides which parameters train, and sets up AdamW
with linear warm-up and decay, as pre-training does (`ernie3_lite.training.module`).

``freeze_universal=True`` is the paper's cheap-deployment setting (§3.1: "the universal
representation module is ... frozen; only the task-specific representation module is
fine-tuned"; §4): the token embeddings and the universal stack get ``requires_grad=False`` and
never reach the optimizer, so they stay bit-identical however long training runs. The
projection between universal and task width (`nlu_proj` / `nlg_proj`) belongs to the task
module and trains. Modules a task never reaches (the NLG side for NLU tasks, the pre-training
heads) are frozen too: they would get no gradient, which DDP refuses.

Evaluation metrics are sums of counts (`metrics.SpanCounts`, correct/total, ROUGE sum/count):
each eval step adds to a tensor, the epoch end sums it over devices and only then divides.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, ClassVar

import lightning as L
import torch
from torch import Tensor, nn

from ernie3_lite import PRETRAINED_NANO
from ernie3_lite.config import PRESETS, Ernie3Config
from ernie3_lite.data.masking import IGNORE_INDEX
from ernie3_lite.model.ernie3 import TOP_LEVEL_MODULES, Ernie3Model
from ernie3_lite.tokenization import CharTokenizer
from ernie3_lite.training.schedule import warmup_linear_decay
from ernie3_lite.training.settings import (
    check_optimizer,
    check_steps,
    resolve_config,
    uses_weight_decay,
)

#: the universal representation module in the paper's sense: the shared input layer and stack
UNIVERSAL_MODULES = ("embeddings", "universal")
#: the `Ernie3Model` modules each paradigm's forward pass reaches (heads of the task excluded)
REACHED_MODULES = {"nlu": ("embeddings", "universal", "nlu_proj", "nlu"),
                   "nlg": ("embeddings", "universal", "nlg_proj", "nlg", "lm_head")}


def reached_modules(config: Ernie3Config, paradigm: str) -> tuple[str, ...]:
    """`REACHED_MODULES`; with ``share_task_modules`` (an ablation) the NLG path runs the NLU
    stack and projection, and the model has no `nlg` / `nlg_proj`."""
    names = REACHED_MODULES[paradigm]
    if getattr(config, "share_task_modules", False):
        names = tuple({"nlg_proj": "nlu_proj", "nlg": "nlu"}.get(n, n) for n in names)
    return names


class FinetuneModule(L.LightningModule):
    """Fine-tune an `Ernie3Model` on one task (subclasses set `task`, `paradigm`, the head).

    Args:
        pretrained: a `save_pretrained` folder (config.json, model.safetensors, vocab.txt) whose
            weights start the run; default the shipped `nano`. None: from scratch (`preset`).
        preset: `Ernie3Config` preset used when `pretrained` is None.
        config: a full resolved config (what checkpoints store): build this model and load no
            weights (`load_from_checkpoint` fills them in). Overrides `pretrained`/`preset`.
        config_overrides: fields replaced on top of the pretrained or preset config (e.g.
            ``{dropout: 0.2}``); with `pretrained` they must not change a weight's shape.
        vocab_file: the tokenizer's vocab.txt; default ``<pretrained>/vocab.txt``. Needed for a
            model from scratch (its vocab_size is this file's).
        freeze_universal: train only the task-specific module and the head (§3.1, §4).
        lr, weight_decay, betas, eps: AdamW (biases, LayerNorm gains and u/v not decayed).
        warmup_ratio: share of the optimizer steps spent warming the learning rate up.
        max_steps: end of the linear decay; None = the trainer's ``estimated_stepping_batches``.
    """

    task: ClassVar[str] = ""
    paradigm: ClassVar[str] = "nlu"

    def __init__(self, pretrained: str | None = str(PRETRAINED_NANO), preset: str = "nano",
                 config: dict[str, Any] | None = None,
                 config_overrides: dict[str, Any] | None = None, vocab_file: str | None = None,
                 freeze_universal: bool = False, lr: float = 1e-3, weight_decay: float = 0.01,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 warmup_ratio: float = 0.1, max_steps: int | None = None) -> None:
        super().__init__()
        name = type(self).__name__
        if not (isinstance(lr, int | float) and lr > 0 and math.isfinite(lr)):
            raise ValueError(f"{name}.lr={lr!r} must be a positive number")
        check_optimizer(name, lr=lr, weight_decay=weight_decay, betas=betas, eps=eps)
        check_steps(name, max_steps=max_steps)
        if not 0.0 <= warmup_ratio < 1.0:
            raise ValueError(f"{name}.warmup_ratio={warmup_ratio!r} must be in [0, 1)")
        if config is None and pretrained is not None and \
                not (Path(pretrained) / "config.json").is_file():
            raise FileNotFoundError(f"{name}.pretrained={str(pretrained)!r}: no config.json "
                                    "there (a folder written by Ernie3Model.save_pretrained)")
        self.tokenizer = _tokenizer(vocab_file, pretrained, needed=config is None, owner=name)
        self.model = _build_model(pretrained=pretrained, preset=preset, config=config,
                                  overrides=config_overrides, tokenizer=self.tokenizer,
                                  owner=name)
        # checkpoints keep the resolved config, so `load_from_checkpoint` rebuilds exactly this
        # model without the pretrained folder (as `Ernie3PretrainModule` does)
        self.save_hyperparameters()
        self.hparams["config"] = self.model.config.to_dict()
        self._eval_sums: Tensor | None = None
        self.set_trainable()  # the head a subclass adds later is outside `model`: it trains

    @property
    def config(self) -> Ernie3Config:
        return self.model.config

    # ---- which parameters train
    def set_trainable(self) -> None:
        """requires_grad per top-level module: reached by this task's path, and not frozen by
        `freeze_universal`; every parameter outside `model` (the head) trains."""
        reached = reached_modules(self.config, self.paradigm)
        frozen = UNIVERSAL_MODULES if self.hparams.freeze_universal else ()
        for name in TOP_LEVEL_MODULES:
            if hasattr(self.model, name):  # a shared-task-module model has no `nlg`
                getattr(self.model, name).requires_grad_(name in reached and name not in frozen)

    def trainable_parameters(self) -> dict[str, nn.Parameter]:
        return {n: p for n, p in self.named_parameters() if p.requires_grad}

    # ---- hidden states of the task's path (ERNIE 3.0 §3.1)
    def nlu_hidden(self, batch: dict[str, Any]) -> Tensor:
        """Universal + NLU module, bidirectional: (B, T, d_nlu)."""
        return self.model.forward_nlu(batch["input_ids"], attention_mask=batch["attention_mask"],
                                      token_type_ids=batch.get("token_type_ids"),
                                      task_type_ids=batch.get("task_type_ids")).hidden

    # ---- evaluation: per-step sums, per-epoch metrics
    def eval_sums(self, batch: dict[str, Any]) -> tuple[Tensor, Tensor]:
        """(loss, a 1-D tensor of sums that add over batches); subclasses implement it."""
        raise NotImplementedError

    def metrics_from_sums(self, sums: Tensor) -> dict[str, float]:
        """Epoch metrics ({"acc": ...}) from the summed `eval_sums` of every batch and device."""
        raise NotImplementedError

    def _eval_step(self, batch: dict[str, Any], stage: str) -> Tensor:
        loss, sums = self.eval_sums(batch)
        self._eval_sums = sums if self._eval_sums is None else self._eval_sums + sums
        # the loss is a mean over labelled positions (tokens for NER and headlines): weigh each
        # batch by its count, so the epoch value does not depend on how examples were batched
        targets = int((batch["labels"] != IGNORE_INDEX).sum())
        self.log(f"{stage}/loss", loss, on_epoch=True, batch_size=max(targets, 1))
        return loss

    def _eval_epoch_end(self, stage: str) -> None:
        if self._eval_sums is None:
            return
        sums = self.trainer.strategy.reduce(self._eval_sums, reduce_op="sum")
        self._eval_sums = None
        for key, value in self.metrics_from_sums(sums).items():
            self.log(f"{stage}/{key}", value, on_epoch=True)

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> Tensor:
        return self._eval_step(batch, "val")

    def test_step(self, batch: dict[str, Any], batch_idx: int) -> Tensor:
        return self._eval_step(batch, "test")

    def on_validation_epoch_start(self) -> None:
        self._eval_sums = None

    on_test_epoch_start = on_validation_epoch_start

    def on_validation_epoch_end(self) -> None:
        self._eval_epoch_end("val")

    def on_test_epoch_end(self) -> None:
        self._eval_epoch_end("test")

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> Tensor:
        loss = self.loss(batch)
        self.log("train/loss", loss, prog_bar=True, batch_size=batch["input_ids"].size(0))
        return loss

    def loss(self, batch: dict[str, Any]) -> Tensor:
        raise NotImplementedError

    # ---- optimisation: AdamW, linear warm-up then linear decay (as in pre-training)
    def configure_optimizers(self) -> dict[str, Any]:
        hp = self.hparams
        groups: dict[bool, list[nn.Parameter]] = {True: [], False: []}
        for name, param in self.trainable_parameters().items():
            groups[uses_weight_decay(name, param)].append(param)
        optimizer = torch.optim.AdamW(
            [{"params": groups[True], "weight_decay": hp.weight_decay},
             {"params": groups[False], "weight_decay": 0.0}],
            lr=hp.lr, betas=tuple(hp.betas), eps=hp.eps)
        total = self._total_steps()
        factor = warmup_linear_decay(warmup_steps=int(hp.warmup_ratio * total), max_steps=total)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda=factor)
        return {"optimizer": optimizer,
                "lr_scheduler": {"scheduler": scheduler, "interval": "step", "name": "lr"}}

    def _total_steps(self) -> int:
        if self.hparams.max_steps is not None:
            return max(int(self.hparams.max_steps), 1)
        total = self.trainer.estimated_stepping_batches
        if not math.isfinite(total):
            raise ValueError("set trainer.max_steps or trainer.max_epochs: the linear decay "
                             "needs the number of optimizer steps")
        return max(int(total), 1)

    # ---- checkpoints carry the vocabulary, so a checkpoint alone can be evaluated
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["vocab"] = self.tokenizer.tokens if self.tokenizer is not None else None
        checkpoint["finetune_task"] = self.task

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        if checkpoint.get("vocab"):
            self.tokenizer = CharTokenizer(checkpoint["vocab"])


def _tokenizer(vocab_file: str | None, pretrained: str | None, *, needed: bool,
               owner: str) -> CharTokenizer | None:
    """The vocab_file's tokenizer, else the pretrained folder's; None only when a checkpoint
    will restore it (`config` given)."""
    if vocab_file is None and pretrained is not None:
        vocab_file = str(Path(pretrained) / "vocab.txt")
    if vocab_file is None:
        if needed:
            raise ValueError(f"{owner}.vocab_file is needed when pretrained=None (the model's "
                             "vocab_size is its number of tokens)")
        return None
    if not Path(vocab_file).is_file():
        if not needed:
            return None
        field = "vocab_file" if pretrained is None else "pretrained"
        raise FileNotFoundError(f"{owner}.{field}: no vocabulary file {vocab_file}")
    return CharTokenizer.from_file(vocab_file)


def _build_model(*, pretrained: str | None, preset: str, config: dict[str, Any] | None,
                 overrides: dict[str, Any] | None, tokenizer: CharTokenizer | None,
                 owner: str) -> Ernie3Model:
    """The resolved config's model, with the pretrained weights when there are any."""
    if config is not None:
        return Ernie3Model(Ernie3Config.from_dict(config))
    if pretrained is None:
        if preset not in PRESETS:
            raise ValueError(f"{owner}.preset={preset!r} is not a preset; choose one of "
                             f"{sorted(PRESETS)}")
        resolved = resolve_config(config=None, preset=preset, config_overrides=overrides,
                                  vocab_size=tokenizer.vocab_size, sr_max_segments=None)
        return Ernie3Model(resolved)
    # `from_pretrained` returns eval mode, and Lightning keeps a module's mode at `fit`: back to
    # train mode, or fine-tuning would run without dropout
    start = Ernie3Model.from_pretrained(pretrained).train()
    if tokenizer is not None and tokenizer.vocab_size != start.config.vocab_size:
        raise ValueError(f"{owner}.vocab_file has {tokenizer.vocab_size} tokens but the "
                         f"pretrained model {start.config.vocab_size}")
    if not overrides:
        return start
    resolved = resolve_config(config=start.config, preset=preset, config_overrides=overrides,
                              vocab_size=None, sr_max_segments=None)
    model = Ernie3Model(resolved)
    model.load_state_dict(start.state_dict())  # a shape change fails here, naming the tensor
    return model
