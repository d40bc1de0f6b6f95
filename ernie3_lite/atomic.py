"""Writing files and folders so that a crash or a full disk never leaves a half-written one.

A file is written to a temporary name in the SAME folder, flushed to disk (fsync), given the
mode a plain ``open`` would give it (0666 minus the umask; ``mkstemp`` alone makes it 0600), and
renamed over the target. A rename within one filesystem is atomic, so a reader sees the old file
or the new one, never a mixture; a temporary file in ``$TMPDIR`` would not do, since moving it
across filesystems is a copy that a kill interrupts. The folder's entry is fsynced too, so the
rename itself survives a power cut.

A folder (a pretrained export) is written aside, in a sibling temporary folder, and swapped in
with two renames: the old folder moves to a sibling name, the new one takes its place, the old one
is deleted. Until the swap the old folder is untouched; the swap's window is the instant between
two renames, and a failure there puts the old folder back. Stdlib only (the bottom layer).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO


def umask() -> int:
    """The process umask, read from /proc where there is one (no change, so no race with other
    threads), else set and restored."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    old = os.umask(0o022)
    os.umask(old)
    return old


def default_mode(*, folder: bool = False) -> int:
    """The mode ``open`` (0666) or ``mkdir`` (0777) would give a new entry under the umask."""
    return (0o777 if folder else 0o666) & ~umask()


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "wb", *,
                encoding: str | None = None) -> Iterator[IO]:
    """A file object whose contents replace `path` when the block ends without an error.

    On an error (or a kill) the target is untouched and the temporary file is removed (a kill
    leaves ``.<name>.*.tmp`` beside the target, never in $TMPDIR).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode, encoding=encoding, newline="\n" if "b" not in mode else None) as f:
            yield f
            f.flush()
            os.fchmod(f.fileno(), default_mode())
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    fsync_folder(path.parent)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_open(path, "wb") as f:
        f.write(data)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_open(path, "w", encoding="utf-8") as f:
        f.write(text)


def fsync_folder(folder: str | os.PathLike) -> None:
    """Flush a folder's entries (a rename) to disk; a no-op where folders cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def replace_folder(target: str | os.PathLike) -> Iterator[Path]:
    """A new empty sibling folder to fill; when the block ends without an error it replaces
    `target`. Entries of the old `target` the block did not write are copied over (saving
    without a tokenizer keeps the vocab.txt already there, as writing in place did).

    On an error the sibling is deleted and `target` is as it was.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    new = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".new"))
    try:
        os.chmod(new, default_mode(folder=True))
        yield new
        if target.is_dir():
            _carry_over(target, new)
        _swap(new, target)
    except BaseException:
        shutil.rmtree(new, ignore_errors=True)
        raise


def _carry_over(old: Path, new: Path) -> None:
    for entry in old.iterdir():
        if not (new / entry.name).exists() and not entry.is_symlink():
            if entry.is_dir():
                shutil.copytree(entry, new / entry.name)
            elif entry.is_file():
                shutil.copy2(entry, new / entry.name)


def _swap(new: Path, target: Path) -> None:
    """Rename `new` to `target`; an existing `target` is moved aside first and deleted after."""
    if not target.exists():
        os.replace(new, target)
        fsync_folder(target.parent)
        return
    old = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".old"))
    os.rmdir(old)  # only its unique name is wanted: rename needs an absent (or empty) target
    os.replace(target, old)
    try:
        os.replace(new, target)
    except BaseException:
        os.replace(old, target)
        raise
    fsync_folder(target.parent)
    shutil.rmtree(old, ignore_errors=True)
