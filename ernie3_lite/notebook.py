"""What every course notebook sets up first, in one place: fast mode, seeds, threads, the font.

    from ernie3_lite.notebook import setup, show_source
    course = setup()          # FAST from ERNIE3_FAST, seed 0, one thread, the CJK font
    FAST, ROOT = course.fast, course.root
    WORK = course.work_dir("nb07")   # a temporary folder for the notebook's runs

* fast mode: ``ERNIE3_FAST=1`` (the default) keeps each notebook at about a minute on 2 cores,
  which is how nbval runs the course; ``ERNIE3_FAST=0`` runs the full-size versions;
* seeds (torch and random) and one torch thread: the checked outputs must not depend on the
  machine's core count;
* the CJK font (`viz.fonts.use_cjk_font`) so that Chinese in plots renders.

`show_source(obj)` prints the code of a package object: a notebook shows the file that runs,
never a pasted copy of it.
"""

from __future__ import annotations

import inspect
import os
import random
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ernie3_lite import PACKAGE_ROOT
from ernie3_lite.viz.fonts import use_cjk_font

__all__ = ["Course", "fast_mode", "setup", "show_source"]


def fast_mode() -> bool:
    """True unless ``ERNIE3_FAST=0``: the notebooks' fast mode (the default, and nbval's)."""
    return os.environ.get("ERNIE3_FAST", "1") == "1"


@dataclass
class Course:
    """What `setup` did: the fast-mode flag, the repository root, the font family in use."""

    fast: bool
    root: Path
    font: str | None
    _folders: list[tempfile.TemporaryDirectory] = field(default_factory=list, repr=False)

    def work_dir(self, name: str) -> Path:
        """A fresh temporary folder for a notebook's runs and checkpoints (``ernie3_<name>_``);
        removed by `cleanup` or when the kernel exits."""
        folder = tempfile.TemporaryDirectory(prefix=f"ernie3_{name}_")
        self._folders.append(folder)
        return Path(folder.name)

    def cleanup(self) -> None:
        """Remove every folder `work_dir` made (a notebook's last cell)."""
        while self._folders:
            self._folders.pop().cleanup()


def setup(*, seed: int = 0, threads: int = 1, cjk_font: bool = True) -> Course:
    """Seed torch and random, use `threads` torch threads and (by default) the CJK font."""
    torch.manual_seed(seed)
    random.seed(seed)
    torch.set_num_threads(threads)
    family = use_cjk_font() if cjk_font else None
    return Course(fast=fast_mode(), root=PACKAGE_ROOT.parent, font=family)


def show_source(obj: object) -> None:
    """Print the source of a package function, class or method as it runs."""
    print(inspect.getsource(obj))
