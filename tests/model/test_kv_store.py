"""`GrowingKeyValue` appends in place while it is the newest entry and never changes an old one."""

from __future__ import annotations

import pytest
import torch

from ernie3_lite.config import Ernie3Config
from ernie3_lite.model.decoding import decode_step, prefill
from ernie3_lite.model.ernie3 import Ernie3Model
from ernie3_lite.model.kv_store import GrowingKeyValue, append_key_value


def kv(length: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(2, 3, length, 4, generator=g), torch.randn(2, 3, length, 4, generator=g)


def test_append_equals_cat_and_writes_into_the_same_store():
    keys, values = kv(5)
    entry = GrowingKeyValue.from_tensors(keys, values, capacity=8)
    new_k, new_v = kv(2, seed=1)
    grown = entry.append(new_k, new_v)
    assert isinstance(grown, tuple) and len(grown) == 2 and grown.length == 7
    torch.testing.assert_close(grown[0], torch.cat([keys, new_k], dim=2), rtol=0, atol=0)
    torch.testing.assert_close(grown[1], torch.cat([values, new_v], dim=2), rtol=0, atol=0)
    assert grown[0].data_ptr() == entry[0].data_ptr()  # no copy: same store, same start
    assert entry.length == 5  # the older entry still shows its own 5 positions


def test_a_full_store_grows_by_doubling():
    entry = GrowingKeyValue.from_tensors(*kv(3), capacity=3)
    grown = entry.append(*kv(1, seed=2))
    assert grown.capacity == 8 and grown.length == 4
    assert grown[0].data_ptr() != entry[0].data_ptr()
    torch.testing.assert_close(grown[0][:, :, :3], entry[0], rtol=0, atol=0)


def test_appending_to_an_older_entry_copies_and_leaves_the_newer_one_intact():
    base = GrowingKeyValue.from_tensors(*kv(4), capacity=16)
    first = base.append(*kv(1, seed=3))  # in place: slot 4
    before = first[0].clone()
    branch = base.append(*kv(1, seed=4))  # base is no longer the newest: must not reuse slot 4
    assert branch[0].data_ptr() != base[0].data_ptr()
    torch.testing.assert_close(first[0], before, rtol=0, atol=0)
    torch.testing.assert_close(branch[0][:, :, 4], kv(1, seed=4)[0][:, :, 0], rtol=0, atol=0)


def test_plain_tuples_fall_back_to_cat():
    keys, values = kv(3)
    new_k, new_v = kv(2, seed=5)
    k, v = append_key_value((keys, values), new_k, new_v)
    assert not isinstance((k, v), GrowingKeyValue)
    torch.testing.assert_close(k, torch.cat([keys, new_k], dim=2), rtol=0, atol=0)


def test_capacity_below_the_cached_length_is_refused():
    with pytest.raises(ValueError, match="capacity=2"):
        GrowingKeyValue.from_tensors(*kv(3), capacity=2)


def test_decoding_appends_in_place_after_the_first_step():
    torch.manual_seed(0)
    model = Ernie3Model(Ernie3Config.from_name("test")).eval()
    ids = torch.randint(4, 100, (1, 8))
    _, cache = prefill(model, ids[:, :4])
    _, cache = decode_step(model, ids[:, 4], cache)  # prefill tuples -> stores (one copy)
    entry = cache.universal[0]
    assert isinstance(entry, GrowingKeyValue) and entry.capacity > entry.length
    _, cache = decode_step(model, ids[:, 5], cache)
    assert cache.universal[0][0].data_ptr() == entry[0].data_ptr()  # same store, no copy
    assert cache.length == 6 and entry.length == 5
