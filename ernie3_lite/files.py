"""Reading a file someone handed us: regular files only, and never more bytes than it may hold.

A pretrained folder or a data folder may come from anywhere. ``Path.read_text`` follows a
``config.json`` symlinked to ``/dev/zero`` and reads until memory runs out, and ``open`` on a FIFO
named ``model.safetensors`` blocks forever waiting for a writer. So the readers of such folders
check first that the path (after symlinks) is a regular file, and read at most `limit` bytes: a
larger file is refused by its size before anything is read. Stdlib only (the bottom layer, beside
`config` and `tokenization`).
"""

from __future__ import annotations

import errno
import os
import stat

from ernie3_lite.errors import UnsafeFileError

#: ample for any config.json, training.json or vocab.txt this project writes (the full vocab is
#: about 100 KB); a bigger one is not ours
TEXT_LIMIT = 8 * 2**20


def check_regular_file(path: str | os.PathLike, *, limit: int | None = None) -> int:
    """The size of `path` if it is a regular file (symlinks followed) of at most `limit` bytes;
    else UnsafeFileError naming what it is (a folder, a FIFO, a device); FileNotFoundError
    (as ``open`` raises it) if it is missing."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise FileNotFoundError(errno.ENOENT, "no such file", str(path)) from None
    except OSError as error:
        raise UnsafeFileError(path, f"cannot be read ({error.strerror})") from None
    if not stat.S_ISREG(info.st_mode):
        raise UnsafeFileError(path, f"is {_kind(info.st_mode)}, not a regular file")
    if limit is not None and info.st_size > limit:
        raise UnsafeFileError(path, f"is {info.st_size} bytes, more than the {limit} allowed "
                                    "for this kind of file")
    return info.st_size


def read_bytes(path: str | os.PathLike, *, limit: int = TEXT_LIMIT) -> bytes:
    """The bytes of the regular file `path`, at most `limit` of them.

    Opened with O_NONBLOCK, so that a FIFO swapped in after the check cannot block the open; the
    read stops at `limit` + 1 bytes whatever the size said.
    """
    check_regular_file(path, limit=limit)
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise UnsafeFileError(path, "changed into something that is not a regular file")
        chunks, left = [], limit + 1
        while left > 0:
            chunk = os.read(fd, min(left, 2**20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > limit:
        raise UnsafeFileError(path, f"grew past the {limit} bytes allowed while being read")
    return data


def read_text(path: str | os.PathLike, *, limit: int = TEXT_LIMIT,
              encoding: str = "utf-8") -> str:
    """`read_bytes` decoded; a file that is not valid `encoding` is refused naming the byte."""
    data = read_bytes(path, limit=limit)
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as error:
        raise UnsafeFileError(path, f"is not {encoding} text (byte {error.start}: "
                                    f"{error.reason})") from None


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a plain file"
