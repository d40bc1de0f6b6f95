"""Checks on the splits of a fine-tuning task, run before the first training step.

Bad splits do not crash a run early on their own: an empty test split lets training finish and
then fails while scoring, a training split with one class trains to loss 0 and "accuracy 1.0",
and a typo in a label ("l" for "1", "B-PRE" for "B-PER") quietly becomes a class of its own. So
`FinetuneDataModule` and the CLI call these on the parsed records first; each problem raises a
`DataFormatError` that names the file and, for a label, its line.

The label set of a classification task is read off its training split (`task_labels`), so the
other splits are checked against it: a valid/test label the training split never has cannot be
predicted. A typo in the training split is caught from the other side: a label that occurs fewer
than `RARE_LABEL` times in train and in no valid or test record is refused, with its first line.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from ernie3_lite.data.formats import DataFormatError

#: a training label seen fewer times than this, and never in valid or test, is taken for a typo
RARE_LABEL = 3


def check_not_empty(records: Sequence[Any], *, path: Path) -> None:
    """A split without a single record: refuse it before anything trains on or scores it."""
    if not records:
        raise DataFormatError("no records: the split is empty (fine-tuning needs train, valid "
                              "and test examples)", path=path)


def labelled_lines(records: Sequence[Any], task: str) -> Iterator[tuple[str, int | None]]:
    """(label, line) of every labelled item: a review's class, each NER token's tag."""
    for record in records:
        if task == "sentiment":
            yield record.label, record.line
        elif task == "ner":
            for k, tag in enumerate(record.tags):
                yield tag, None if record.line is None else record.line + k


def check_classes(labels: Sequence[str] | None, *, path: Path) -> None:
    """A classifier needs two classes in its training split (one trains to loss 0)."""
    if labels is not None and len(labels) < 2:
        raise DataFormatError(f"the training split has {len(labels)} class(es) {list(labels)}: "
                              "a classification task needs at least 2", path=path)


def check_label_sets(task: str, train: tuple[Path, Sequence[Any]],
                     others: Mapping[str, tuple[Path, Sequence[Any]]]) -> None:
    """Every valid/test label must occur in train; a rare train label must occur elsewhere.

    train: (file, records) of the training split; others: split name -> (file, records).
    """
    if task not in ("sentiment", "ner"):
        return
    train_path, train_records = train
    counts: Counter[str] = Counter()
    first_line: dict[str, int | None] = {}
    for label, line in labelled_lines(train_records, task):
        counts[label] += 1
        first_line.setdefault(label, line)
    known = sorted(counts)
    elsewhere: set[str] = set()
    for path, records in others.values():
        for label, line in labelled_lines(records, task):
            if label not in counts:
                raise DataFormatError(f"label {label!r} never occurs in the training split "
                                      f"{train_path} (its labels: {known})", path=path,
                                      line=line)
            elsewhere.add(label)
    if not others:
        return
    for label in known:
        if counts[label] < RARE_LABEL and label not in elsewhere:
            raise DataFormatError(
                f"label {label!r} occurs only {counts[label]} time(s) here and in no "
                f"{'/'.join(others)} record: a typo? (labels: {known})",
                path=train_path, line=first_line[label])
