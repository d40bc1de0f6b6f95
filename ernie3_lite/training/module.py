"""`Ernie3PretrainModule`: the five ERNIE 3.0 pre-training losses on one `Ernie3Model`.

ERNIE 3.0 (arXiv 2107.02137 §3.2) trains one network on five tasks at once. Each batch holds
one micro-batch per task (see the batch contract in `datamodule.py`), and the step loss is
``sum_t w_t * loss_t`` over the tasks present:

| task | path          | head                       | loss                           |
|------|---------------|----------------------------|--------------------------------|
| kmlm | `forward_nlu` | `mlm_logits`               | CE on masked tokens (§3.2.1)   |
| uktp | `forward_nlu` | `mlm_logits`               | CE on masked tokens (§3.2.3)   |
| sr   | `forward_nlu` | `sentence_reorder_logits`  | CE over k permutations (§3.2.2)|
| sd   | `forward_nlu` | `sentence_distance_logits` | CE over 3 classes (§3.2.2)     |
| dlm  | `forward_nlg` | `lm_logits`                | CE on next tokens (§3.2.1)     |

The document LM reads its streams segment after segment, so its recurrence memory lives here,
outside the parameters: one `Ernie3Memory` per stage, dropped when a batch says ``reset``. The
training memory goes into checkpoints (``checkpoint["dlm_memory"]``) so that a resumed run
continues exactly where the killed one stopped.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ernie3_lite.config import Ernie3Config
from ernie3_lite.data.masking import IGNORE_INDEX
from ernie3_lite.model.attention import RelMultiHeadAttention
from ernie3_lite.model.ernie3 import Ernie3Model
from ernie3_lite.model.memory import Ernie3Memory
from ernie3_lite.training.multitask import TASKS
from ernie3_lite.training.parallel import (
    data_parallel_coordinates,
    freeze_unreached,
    parallelize,
)
from ernie3_lite.training.schedule import warmup_linear_decay
from ernie3_lite.training.settings import (
    check_optimizer,
    check_steps,
    complete_task_weights,
    is_logging_step,
    resolve_config,
    uses_weight_decay,
)

#: the two [CLS] classification tasks and the `Ernie3Model` method that scores each
_CLASSIFIERS = {"sr": "sentence_reorder_logits", "sd": "sentence_distance_logits"}
TaskResult = tuple[Tensor, Tensor, int]  # (mean loss, accuracy, number of predictions)
NAME = "Ernie3PretrainModule"


class Ernie3PretrainModule(L.LightningModule):
    """Multi-task pre-training of `Ernie3Model` (ERNIE 3.0 §3.2, settings §3.3.3).

    Args:
        config: a full `Ernie3Config` (or its dict); when given, `preset` is not used.
        preset: name of an `Ernie3Config` preset, used when `config` is None.
        config_overrides: fields replaced on top of `config`/`preset` (e.g. ``{dropout: 0.1}``).
        vocab_size, sr_max_segments: replace the config's (link them from the datamodule).
        task_weights: w_t per task name, default 1.0 each; 0 keeps a task's loss logged but
            out of the optimised sum.
        lr, betas, eps, weight_decay: AdamW; the paper's Adam 0.9/0.999, decay 0.01, lr 1e-4.
        warmup_steps: linear warm-up length (10,000 in the paper).
        max_steps: end of the linear decay; None = the trainer's ``estimated_stepping_batches``
            (``trainer.max_steps`` when set).
    """

    def __init__(self, config: Ernie3Config | dict[str, Any] | None = None, preset: str = "nano",
                 config_overrides: dict[str, Any] | None = None, vocab_size: int | None = None,
                 sr_max_segments: int | None = None,
                 task_weights: dict[str, float] | None = None, lr: float = 1e-4,
                 weight_decay: float = 0.01, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, warmup_steps: int = 10_000,
                 max_steps: int | None = None) -> None:
        super().__init__()
        check_optimizer(NAME, lr=lr, weight_decay=weight_decay, betas=betas, eps=eps)
        check_steps(NAME, warmup_steps=warmup_steps, max_steps=max_steps)
        resolved = resolve_config(config=config, preset=preset, config_overrides=config_overrides,
                                  vocab_size=vocab_size, sr_max_segments=sr_max_segments)
        self.task_weights = complete_task_weights(task_weights)
        # checkpoints keep the resolved config as a plain dict: weights_only-loadable, and
        # `load_from_checkpoint` rebuilds exactly this model from it. `save_hyperparameters`
        # reads __init__'s locals (LightningCLI hands it the parsed ones: set it again after)
        config = resolved.to_dict()
        self.save_hyperparameters()
        self.hparams["config"] = config
        self.model = Ernie3Model(resolved)
        self._memory: dict[str, Ernie3Memory | None] = {"train": None, "val": None, "test": None}

    @property
    def config(self) -> Ernie3Config:
        return self.model.config

    def forward(self, input_ids: Tensor, *, paradigm: str = "nlu", **kwargs: Any) -> Any:
        """Inference only: `Ernie3Model.forward` (``paradigm`` "nlu" or "nlg")."""
        return self.model(input_ids, paradigm=paradigm, **kwargs)

    # ---- losses
    def task_losses(self, batch: dict[str, dict[str, Any]], *,
                    stage: str) -> dict[str, TaskResult]:
        """(loss, accuracy, count) per task present in `batch`; `stage` picks the DLM memory."""
        unknown = set(batch) - set(TASKS)
        if unknown or not batch:
            raise ValueError(f"batch tasks {sorted(batch)} must be a non-empty subset of {TASKS}")
        results = {}
        for task in (t for t in TASKS if t in batch):
            inputs = batch[task]
            if task == "dlm":
                results[task] = self._document_lm(inputs, stage=stage)
            elif task in _CLASSIFIERS:
                head = getattr(self.model, _CLASSIFIERS[task])
                logits = head(self._nlu_hidden(inputs))  # (B, classes) from [CLS]
                results[task] = _cross_entropy(logits, inputs["labels"])
            else:
                results[task] = self._token_loss(self._nlu_hidden(inputs), inputs["labels"],
                                                 self.model.mlm_logits)
        return results

    def _nlu_hidden(self, inputs: dict[str, Tensor]) -> Tensor:
        return self.model.forward_nlu(
            inputs["input_ids"], attention_mask=inputs.get("attention_mask"),
            token_type_ids=inputs.get("token_type_ids"),
            task_type_ids=inputs.get("task_type_ids")).hidden  # (B, T, d_nlu)

    @staticmethod
    def _token_loss(hidden: Tensor, labels: Tensor, head: Any) -> TaskResult:
        # V-wide logits only where a label is (~15% of MLM tokens); the boolean index costs one
        # host sync on GPU, far cheaper than a (B, T, V) logits tensor at V = 40k
        selected = labels != IGNORE_INDEX  # (B, T)
        return _cross_entropy(head(hidden[selected]), labels[selected])  # (N, V), (N,)

    def _document_lm(self, inputs: dict[str, Any], *, stage: str) -> TaskResult:
        """Next-token loss of one segment per stream row, reading and updating the memory."""
        input_ids = inputs["input_ids"]  # (B, L)
        memory = None if bool(inputs.get("reset", False)) else self._memory[stage]
        if memory is not None:
            rows = memory.universal[0].size(0)
            if rows != input_ids.size(0):
                raise ValueError(f"DLM batch has {input_ids.size(0)} rows but the {stage} memory "
                                 f"{rows}: a new stream layout must start with reset=True")
            memory = _memory_to(memory, input_ids.device)
        out = self.model.forward_nlg(input_ids, memory=memory,
                                     attention_mask=inputs.get("attention_mask"),
                                     task_type_ids=inputs.get("task_type_ids"))
        self._memory[stage] = out.new_memory  # detached by `update_memory`: no graph crosses
        return self._token_loss(out.hidden, inputs["labels"], self.model.lm_logits)

    def _step(self, batch: dict[str, dict[str, Any]], *, stage: str) -> Tensor:
        results = self.task_losses(batch, stage=stage)
        total = sum(self.task_weights[task] * loss for task, (loss, _, _) in results.items())
        on_epoch = stage != "train"  # per-step curves in training, epoch means elsewhere
        log = dict(on_step=not on_epoch, on_epoch=on_epoch, sync_dist=on_epoch)
        # each self.log costs ~0.3 ms on the host: training values only on the steps the
        # trainer writes to its loggers (log_every_n_steps; the progress bar keeps the last)
        if on_epoch or is_logging_step(self._trainer):
            for task, (loss, accuracy, count) in results.items():
                self.log(f"{stage}/{task}_loss", loss, batch_size=count, **log)
                self.log(f"{stage}/{task}_acc", accuracy, batch_size=count, **log)
            first = next(iter(batch.values()))["input_ids"].size(0)
            self.log(f"{stage}/loss", total, batch_size=first, prog_bar=True, **log)
        return total

    def training_step(self, batch: dict[str, dict[str, Any]], batch_idx: int) -> Tensor:
        return self._step(batch, stage="train")

    def validation_step(self, batch: dict[str, dict[str, Any]], batch_idx: int) -> Tensor:
        return self._step(batch, stage="val")

    def test_step(self, batch: dict[str, dict[str, Any]], batch_idx: int) -> Tensor:
        return self._step(batch, stage="test")

    def on_validation_epoch_start(self) -> None:
        self._memory["val"] = None  # the validation stream starts over every time

    def on_test_epoch_start(self) -> None:
        self._memory["test"] = None

    def on_before_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        # read `reset` while it is on the CPU: `bool()` of a GPU tensor would sync every step
        if isinstance(batch, dict) and isinstance(batch.get("dlm"), dict):
            reset = batch["dlm"].get("reset", False)
            batch = {**batch, "dlm": {**batch["dlm"], "reset": bool(reset)}}
        return batch

    # ---- progressive learning (ERNIE 3.0 §3.3.1)
    def set_dropout(self, p: float, *, dropatt: float | None = None) -> None:
        """Set every `nn.Dropout` to `p` and every attention's ``dropatt``.

        dropatt None ramps attention dropout with the rest: ``config.dropatt * p /
        config.dropout`` (``config.dropatt`` if config.dropout is 0), so the end of the
        progressive ramp (p = config.dropout) restores exactly the configured model.
        """
        if dropatt is None:
            ratio = p / self.config.dropout if self.config.dropout > 0 else 1.0
            dropatt = min(self.config.dropatt * ratio, 0.99)
        for name, value in (("p", p), ("dropatt", dropatt)):
            if not 0.0 <= value < 1.0:
                raise ValueError(f"{name}={value} must be in [0, 1)")
        for module in self.model.modules():
            if isinstance(module, nn.Dropout):
                module.p = p
            elif isinstance(module, RelMultiHeadAttention):
                module.dropatt = dropatt

    # ---- multi-device training (DDP, FSDP2, tensor parallel: see parallel.py)
    def configure_model(self) -> None:
        """Freeze what no weighted task trains (DDP needs a gradient for every trainable
        parameter), then shard `model` over the strategy's device mesh if it has one
        (ModelParallelStrategy)."""
        freeze_unreached(self.model, self.task_weights)
        if self.device_mesh is not None:
            parallelize(self.model, self.device_mesh)

    # ---- optimisation (ERNIE 3.0 §3.3.3)
    def configure_optimizers(self) -> dict[str, Any]:
        """AdamW with decoupled weight decay, linear warm-up then linear decay per step.

        The paper says Adam with L2 decay 0.01. Adding L2 to the gradient inside Adam divides it
        by sqrt(v), so weights with large gradients would be decayed less; AdamW (arXiv
        1711.05101) shrinks every decayed weight by lr * wd, as BERT's AdamWeightDecay does.
        Biases, LayerNorm gains (the embeddings have none) and u/v are not decayed.
        """
        hp = self.hparams
        groups: dict[bool, list[nn.Parameter]] = {True: [], False: []}
        for name, param in self.model.named_parameters():
            if param.requires_grad:
                groups[uses_weight_decay(name, param)].append(param)
        optimizer = torch.optim.AdamW(
            [{"params": groups[True], "weight_decay": hp.weight_decay},
             {"params": groups[False], "weight_decay": 0.0}],
            lr=hp.lr, betas=tuple(hp.betas), eps=hp.eps)
        factor = warmup_linear_decay(warmup_steps=hp.warmup_steps, max_steps=self._total_steps())
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda=factor)
        return {"optimizer": optimizer,
                "lr_scheduler": {"scheduler": scheduler, "interval": "step", "name": "lr"}}

    def _total_steps(self) -> int:
        if self.hparams.max_steps is not None:
            return int(self.hparams.max_steps)
        total = self.trainer.estimated_stepping_batches
        if not math.isfinite(total):
            raise ValueError("set trainer.max_steps or model.max_steps: the linear decay needs "
                             "the number of optimizer steps")
        return int(total)

    # ---- exact resume: the DLM memory travels in the checkpoint (plain tensors)
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Store the training DLM memory of each data-parallel rank as ``checkpoint["dlm_memory"]``.

        Each data-parallel rank reads its own streams, so ranks all-gather their memory (every
        rank calls this hook; rank 0 writes the file) and keep one row per data-parallel rank:
        per layer a (D, B, M, d) tensor. The ranks of a tensor-parallel group hold the same
        memory; Lightning's (D, T) mesh puts the first of group d at global rank d·T.
        """
        memory, world = self._memory["train"], self._world_size()
        if memory is None:
            checkpoint["dlm_memory"] = None
            return
        replicas = self._data_parallel_coordinates()[1]

        def gather(t: Tensor) -> Tensor:  # (B, M, d) -> (D, B, M, d), on the CPU
            rows = self.all_gather(t) if world > 1 else t.unsqueeze(0)  # (world, B, M, d)
            return rows[:: world // replicas].detach().cpu()

        checkpoint["dlm_memory"] = {"data_parallel_size": replicas,
                                    "universal": [gather(t) for t in memory.universal],
                                    "nlg": [gather(t) for t in memory.nlg]}

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        state = checkpoint.get("dlm_memory")
        rank, replicas = self._data_parallel_coordinates()
        self._memory["train"] = None
        if state is None:
            return
        saved = state.get("data_parallel_size", state.get("world_size"))  # older checkpoints
        if saved != replicas:
            warnings.warn(f"checkpoint DLM memory is from {saved} data-parallel ranks, this run "
                          f"has {replicas}: starting the document LM without memory", stacklevel=2)
            return
        self._memory["train"] = Ernie3Memory(universal=[t[rank] for t in state["universal"]],
                                             nlg=[t[rank] for t in state["nlg"]])

    def _world_size(self) -> int:
        return self._trainer.world_size if self._trainer is not None else 1

    def _data_parallel_coordinates(self) -> tuple[int, int]:
        """(rank, size) among the replicas that read different data (`parallel.py`)."""
        return data_parallel_coordinates(self._trainer) if self._trainer is not None else (0, 1)


def _cross_entropy(logits: Tensor, labels: Tensor) -> TaskResult:
    """logits (N, C), labels (N,) -> (mean CE, accuracy, N); 0 and 0 when N = 0 (no NaN)."""
    count = labels.numel()
    loss = F.cross_entropy(logits, labels, reduction="sum") / max(count, 1)
    accuracy = (logits.argmax(dim=-1) == labels).sum() / max(count, 1)
    return loss, accuracy.to(loss.dtype), count


def _memory_to(memory: Ernie3Memory, device: torch.device) -> Ernie3Memory:
    """A restored checkpoint's memory sits on the CPU until the first step uses it."""
    if memory.universal[0].device == device:
        return memory
    return Ernie3Memory(universal=[t.to(device) for t in memory.universal],
                        nlg=[t.to(device) for t in memory.nlg])
