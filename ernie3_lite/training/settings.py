"""Settings that pre-training and fine-tuning resolve the same way: the model config from a
preset plus overrides, which parameters get weight decay (ERNIE 3.0 §3.3.3: Adam with weight
decay 0.01), the per-task loss weights, and the steps on which values are logged.
"""

from __future__ import annotations

import math
from typing import Any

import lightning as L
from torch import Tensor

from ernie3_lite.config import STACK_NAMES, ConfigError, Ernie3Config
from ernie3_lite.training.multitask import TASKS


def resolve_config(*, config: Ernie3Config | dict[str, Any] | None, preset: str,
                   config_overrides: dict[str, Any] | None, vocab_size: int | None,
                   sr_max_segments: int | None) -> Ernie3Config:
    """`config` (or else the `preset`), then `config_overrides`, then the two linked sizes.

    A dict override of a stack (``{"nlg": {"n_layer": 4}}``) updates only the keys it names.
    """
    if config is None:
        values = Ernie3Config.from_name(preset).to_dict()
    else:
        values = config.to_dict() if isinstance(config, Ernie3Config) else dict(config)
    linked = {"vocab_size": vocab_size, "sr_max_segments": sr_max_segments}
    overrides = {**(config_overrides or {}), **{k: v for k, v in linked.items() if v is not None}}
    for key, value in overrides.items():
        if key in STACK_NAMES and isinstance(value, dict):
            value = {**values[key], **value}
        values[key] = value
    return Ernie3Config.from_dict(values)


def check_optimizer(owner: str, *, lr: Any, weight_decay: Any = 0.0,
                    betas: Any = (0.9, 0.999), eps: Any = 1e-8) -> None:
    """AdamW's numbers, checked where they are given (`ConfigError` naming ``owner.<field>``).

    torch refuses a negative lr only when the optimizer is built, after the data has been read
    and segmented, with a traceback that names no field; and lr 0 it trains with silently.
    """
    def number(value: Any) -> bool:
        return isinstance(value, int | float) and not isinstance(value, bool) and \
            math.isfinite(value)

    if not (number(lr) and lr > 0):
        raise ConfigError(f"{owner}.lr", f"={lr!r} must be a finite number > 0")
    if not (number(weight_decay) and weight_decay >= 0):
        raise ConfigError(f"{owner}.weight_decay", f"={weight_decay!r} must be a finite number "
                          ">= 0")
    if not (number(eps) and eps > 0):
        raise ConfigError(f"{owner}.eps", f"={eps!r} must be a finite number > 0")
    pair = tuple(betas) if isinstance(betas, list | tuple) else ()
    if len(pair) != 2 or not all(number(b) and 0 <= b < 1 for b in pair):
        raise ConfigError(f"{owner}.betas", f"={betas!r} must be two numbers in [0, 1)")


def check_steps(owner: str, *, warmup_steps: Any = 0, max_steps: Any = None) -> None:
    """warmup_steps an int >= 0; max_steps None (the trainer's) or an int >= 1."""
    for name, value, minimum in (("warmup_steps", warmup_steps, 0), ("max_steps", max_steps, 1)):
        if name == "max_steps" and value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ConfigError(f"{owner}.{name}", f"={value!r} must be an int >= {minimum}")


def uses_weight_decay(name: str, param: Tensor) -> bool:
    """Decay matrices (linear weights, embeddings); not biases, LayerNorms or TXL's u/v.

    1-D parameters are biases and LayerNorm gains; ``r_w_bias``/``r_r_bias`` (u, v of
    Transformer-XL §3.3) are 2-D but are biases of the attention score, so the name decides.
    """
    return param.ndim >= 2 and not name.endswith("bias")


def complete_task_weights(task_weights: dict[str, float] | None, *,
                          owner: str = "Ernie3PretrainModule") -> dict[str, float]:
    """Every task's weight (ERNIE 3.0 §3.2: the loss is the weighted sum of the five tasks'),
    1.0 unless given. Unknown names, a weight that is not a finite number >= 0, and weights
    that leave no task above 0 raise ValueError naming ``owner.task_weights``. The one check
    of the module and the data module (the CLI links the two)."""
    weights = dict(task_weights or {})
    unknown = sorted(set(weights) - set(TASKS))
    if unknown:
        raise ValueError(f"{owner}.task_weights has unknown tasks {unknown}; tasks are {TASKS}")
    for task, w in weights.items():
        if isinstance(w, bool) or not isinstance(w, int | float) or not math.isfinite(w) or w < 0:
            raise ValueError(f"{owner}.task_weights[{task!r}]={w!r} must be a finite number >= 0")
    resolved = {t: float(weights.get(t, 1.0)) for t in TASKS}
    if not any(resolved.values()):
        raise ValueError(f"{owner}.task_weights={weights} must leave at least one task above 0")
    return resolved


def is_logging_step(trainer: L.Trainer | None) -> bool:
    """True on the optimizer steps whose values reach the loggers (every
    ``trainer.log_every_n_steps``-th, starting at step 0); always without a trainer."""
    if trainer is None:
        return True
    return trainer.global_step % max(trainer.log_every_n_steps, 1) == 0
