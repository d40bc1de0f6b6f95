"""`RelTransformerStack` and `RelTransformerLayer`: masks, memory, recurrence kinds, cache, u/v."""

from __future__ import annotations

import pytest
import torch

from ernie3_lite.config import StackConfig
from ernie3_lite.model.attention import IMPLS
from ernie3_lite.model.stack import RelTransformerStack

SIZES = StackConfig(n_layer=3, d_model=16, n_head=2, d_inner=32)


def make_stack(*, recurrence: str = "xl", seed: int = 0, **kwargs) -> RelTransformerStack:
    torch.manual_seed(seed)
    stack = RelTransformerStack(SIZES, recurrence=recurrence, **kwargs).double().eval()
    with torch.no_grad():  # non-trivial LayerNorms, so a wrong normalisation would show
        for name, p in stack.named_parameters():
            if "norm" in name:
                p.add_(0.3 * torch.randn_like(p))
    return stack


def segments(*lengths: int, seed: int = 1) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(2, n, SIZES.d_model, generator=g, dtype=torch.float64) for n in lengths]


def test_shapes_of_output_memory_weights_and_cache():
    stack = make_stack()
    (x,) = segments(5)
    out = stack(x, causal=True, mem_len=3, need_weights=True, use_cache=True)
    assert out.hidden.shape == (2, 5, 16)
    assert [m.shape for m in out.new_memory] == [(2, 3, 16)] * 3
    assert [w.shape for w in out.weights] == [(2, 2, 5, 5)] * 3
    assert [k.shape for k, _ in out.key_values] == [(2, 2, 5, 8)] * 3
    bare = stack(x, causal=False)
    assert bare.new_memory is None and bare.weights is None and bare.key_values is None


def test_u_and_v_are_one_pair_per_stack_shared_by_all_layers():
    stack = make_stack()
    names = [n for n, _ in stack.named_parameters() if "bias" in n and n.startswith("r_")]
    assert names == ["r_w_bias", "r_r_bias"]
    assert not any("r_w_bias" in n or "r_r_bias" in n for n, _ in stack.layers.named_parameters())
    (x,) = segments(4)
    stack(x, causal=True).hidden.square().sum().backward()
    assert stack.r_w_bias.grad.abs().sum() > 0 and stack.r_r_bias.grad.abs().sum() > 0


@pytest.mark.parametrize("causal", [True, False])
def test_dependence_on_other_positions(causal):
    """Causal: position i never depends on j > i. Bidirectional: it depends on both sides."""
    stack = make_stack()
    (x,) = segments(6)
    x.requires_grad_(True)
    for i in range(6):
        (grad,) = torch.autograd.grad(stack(x, causal=causal).hidden[:, i].sum(), x)
        reach = grad.abs().sum(dim=(0, 2))  # (T,)
        assert (reach[: i + 1] > 0).all()
        assert ((reach[i + 1:] == 0) if causal else (reach[i + 1:] > 0)).all()


def test_segment_recurrence_equals_one_long_causal_pass():
    """TXL §3.2 with recurrence="xl": [A] then [B | memory(A)] == [A; B] at B's positions."""
    stack = make_stack(recurrence="xl")
    a, b, c = segments(4, 3, 5)
    full = stack(torch.cat([a, b, c], dim=1), causal=True).hidden
    step_a = stack(a, causal=True, mem_len=7)
    step_b = stack(b, causal=True, memory=step_a.new_memory, mem_len=7)
    step_c = stack(c, causal=True, memory=step_b.new_memory, mem_len=7)
    torch.testing.assert_close(step_a.hidden, full[:, :4], rtol=0, atol=1e-10)
    torch.testing.assert_close(step_b.hidden, full[:, 4:7], rtol=0, atol=1e-10)
    torch.testing.assert_close(step_c.hidden, full[:, 7:], rtol=0, atol=1e-10)
    # a memory that is too short forgets part of A: the test can fail
    short = stack(c, causal=True, memory=stack(b, causal=True, memory=stack(
        a, causal=True, mem_len=2).new_memory, mem_len=2).new_memory)
    assert not torch.allclose(short.hidden, full[:, 7:], atol=1e-6)


def _layer_io(stack, x, **kwargs):
    """Inputs and outputs of every layer, recorded with forward hooks."""
    inputs, outputs = [], []

    def record(module, args, output):  # returns None, so the output is left alone
        inputs.append(args[0])
        outputs.append(output.hidden)

    hooks = [layer.register_forward_hook(record) for layer in stack.layers]
    result = stack(x, **kwargs)
    for hook in hooks:
        hook.remove()
    return result, inputs, outputs


@pytest.mark.parametrize(("recurrence", "remembers"), [("xl", "inputs"), ("same_layer", "outputs")])
def test_memory_holds_layer_inputs_for_xl_and_layer_outputs_for_same_layer(recurrence, remembers):
    stack = make_stack(recurrence=recurrence)
    (x,) = segments(5)
    result, inputs, outputs = _layer_io(stack, x, causal=True, mem_len=4)
    expected = inputs if remembers == "inputs" else outputs
    for memory, states in zip(result.new_memory, expected, strict=True):
        torch.testing.assert_close(memory, states[:, -4:], rtol=0, atol=0)


def test_same_layer_recurrence_differs_from_xl_only_once_memory_is_used():
    xl, same = make_stack(recurrence="xl"), make_stack(recurrence="same_layer")
    same.load_state_dict(xl.state_dict())
    a, b = segments(4, 4)
    first_xl, first_same = xl(a, causal=True, mem_len=4), same(a, causal=True, mem_len=4)
    torch.testing.assert_close(first_xl.hidden, first_same.hidden, rtol=0, atol=0)
    second_xl = xl(b, causal=True, memory=first_xl.new_memory)
    second_same = same(b, causal=True, memory=first_same.new_memory)
    assert not torch.allclose(second_xl.hidden, second_same.hidden, atol=1e-4)


@pytest.mark.parametrize("recurrence", ["xl", "same_layer"])
def test_memory_carries_no_gradient_into_the_previous_segment(recurrence):
    stack = make_stack(recurrence=recurrence)
    a, b = segments(4, 4)
    a.requires_grad_(True)
    first = stack(a, causal=True, mem_len=4)
    assert all(not m.requires_grad and m.grad_fn is None for m in first.new_memory)
    second = stack(b, causal=True, memory=first.new_memory, mem_len=4)
    second.hidden.sum().backward()
    assert a.grad is None  # SG(.) of TXL §3.2: nothing flows back into segment A


def test_padding_keys_do_not_influence_real_positions():
    stack = make_stack()
    (x,) = segments(6)
    padding = torch.tensor([[False] * 6, [False] * 4 + [True] * 2])  # (B, T), True = padding
    noisy = x.clone()
    noisy[1, 4:] += 3.0 * torch.randn(2, 16, dtype=torch.float64)  # LN would undo a constant
    out = stack(x, causal=False, padding_mask=padding, need_weights=True)
    out_noisy = stack(noisy, causal=False, padding_mask=padding)
    torch.testing.assert_close(out.hidden[1, :4], out_noisy.hidden[1, :4], rtol=0, atol=1e-12)
    # without the mask the noise leaks into the real positions: the test can fail
    leaked = stack(noisy, causal=False).hidden[1, :4]
    assert not torch.allclose(stack(x, causal=False).hidden[1, :4], leaked, atol=1e-6)
    for weights in out.weights:
        assert (weights[1, :, :, 4:] == 0).all()
        torch.testing.assert_close(weights.sum(-1), torch.ones_like(weights.sum(-1)))


def test_memory_stays_visible_under_a_padding_mask():
    stack = make_stack()
    a, b = segments(3, 4)
    memory = stack(a, causal=True, mem_len=3).new_memory
    padding = torch.zeros(2, 4, dtype=torch.bool)
    out = stack(b, causal=True, memory=memory, padding_mask=padding, need_weights=True)
    torch.testing.assert_close(out.hidden, stack(b, causal=True, memory=memory).hidden)
    causal_part = torch.ones(4, 7).triu(diagonal=1 + 3).bool()  # (Q, K) True = future key
    for weights in out.weights:
        assert (weights[..., causal_part] == 0).all()
        assert (weights[..., :3] > 0).all()  # every query attends to the memory


def test_kv_cache_continues_a_segment_exactly():
    stack = make_stack()
    (x,) = segments(7)
    full = stack(x, causal=True).hidden
    prefix = stack(x[:, :4], causal=True, use_cache=True)
    rest = stack(x[:, 4:], causal=True, kv_cache=prefix.key_values, use_cache=True)
    torch.testing.assert_close(rest.hidden, full[:, 4:], rtol=0, atol=1e-10)
    assert rest.key_values[0][0].shape[2] == 7
    with pytest.raises(ValueError, match="not both"):
        stack(x, causal=True, kv_cache=prefix.key_values, memory=[x] * 3)
    with pytest.raises(ValueError, match="expected 3"):
        stack(x, causal=True, memory=[x])


@pytest.mark.parametrize("causal", [True, False])
def test_attention_implementations_agree_inside_the_stack(causal):
    outputs = []
    for impl in IMPLS:
        stack = make_stack(attention_impl=impl)
        a, b = segments(3, 5)
        memory = stack(a, causal=True, mem_len=3).new_memory
        outputs.append(stack(b, causal=causal, memory=memory).hidden)
    for other in outputs[1:]:
        torch.testing.assert_close(other, outputs[0], rtol=0, atol=1e-10)


def test_clamp_len_caps_the_distances():
    clamped, plain = make_stack(clamp_len=2), make_stack()
    pos = clamped.position_embeddings(qlen=4, klen=6, causal=False)  # distances 5..0, -1..-3
    assert pos.shape == (9, 16)
    for far in (0, 1, 2):  # distances 5, 4, 3 all read as 2
        torch.testing.assert_close(pos[far], pos[3], rtol=0, atol=0)
    torch.testing.assert_close(pos[8], pos[7], rtol=0, atol=0)  # -3 reads as -2
    assert not torch.allclose(pos[4], pos[3])
    (x,) = segments(6)
    assert not torch.allclose(clamped(x, causal=True).hidden, plain(x, causal=True).hidden)
