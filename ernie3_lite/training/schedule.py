"""Learning-rate schedule of ERNIE 3.0 pre-training: linear warm-up, then linear decay.

ERNIE 3.0 (arXiv 2107.02137 §3.3.3) warms the learning rate up over the first 10,000 steps to
a 1e-4 peak, then decays it linearly. The schedule is a pure function of the step so that it can be
plotted, tested and handed to `torch.optim.lr_scheduler.LambdaLR` as a multiplier of the peak.

Step ``s`` counts optimizer updates already done, so ``lr_factor(s)`` is the factor for update
number ``s + 1`` (`LambdaLR` evaluates it at 0 before the first update). I start the warm-up at
``1 / warmup_steps`` rather than 0, so no update is wasted with a zero learning rate:

    s < W:       (s + 1) / W           1/W, 2/W, ..., 1      (W = warmup_steps)
    W <= s < T:  (T - s) / (T - W)     1, ..., 1/(T - W)     (T = max_steps)
    s >= T:      0
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial


def lr_factor(step: int, *, warmup_steps: int, max_steps: int) -> float:
    """Multiplier of the peak learning rate before update ``step + 1`` (see module docstring)."""
    check_schedule(warmup_steps=warmup_steps, max_steps=max_steps)
    if step < 0:
        raise ValueError(f"step={step} must be >= 0")
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    if step >= max_steps:
        return 0.0
    return (max_steps - step) / (max_steps - warmup_steps)


def check_schedule(*, warmup_steps: int, max_steps: int) -> None:
    """Raise ValueError unless 0 <= warmup_steps < max_steps (the decay needs >= 1 step)."""
    if warmup_steps < 0:
        raise ValueError(f"warmup_steps={warmup_steps} must be >= 0")
    if max_steps <= warmup_steps:
        raise ValueError(f"max_steps={max_steps} must be > warmup_steps={warmup_steps}: "
                         "the learning rate would never finish warming up")


def warmup_linear_decay(*, warmup_steps: int, max_steps: int) -> Callable[[int], float]:
    """`lr_factor` with its sizes bound, for `LambdaLR(optimizer, lr_lambda=...)`.

    A `functools.partial` rather than a closure: it pickles (spawned processes), shows its
    sizes in ``.keywords``, and `LambdaLR.state_dict` stores only its empty ``__dict__``, so
    the checkpoint stays plain data for ``torch.load(weights_only=True)``.
    """
    check_schedule(warmup_steps=warmup_steps, max_steps=max_steps)
    return partial(lr_factor, warmup_steps=warmup_steps, max_steps=max_steps)
