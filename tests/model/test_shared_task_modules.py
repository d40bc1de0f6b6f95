"""`share_task_modules`: one task stack serves both paradigms (ablation of ERNIE 3.0 §3.1).

The shared model has no NLG module; its NLG path runs the NLU stack and projection with a causal
mask and memory. These tests pin that: parameters once, the same weights under two masks, exact
incremental decoding, a safetensors round trip, and the config rule that names the field.
"""

from __future__ import annotations

import pytest
import torch

from ernie3_lite.config import ConfigError, Ernie3Config
from ernie3_lite.model.decoding import decode_step, prefill
from ernie3_lite.model.ernie3 import Ernie3Model

NARROW_TASKS = {"nlu": {"d_model": 16, "n_head": 2, "d_inner": 24},
                "nlg": {"d_model": 16, "n_head": 2, "d_inner": 24}}  # needs nlu_proj


def make_model(*, shared: bool, seed: int = 0, **overrides) -> Ernie3Model:
    torch.manual_seed(seed)
    config = Ernie3Config.from_name("test", share_task_modules=shared,
                                    **{**NARROW_TASKS, **overrides})
    return Ernie3Model(config).eval()


def token_ids(*shape: int, seed: int = 1) -> torch.Tensor:
    return torch.randint(4, 100, shape, generator=torch.Generator().manual_seed(seed))


def test_shared_model_counts_the_task_module_once():
    separate, shared = make_model(shared=False), make_model(shared=True)
    nlg_params = sum(p.numel() for p in separate.nlg.parameters())
    nlg_params += sum(p.numel() for p in separate.nlg_proj.parameters())
    assert nlg_params > 0
    assert shared.num_parameters() == separate.num_parameters() - nlg_params
    assert not [k for k in shared.state_dict() if k.startswith(("nlg.", "nlg_proj."))]
    breakdown = shared.parameter_breakdown()
    assert breakdown["nlg"] == breakdown["nlg_proj"] == 0
    parts = sum(v for k, v in breakdown.items() if k != "position_keys")
    assert parts == shared.num_parameters()
    position_keys = sum(layer.attn.r_net.weight.numel()
                        for stack in (shared.universal, shared.nlu) for layer in stack.layers)
    assert shared.num_position_key_parameters() == position_keys
    assert shared.nlg_stack is shared.nlu and shared.nlg_projection is shared.nlu_proj
    assert separate.nlg_stack is separate.nlg and separate.nlg_projection is separate.nlg_proj


def test_nlg_path_is_the_nlu_stack_under_a_causal_mask():
    model = make_model(shared=True)
    ids = token_ids(2, 7)
    with torch.no_grad():
        nlg = model.forward_nlg(ids)
        nlu = model.forward_nlu(ids)
        by_hand = model.nlu(model.nlu_proj(nlg.universal_hidden), causal=True).hidden
    torch.testing.assert_close(nlg.hidden, by_hand, rtol=0, atol=1e-6)
    # the mask is the only difference: a 1-token input cannot see anything else either way
    with torch.no_grad():
        # the same task type on both paths (each defaults to its own, `TaskType`)
        one = ids[:, :1]
        one_nlg = model.forward_nlg(one, task_type_ids=torch.zeros_like(one)).hidden
        one_nlu = model.forward_nlu(one, task_type_ids=torch.zeros_like(one)).hidden
    torch.testing.assert_close(one_nlg, one_nlu, rtol=0, atol=1e-6)
    assert not torch.allclose(nlg.hidden, nlu.hidden, atol=1e-4)  # but it does matter
    separate = make_model(shared=False)
    with torch.no_grad():  # the control: separate modules differ even on one token
        assert not torch.allclose(separate.forward_nlg(ids[:, :1]).hidden,
                                  separate.forward_nlu(ids[:, :1]).hidden, atol=1e-4)


def test_document_lm_gradient_reaches_the_shared_nlu_stack():
    model = make_model(shared=True).train()
    out = model.forward_nlg(token_ids(2, 6))
    model.lm_logits(out.hidden).logsumexp(-1).mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.nlu.parameters())
    assert out.new_memory is not None and len(out.new_memory.nlg) == model.config.nlu.n_layer


@pytest.mark.parametrize("recurrence", ["xl", "same_layer"])
def test_decoding_follows_the_shared_stack(recurrence):
    model = make_model(shared=True, recurrence=recurrence, mem_len=6)
    a, b = token_ids(2, 6, seed=2), token_ids(2, 9, seed=3)
    with torch.no_grad():
        memory = model.forward_nlg(a).new_memory
        full = model.lm_logits(model.forward_nlg(b, memory=memory).hidden)  # (B, T, V)
    logits, cache = prefill(model, b[:, :3], memory=memory)
    torch.testing.assert_close(logits, full[:, :3], rtol=0, atol=1e-5)
    for t in range(3, 9):
        step_logits, cache = decode_step(model, b[:, t], cache)
        torch.testing.assert_close(step_logits, full[:, t], rtol=0, atol=1e-5)


def test_shared_model_round_trips_through_save_pretrained(tmp_path):
    model = make_model(shared=True)
    model.save_pretrained(tmp_path / "shared")
    again = Ernie3Model.from_pretrained(tmp_path / "shared")
    assert again.config.share_task_modules is True and again.config == model.config
    assert again.state_dict().keys() == model.state_dict().keys()
    ids = token_ids(2, 8)
    with torch.no_grad():
        for path in ("forward_nlu", "forward_nlg"):
            torch.testing.assert_close(getattr(again, path)(ids).hidden,
                                       getattr(model, path)(ids).hidden, rtol=0, atol=0)
    separate = make_model(shared=False)
    separate.save_pretrained(tmp_path / "separate")
    with pytest.raises(ValueError, match="unexpected"):  # nlg.* weights have no place to go
        config = Ernie3Config.from_file(tmp_path / "separate" / "config.json")
        config.share_task_modules = True
        config.save(tmp_path / "separate" / "config.json")
        Ernie3Model.from_pretrained(tmp_path / "separate")


def test_config_requires_equal_task_stacks_and_a_bool():
    with pytest.raises(ConfigError, match="share_task_modules=True") as error:
        Ernie3Config.from_name("test", share_task_modules=True, nlg={"n_layer": 1})
    assert error.value.path == "Ernie3Config.nlg"
    with pytest.raises(ConfigError) as error:
        Ernie3Config.from_name("test", share_task_modules="yes")
    assert error.value.path == "Ernie3Config.share_task_modules"
    config = Ernie3Config.from_name("nano", share_task_modules=True)  # nano: nlu == nlg
    assert Ernie3Config.from_json(config.to_json()) == config
    old = {k: v for k, v in Ernie3Config.from_name("test").to_dict().items()
           if k != "share_task_modules"}  # config.json written before the field existed
    assert Ernie3Config.from_dict(old).share_task_modules is False
