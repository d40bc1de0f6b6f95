"""Segment-level recurrence memory (Transformer-XL arXiv 1901.02860 §3.2; ERNIE-Doc 2012.15688).

Memory is plain, explicit, returned state: one `(B, M, d)` tensor per layer. `update_memory` is the
ONLY place where memory is cut to `mem_len` and detached, so the stop-gradient SG(.) of the paper
lives in exactly one line of the package.

Which hidden states a layer remembers is the stack's choice (`Ernie3Config.recurrence`):
``xl`` caches each layer's inputs (one layer down), ``same_layer`` each layer's outputs (ERNIE-Doc's
enhanced recurrence, used by ERNIE 3.0's NLG network, ERNIE 3.0 §3.2.1).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


def update_memory(
    *, hidden_states: list[Tensor], memory: list[Tensor] | None, mem_len: int
) -> list[Tensor]:
    """Append this segment's states to the memory and keep the newest `mem_len` positions.

    hidden_states: per layer `(B, Q, d)`; memory: per layer `(B, M, d)` or None.
    Returns per layer `(B, min(M + Q, mem_len), d)`, detached (SG in Transformer-XL §3.2): the
    next segment may read these states but never sends gradient into the segment that made them.
    """
    if mem_len < 0:
        raise ValueError(f"mem_len={mem_len} must be >= 0")
    if memory is not None and len(memory) != len(hidden_states):
        raise ValueError(f"memory has {len(memory)} layers, hidden_states {len(hidden_states)}")
    new_memory = []
    # no_grad: the concatenation itself must not be recorded in the autograd graph
    with torch.no_grad():
        for layer, hidden in enumerate(hidden_states):
            parts = [hidden] if memory is None else [memory[layer], hidden]
            past = torch.cat(parts, dim=1)  # (B, M+Q, d): oldest first
            start = max(0, past.size(1) - mem_len)
            new_memory.append(past[:, start:].detach())  # (B, min(M+Q, mem_len), d)
    return new_memory


@dataclass
class Ernie3Memory:
    """Recurrence memory of the NLG path: the universal stack's and the NLG stack's layers.

    Both lists hold one `(B, M, d)` tensor per layer (`d` = that stack's width). Memory is used
    only for NLG inputs: "the memory module is only valid for natural language generation
    tasks" (ERNIE 3.0 framework as restated in ERNIE 3.0 Titan, arXiv 2112.12731 §3.1).
    """

    universal: list[Tensor]
    nlg: list[Tensor]

    @property
    def length(self) -> int:
        """Number of remembered positions M (same for every layer)."""
        return self.universal[0].size(1) if self.universal else 0
