"""The project's exception types, in one bottom-level module that imports nothing of ours.

Every layer raises them (data readers, the tokenizer, configs, checkpoints, the file guard), so
they live below all of them: a low module never imports a higher one to raise its error. Each
is a ValueError with a one-line message that names where the problem is:

* `ConfigError`: a config field, ``Ernie3Config.nlg.n_head=3 must divide d_model``
  (`check_int` is the one int check that raises it);
* `DataFormatError`: a data file and 1-based line, ``news/train.jsonl:12: ...``;
* `UnsafeFileError`: a path that is not a readable regular file of allowed size;
* `CheckpointError`: a refused, unreadable or unsafe checkpoint file or folder.
"""

from __future__ import annotations

import os

PathLike = str | os.PathLike


class ConfigError(ValueError):
    """A config value is invalid; `path` is the dotted field name (``Ernie3Config.nlg.n_head``)."""

    def __init__(self, path: str, rule: str):
        self.path, self.rule = path, rule
        super().__init__(f"{path}{rule}")

    def relocated(self, old_prefix: str, new_prefix: str) -> ConfigError:
        # a StackConfig does not know where it is nested; its owner rewrites the path
        return ConfigError(self.path.replace(old_prefix, new_prefix, 1), self.rule)


class ConfigTypeError(ConfigError, TypeError):
    """A config value of the wrong type (``=2.0 must be an int``): a `ConfigError` that is also
    a TypeError, so ``except TypeError`` and ``except ValueError`` both catch it."""


def check_int(path: str, value: object, *, minimum: int) -> None:
    """The one int validator of configs and constructors: an int (not a bool) >= `minimum`,
    else `ConfigTypeError` / `ConfigError` naming the field `path` (``Owner.field``)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigTypeError(path, f"={value!r} must be an int")
    if value < minimum:
        raise ConfigError(path, f"={value!r} must be >= {minimum}")


class DataFormatError(ValueError):
    """A malformed data line; `path` and 1-based `line` (None for a whole-file problem)."""

    def __init__(self, message: str, *, path: PathLike, line: int | None = None):
        self.path, self.line, self.reason = str(path), line, message
        where = self.path if line is None else f"{self.path}:{line}"
        super().__init__(f"{where}: {message}")


class UnsafeFileError(ValueError):
    """A path that is not a readable regular file, or one larger than the reader allows."""

    def __init__(self, path: PathLike, reason: str):
        self.path, self.reason = str(path), reason
        super().__init__(f"{self.path}: {reason}")


class CheckpointError(ValueError):
    """A checkpoint (a ``.ckpt`` file or a torch.distributed.checkpoint folder) that is
    refused, unreadable or unsafe; `path`: the file or folder; `reason`: what is wrong."""

    def __init__(self, path: PathLike, reason: str):
        self.path, self.reason = str(path), reason
        super().__init__(f"{self.path}: {reason}")


def error_line(error: BaseException) -> str:
    """One informative line of an exception's message: torch's weights-only refusal runs to six
    lines, and the one that matters names the global it refused."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    named = [line for line in lines if "global" in line.lower()]
    return (named or lines or [type(error).__name__])[0][:300]
