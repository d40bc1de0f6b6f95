"""Document language modeling (DLM, ERNIE 3.0 arXiv 2107.02137 §3.2.1): contiguous streams.

ERNIE 3.0 (arXiv 2107.02137 §3.2.1) trains the NLG network as a plain left-to-right LM over long
documents, with ERNIE-Doc's recurrence memory (arXiv 2012.15688). Memory only helps if segment
t+1 of a batch row really continues segment t of the same row, so we lay the corpus out the way
Transformer-XL's `LMOrderedIterator` does (arXiv 1901.02860, `data_utils.py`): the token stream is
cut into B equal contiguous pieces, one per batch row (``data.view(B, -1)``), and each row is read
left to right, L tokens at a time. Nothing is shuffled; the model resets its memory when `reset`.

Under DDP every rank gets its own B rows: the stream is cut into ``world_size * B`` pieces and
rank r takes pieces ``r*B .. r*B + B - 1``, so ranks are disjoint and all run the same number of
steps. The < world_size * B tokens left over at the end of the stream are dropped.

`DocumentStream` lays out the rows and reads them a fixed `seg_len` at a time; `dlm_segment` cuts
one segment of any length at any offset, which is how pre-training (`training.multitask`) reads
the same rows when progressive learning changes the segment length from step to step.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

import torch
from torch import Tensor

from ernie3_lite.data.collate import TaskType


class DocumentStream:
    """Batches (input_ids (B, L), labels (B, L)) that continue row by row, segment after segment.

    labels[:, t] is the token after input_ids[:, t] in the same row (the last label of a segment is
    the first input of the next). The last segment is shorter unless `drop_last`.
    """

    def __init__(
        self,
        tokens: Sequence[int] | Tensor,
        *,
        batch_size: int,
        seg_len: int,
        rank: int = 0,
        world_size: int = 1,
        drop_last: bool = False,
    ):
        if batch_size < 1 or seg_len < 1:
            raise ValueError(f"batch_size and seg_len must be >= 1, got {batch_size}, {seg_len}")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank must be in [0, world_size={world_size}), got {rank}")
        stream = torch.as_tensor(tokens, dtype=torch.long).flatten()
        n_rows = world_size * batch_size
        row_len = stream.numel() // n_rows  # every row has row_len tokens: row_len - 1 targets
        if row_len < 2:
            raise ValueError(
                f"{stream.numel()} tokens cannot fill {n_rows} rows (world_size * batch_size) "
                "with at least 2 tokens each"
            )
        rows = stream[: n_rows * row_len].view(n_rows, row_len)  # (world_size * B, row_len)
        self.rows = rows[rank * batch_size : (rank + 1) * batch_size]  # (B, row_len) this rank's
        self.seg_len, self.drop_last = seg_len, drop_last

    @classmethod
    def from_documents(
        cls, documents: Iterable[Sequence[int]], *, sep_id: int, **kwargs
    ) -> DocumentStream:
        """Join documents into one stream with [SEP] after each, so the LM learns where one ends."""
        stream: list[int] = []
        for doc in documents:
            stream.extend(doc)
            stream.append(sep_id)
        return cls(stream, **kwargs)

    @property
    def num_targets(self) -> int:
        """Tokens each row predicts over a full pass (its length minus the first token)."""
        return self.rows.shape[1] - 1

    def __len__(self) -> int:
        full, rest = divmod(self.num_targets, self.seg_len)
        return full + (1 if rest and not self.drop_last else 0)

    def __iter__(self) -> Iterator[dict[str, Tensor | bool]]:
        for k in range(len(self)):
            segment = dlm_segment(self.rows, start=k * self.seg_len, length=self.seg_len)
            yield segment | {"reset": k == 0}  # a plain bool here; a new pass resets memory


def dlm_segment(rows: Tensor, *, start: int, length: int) -> dict[str, Tensor]:
    """Segment ``rows[:, start : start + length]`` with next-token labels: input_ids (B, L),
    labels (B, L) (the token after each input, in the same row), task_type_ids (B, L) and
    `reset` (a 0-d bool tensor, true at a pass start: memory from before is other text)."""
    stop = min(start + length, rows.shape[1] - 1)
    inputs = rows[:, start:stop].contiguous()  # (B, L)
    return {
        "input_ids": inputs,
        "labels": rows[:, start + 1 : stop + 1].contiguous(),  # (B, L) the next token
        "task_type_ids": torch.full_like(inputs, int(TaskType.NLG)),
        "reset": torch.tensor(start == 0),
    }
