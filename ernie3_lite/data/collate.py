"""Input layout and batching shared by the pre-training tasks (ERNIE 3.0 arXiv 2107.02137 §3.2).

Every NLU task builds ``[CLS] segment_0 [SEP] segment_1 [SEP] ...`` with token types alternating
0, 1, 0, ... per segment (the [SEP] closing a segment belongs to it, as in BERT), and `collate`
pads such examples into a batch.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from ernie3_lite.config import TaskType  # defined beside the model config; re-exported here
from ernie3_lite.data.masking import IGNORE_INDEX

__all__ = ["TaskType", "collate", "example_dict", "join_segments", "truncate_lengths"]


def truncate_lengths(lengths: Sequence[int], *, budget: int) -> list[int]:
    """Shorten the longest segment one token at a time until the total fits `budget`.

    BERT's `truncate_seq_pair` for any number of segments: short segments are kept whole.
    """
    lengths = list(lengths)
    if budget < 0:
        raise ValueError(f"budget must be >= 0, got {budget}")
    while sum(lengths) > budget:
        longest = max(range(len(lengths)), key=lambda i: lengths[i])
        lengths[longest] -= 1
    return lengths


def join_segments(
    segments: Sequence[Sequence[int]], *, cls_id: int, sep_id: int
) -> tuple[list[int], list[int], list[int]]:
    """``[CLS] s0 [SEP] s1 [SEP] ...`` -> (input_ids, token_type_ids, where each segment starts)."""
    ids, types, starts = [cls_id], [0], []
    for k, segment in enumerate(segments):
        starts.append(len(ids))
        ids.extend(segment)
        ids.append(sep_id)
        types.extend([k % 2] * (len(segment) + 1))
    return ids, types, starts


def example_dict(
    input_ids: Sequence[int] | Tensor,
    *,
    token_type_ids: Sequence[int] | Tensor | None = None,
    labels: Tensor | int | None = None,
    task_type: TaskType = TaskType.NLU,
) -> dict[str, Tensor]:
    """The dict every builder returns: (T,) tensors, plus `labels` (T,) or a class id ()."""
    ids = torch.as_tensor(input_ids, dtype=torch.long)
    types = torch.zeros_like(ids) if token_type_ids is None else torch.as_tensor(token_type_ids)
    out = {
        "input_ids": ids,
        "token_type_ids": types.long(),
        "task_type_ids": torch.full_like(ids, int(task_type)),
    }
    if labels is not None:
        out["labels"] = torch.as_tensor(labels, dtype=torch.long)
    return out


def collate(batch: Sequence[dict[str, Tensor]], *, pad_id: int) -> dict[str, Tensor]:
    """Pad a list of example dicts to the longest example.

    (T,) tensors become (B, T_max): `input_ids` padded with `pad_id`, `labels` with -100, the rest
    with 0. 0-d tensors (class labels) are stacked to (B,). Adds `attention_mask` (B, T_max), 1 on
    real tokens, and zero `token_type_ids` when the examples have none.
    """
    if not batch:
        raise ValueError("cannot collate an empty batch")
    keys = set(batch[0])
    if any(set(ex) != keys for ex in batch) or "input_ids" not in keys:
        raise ValueError(f"examples need the same keys, input_ids among them; got {sorted(keys)}")
    lengths = [ex["input_ids"].numel() for ex in batch]
    t_max = max(lengths)
    out: dict[str, Tensor] = {}
    for key in sorted(keys):
        values = [ex[key] for ex in batch]
        if all(v.dim() == 0 for v in values):
            out[key] = torch.stack(values)  # (B,)
            continue
        if any(v.dim() != 1 or v.numel() != n for v, n in zip(values, lengths, strict=True)):
            raise ValueError(f"{key!r} must be 0-d or (T,) with T = len(input_ids)")
        fill = pad_id if key == "input_ids" else IGNORE_INDEX if key == "labels" else 0
        padded = torch.full((len(batch), t_max), fill, dtype=values[0].dtype)  # (B, T_max)
        for row, v in enumerate(values):
            padded[row, : v.numel()] = v
        out[key] = padded
    positions = torch.arange(t_max)  # (T_max,)
    real = positions[None, :] < torch.tensor(lengths)[:, None]  # (B, T_max)
    out["attention_mask"] = real.long()
    if "token_type_ids" not in out:
        out["token_type_ids"] = torch.zeros_like(out["input_ids"])
    return out
