"""`CheckpointError`: a checkpoint (a ``.ckpt`` file or a torch.distributed.checkpoint folder) that
is refused, unreadable or unsafe, with the path in its one-line message.

A module of its own so that the model layer (`model.dcp_metadata`, `model.pretrained`) and the
training layer (`training.checkpoint_io`, `training.resume`) raise the same type without either
importing the other.
"""

from __future__ import annotations

import os


class CheckpointError(ValueError):
    """`path`: the file or folder; `reason`: what is wrong with it."""

    def __init__(self, path: str | os.PathLike, reason: str):
        self.path, self.reason = str(path), reason
        super().__init__(f"{self.path}: {reason}")


def error_line(error: BaseException) -> str:
    """One informative line of an exception's message: torch's weights-only refusal runs to six
    lines, and the one that matters names the global it refused."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    named = [line for line in lines if "global" in line.lower()]
    return (named or lines or [type(error).__name__])[0][:300]
