"""Pre-training with Lightning (ERNIE 3.0 arXiv 2107.02137 §3.2–3.3).

`Ernie3DataModule` serves one micro-batch of each of the five tasks per step,
`Ernie3PretrainModule` wraps `Ernie3Model` (no layers of its own) and computes the mixed
auto-encoding + auto-regressive loss, `ProgressiveLearning` ramps sequence length, batch size,
learning rate and dropout together over the first steps. This is the only floor (with `cli.py`)
that imports Lightning.
"""

from ernie3_lite.training.datamodule import Ernie3DataModule
from ernie3_lite.training.module import Ernie3PretrainModule
from ernie3_lite.training.multitask import TASKS
from ernie3_lite.training.progressive import ProgressiveLearning

__all__ = ["TASKS", "Ernie3DataModule", "Ernie3PretrainModule", "ProgressiveLearning"]
