"""`update_memory`: concatenate along time, keep the newest mem_len positions, stop the gradient."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from ernie3_lite.model.memory import Ernie3Memory, update_memory


def _states(*, batch: int, length: int, d: int, layers: int, offset: float = 0.0):
    """Per layer (B, L, d) tensors whose values encode (layer, time) so slices are checkable."""
    time = torch.arange(length, dtype=torch.float32) + offset  # (L,)
    return [(time[None, :, None] + 100 * n).expand(batch, length, d).clone()
            for n in range(layers)]


@settings(max_examples=40, deadline=None)
@given(old=st.integers(0, 6), new=st.integers(1, 6), mem_len=st.integers(0, 9),
       layers=st.integers(1, 3))
def test_keeps_exactly_the_newest_mem_len_positions(old, new, mem_len, layers):
    memory = _states(batch=2, length=old, d=3, layers=layers) if old else None
    hidden = _states(batch=2, length=new, d=3, layers=layers, offset=old)
    out = update_memory(hidden_states=hidden, memory=memory, mem_len=mem_len)
    kept = min(old + new, mem_len)
    assert len(out) == layers
    for n, layer in enumerate(out):
        assert layer.shape == (2, kept, 3)
        # time stamps run oldest -> newest and end with the newest state
        expected = torch.arange(old + new - kept, old + new, dtype=torch.float32) + 100 * n
        assert torch.equal(layer[0, :, 0], expected)


def test_memory_is_detached_even_when_inputs_require_grad():
    hidden = [torch.randn(2, 4, 3, requires_grad=True) * 2 for _ in range(2)]  # non-leaf
    memory = [torch.randn(2, 3, 3, requires_grad=True) for _ in range(2)]
    out = update_memory(hidden_states=hidden, memory=memory, mem_len=5)
    for layer in out:
        assert not layer.requires_grad and layer.grad_fn is None
    assert torch.equal(out[0][:, -4:], hidden[0].detach())
    assert torch.equal(out[0][:, :1], memory[0].detach()[:, -1:])


def test_rejects_bad_arguments():
    hidden = [torch.zeros(1, 2, 3)]
    with pytest.raises(ValueError, match="mem_len=-1"):
        update_memory(hidden_states=hidden, memory=None, mem_len=-1)
    with pytest.raises(ValueError, match="2 layers"):
        update_memory(hidden_states=hidden, memory=[torch.zeros(1, 1, 3)] * 2, mem_len=2)
    with pytest.raises(TypeError):
        update_memory(hidden, None, 2)  # keyword-only: positional ints are a known bug magnet


def test_ernie3_memory_length():
    memory = Ernie3Memory(universal=[torch.zeros(2, 5, 8)], nlg=[torch.zeros(2, 5, 4)])
    assert memory.length == 5
    assert Ernie3Memory(universal=[], nlg=[]).length == 0
