"""A key/value cache that grows in place: `GrowingKeyValue`, a (k, v) pair with spare room.

Incremental decoding (`ernie3_lite.model.decoding`) appends one position per layer per token.
With ``torch.cat`` each append copies the whole cache, O(K) per step and O(T²) for T tokens.
Here the keys and values live in preallocated (B, H, capacity, Dh) stores and a cache entry is a
pair of *views* of its first K slots, so an append writes one slot and the copy happens only
when the store is full (capacity doubles: amortised O(1) per token), as with a Python list.

Appending must not change what an older cache sees: a caller may keep an old cache and decode
from it again (branching, `tests/model/test_decoding.py`). A store therefore remembers how many
slots are written; a cache may write into the next slot only when it ends exactly there, i.e.
it is the newest cache of that store. Any other cache appends into a fresh copy. Slots that a
view already shows are never written again, so every cache keeps its values.

`GrowingKeyValue` is a ``tuple`` subclass, so everything that reads a cache entry as
``k, v = entry`` (beam reordering, windowing, the tests) keeps working; what it returns there
are plain tensors, and the next append copies them into a new store once.
"""

from __future__ import annotations

import torch
from torch import Tensor


class _Store:
    """Preallocated keys and values (B, H, capacity, Dh) and the number of slots written."""

    __slots__ = ("keys", "values", "written")

    def __init__(self, keys: Tensor, values: Tensor, written: int) -> None:
        self.keys, self.values, self.written = keys, values, written


class GrowingKeyValue(tuple):
    """(k, v), each (B, H, K, Dh): views of slots [0, K) of a `_Store` with spare capacity."""

    _store: _Store

    def __new__(cls, store: _Store, length: int) -> GrowingKeyValue:
        entry = super().__new__(cls, (store.keys[:, :, :length], store.values[:, :, :length]))
        entry._store = store
        return entry

    @classmethod
    def from_tensors(cls, keys: Tensor, values: Tensor, *, capacity: int) -> GrowingKeyValue:
        """Copy (B, H, K, Dh) keys/values into a new store of ``capacity`` >= K slots."""
        length = keys.size(2)
        if capacity < length:
            raise ValueError(f"capacity={capacity} < the {length} cached positions")
        shape = (*keys.shape[:2], capacity, keys.size(3))  # (B, H, capacity, Dh)
        store = _Store(keys.new_empty(shape), values.new_empty(shape), written=length)
        store.keys[:, :, :length].copy_(keys)
        store.values[:, :, :length].copy_(values)
        return cls(store, length)

    @property
    def length(self) -> int:
        """K, the number of positions this entry shows."""
        return self[0].size(2)

    @property
    def capacity(self) -> int:
        return self._store.keys.size(2)

    def append(self, keys: Tensor, values: Tensor) -> GrowingKeyValue:
        """This entry plus new (B, H, Q, Dh) keys/values: an entry of K + Q positions.

        In place when this entry is the newest of its store and Q slots are free; otherwise
        into a new store of twice the needed size. This entry is unchanged either way.
        """
        length, new = self.length, keys.size(2)
        store = self._store
        if store.written != length or length + new > self.capacity:
            entry = GrowingKeyValue.from_tensors(self[0], self[1], capacity=2 * (length + new))
            store = entry._store
        store.keys[:, :, length : length + new].copy_(keys)
        store.values[:, :, length : length + new].copy_(values)
        store.written = length + new
        return GrowingKeyValue(store, length + new)


def append_key_value(past: tuple[Tensor, Tensor], keys: Tensor,
                     values: Tensor) -> tuple[Tensor, Tensor]:
    """[past; new] along the key axis: in place for a `GrowingKeyValue`, ``torch.cat`` else."""
    if isinstance(past, GrowingKeyValue):
        return past.append(keys, values)
    return torch.cat([past[0], keys], dim=2), torch.cat([past[1], values], dim=2)
