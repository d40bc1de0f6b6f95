"""Which checkpoint a resumed run starts from: the one asked for if it is readable, else the
newest readable checkpoint beside it.

Checkpoints are written atomically now (`checkpoint_io.AtomicCheckpointIO`), but a ``last.ckpt``
written by an older version, copied half-way or cut by a full disk can still be truncated, and
Lightning then stops with a bare ``EOFError`` while an intact ``step<N>.ckpt`` sits beside it.
`resolve_resume` checks the file first (a ``.ckpt`` is a zip archive: its central directory and
every member's CRC are read, nothing is unpickled), says in one line what is wrong with it, and
falls back to the newest readable checkpoint in the same folder. With none, a `CheckpointError`
of one line.

A folder (``ModelParallelStrategy``'s torch.distributed.checkpoint) is verified by
`training.dcp_metadata.verify_dcp_folder` before Lightning touches it; a folder that fails is an
error, not a reason to fall back, since it may be a crafted one.
"""

from __future__ import annotations

import os
import re
import sys
import zipfile
from pathlib import Path

from ernie3_lite.errors import CheckpointError
from ernie3_lite.files import UnsafeFileError, check_regular_file
from ernie3_lite.training.dcp_metadata import verify_dcp_folder

_STEP = re.compile(r"step=?(\d+)")


def resolve_resume(ckpt_path: str | os.PathLike | None, *,
                   folder: str | os.PathLike | None = None) -> str | None:
    """The checkpoint to hand ``trainer.fit(ckpt_path=...)``.

    ckpt_path: a file, a DCP folder, None (no resume) or "last": as in Lightning, the newest
    ``last*.ckpt`` in `folder` (the ModelCheckpoint's dirpath; ``last-v1.ckpt`` appears when a
    resumed run finds ``last.ckpt`` there), else the newest step checkpoint; kept as "last" when
    there is none, so that Lightning starts from scratch with its usual warning. Other Lightning
    keywords pass through. Fallbacks are tried newest first.
    """
    if ckpt_path is None or str(ckpt_path) in ("best", "hpc", "registry"):
        return None if ckpt_path is None else str(ckpt_path)
    if str(ckpt_path) == "last":
        if folder is None or not Path(folder).is_dir():
            return "last"
        found = checkpoints(Path(folder))
        if not found:
            return "last"
        path = next((p for p in found if p.name.startswith("last")), found[0])
    else:
        path = Path(ckpt_path)
        if not path.exists():
            raise CheckpointError(path, "no such checkpoint")
    if path.is_dir():
        verify_dcp_folder(path)
        return str(path)
    problem = unreadable(path)
    if problem is None:
        return str(path)
    for candidate in checkpoints(path.parent, exclude=path):
        if unreadable(candidate) is None:
            _say(f"resume: {path} {problem}; resuming from {candidate} instead")
            return str(candidate)
    raise CheckpointError(path, f"{problem}, and no readable checkpoint is beside it")


def unreadable(path: Path) -> str | None:
    """Why the checkpoint file `path` cannot be loaded (None if it looks whole)."""
    try:
        size = check_regular_file(path)
    except FileNotFoundError:
        return "does not exist"
    except UnsafeFileError as error:
        return error.reason
    if size == 0:
        return "is empty (0 bytes)"
    try:
        with zipfile.ZipFile(path) as archive:
            broken = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        return f"is unreadable ({size} bytes, truncated? {error})"
    if broken is not None:
        return f"is corrupt (member {broken} fails its CRC)"
    return None


def checkpoints(folder: Path, *, exclude: Path | None = None) -> list[Path]:
    """The ``last*.ckpt`` and step checkpoint files of `folder`, newest first (then highest
    step: a step checkpoint and last.ckpt of the same step are written in the same second)."""
    if not folder.is_dir():
        return []
    found = []
    for path in folder.glob("*.ckpt"):
        match = _STEP.search(path.stem)
        if (match or path.name.startswith("last")) and path.is_file() and (
                exclude is None or path.resolve() != exclude.resolve()):
            found.append((path.stat().st_mtime, int(match.group(1)) if match else -1, path))
    return [path for *_, path in sorted(found, reverse=True)]


def _say(message: str) -> None:
    """One line on stderr, from the first process only (every rank resolves the same path)."""
    if os.environ.get("LOCAL_RANK", "0") == "0" and os.environ.get("NODE_RANK", "0") == "0":
        sys.stderr.write(message + "\n")
