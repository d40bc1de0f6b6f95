"""Incremental decoding with the K/V cache equals a full forward over the whole prefix."""

from __future__ import annotations

import pytest
import torch

from ernie3_lite.config import Ernie3Config
from ernie3_lite.model.attention import IMPLS
from ernie3_lite.model.decoding import decode_step, greedy_decode, prefill
from ernie3_lite.model.ernie3 import Ernie3Model

NARROW = {"nlg": {"d_model": 16, "n_head": 2, "d_inner": 24}}  # NLG narrower: a projection


def make_model(seed: int = 0, **overrides) -> Ernie3Model:
    torch.manual_seed(seed)
    return Ernie3Model(Ernie3Config.from_name("test", **{**NARROW, **overrides})).eval()


def token_ids(*shape: int, seed: int = 1) -> torch.Tensor:
    return torch.randint(4, 100, shape, generator=torch.Generator().manual_seed(seed))


def full_logits(model, ids, **kwargs) -> torch.Tensor:
    with torch.no_grad():
        return model.lm_logits(model.forward_nlg(ids, **kwargs).hidden)  # (B, T, V)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("recurrence", ["xl", "same_layer"])
def test_every_decoded_step_equals_the_full_forward(impl, recurrence):
    model = make_model(attention_impl=impl, recurrence=recurrence)
    ids = token_ids(2, 12)
    full = full_logits(model, ids)
    logits, cache = prefill(model, ids[:, :5])
    torch.testing.assert_close(logits, full[:, :5], rtol=0, atol=1e-5)
    for t in range(5, 12):
        step_logits, cache = decode_step(model, ids[:, t], cache)
        assert cache.length == t + 1
        torch.testing.assert_close(step_logits, full[:, t], rtol=0, atol=1e-5)


def test_clamped_positions_and_type_ids_are_carried_into_the_cache():
    model = make_model(clamp_len=3)
    ids = token_ids(2, 10)
    types, tasks = torch.ones_like(ids), torch.full_like(ids, 2)
    full = full_logits(model, ids, token_type_ids=types, task_type_ids=tasks)
    _, cache = prefill(model, ids[:, :4], token_type_ids=types[:, :4], task_type_ids=tasks[:, :4])
    for t in range(4, 10):
        step_logits, cache = decode_step(model, ids[:, t], cache)
        torch.testing.assert_close(step_logits, full[:, t], rtol=0, atol=1e-5)
    assert not torch.allclose(full, full_logits(model, ids), atol=1e-4)  # the ids do matter


@pytest.mark.parametrize("recurrence", ["xl", "same_layer"])
def test_prefill_with_recurrence_memory(recurrence):
    """The memory's keys/values enter the cache: decoding continues the NLG segment exactly."""
    model = make_model(recurrence=recurrence, mem_len=6)
    a, b = token_ids(2, 6, seed=2), token_ids(2, 9, seed=3)
    memory = model.forward_nlg(a).new_memory
    with_memory = full_logits(model, b, memory=memory)
    _, cache = prefill(model, b[:, :3], memory=memory)
    assert cache.length == 6 + 3
    for t in range(3, 9):
        step_logits, cache = decode_step(model, b[:, t], cache)
        torch.testing.assert_close(step_logits, with_memory[:, t], rtol=0, atol=1e-5)
    if recurrence == "xl":  # and, for XL recurrence, equals one pass over [A; B]
        one_pass = full_logits(model, torch.cat([a, b], dim=1))
        torch.testing.assert_close(step_logits, one_pass[:, -1], rtol=0, atol=1e-5)


def test_branching_from_one_cache_gives_independent_continuations():
    model = make_model()
    ids = token_ids(1, 6)
    _, cache = prefill(model, ids)
    for candidate in (11, 42):
        branch = torch.cat([ids, torch.tensor([[candidate]])], dim=1)
        logits, _ = decode_step(model, torch.tensor([candidate]), cache)
        torch.testing.assert_close(logits, full_logits(model, branch)[:, -1], rtol=0, atol=1e-5)
    assert cache.length == 6  # the old cache was not extended in place


def test_long_generation_grows_the_position_table():
    model = make_model(max_seq_len=80)
    ids = token_ids(1, 75)
    full = full_logits(model, ids)
    _, cache = prefill(model, ids[:, :3])
    for t in range(3, 75):
        step_logits, cache = decode_step(model, ids[:, t], cache)
        if t in (63, 64, 74):
            torch.testing.assert_close(step_logits, full[:, t], rtol=0, atol=1e-5)
    assert cache.pos_tables["universal"].shape[0] >= 75
    assert cache.pos_tables["nlg"].shape[1] == 16


@pytest.mark.parametrize("impl", ["fast", "sdpa"])
def test_decode_steps_reuse_the_cached_pos_keys(impl):
    """W_{k,R}R is projected once per table size, not once per step and layer."""
    model = make_model(attention_impl=impl)
    ids = token_ids(2, 12)
    full = full_logits(model, ids)
    _, cache = prefill(model, ids[:, :5])
    calls = []
    for stack in (model.universal, model.nlg):
        for layer in stack.layers:
            layer.attn.r_net.register_forward_hook(lambda *_: calls.append(1))
    for t in range(5, 12):
        step_logits, cache = decode_step(model, ids[:, t], cache)
        torch.testing.assert_close(step_logits, full[:, t], rtol=0, atol=1e-5)
    n_layers = model.universal.n_layer + model.nlg.n_layer
    assert len(calls) == n_layers  # one table of 64 distances per layer, built at the first step
    assert [k.shape for k in cache.pos_keys["nlg"]] == [(64, 16)] * model.nlg.n_layer


def test_greedy_decode_equals_greedy_by_full_recomputation():
    model = make_model()
    prompt = token_ids(2, 4)
    fast = greedy_decode(model, prompt, max_new_tokens=8)
    slow = prompt
    for _ in range(8):
        next_ids = full_logits(model, slow)[:, -1].argmax(-1, keepdim=True)  # (B, 1)
        slow = torch.cat([slow, next_ids], dim=1)
    assert fast.shape == (2, 12)
    assert torch.equal(fast, slow)
