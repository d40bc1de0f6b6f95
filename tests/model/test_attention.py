"""Truth tests for Transformer-XL relative attention (arXiv 1901.02860 §3.3, App. B).

The ground truth is a per-(i, j) loop over the four-term score A^rel_ij written from the paper,
with W_q, W_{k,E}, W_v, W_{k,R}, u, v pulled out of the module's weights and the sinusoid
computed with ``math.sin``; every implementation is checked against it and against each other:
the readable path (`attention.relative_attention`), the tuned kernels (`attention_kernels`) and
kimiyoung's time-major layout (`txl_reference`, a test helper).
"""

from __future__ import annotations

import math

import pytest
import torch
from txl_reference import rel_shift_time_major, time_major_attention

from ernie3_lite.model.attention import (
    IMPLS,
    RelMultiHeadAttention,
    rel_shift,
    relative_attention,
)
from ernie3_lite.model.attention_kernels import fast_relative_attention, strided_rel_shift
from ernie3_lite.model.positions import causal_mask, relative_positions, sinusoid_embedding

D_MODEL, N_HEAD, D_HEAD = 8, 2, 4


def make_attn(impl: str = "fast", dtype=torch.float64, seed: int = 0, **sizes):
    torch.manual_seed(seed)
    sizes = {"d_model": D_MODEL, "n_head": N_HEAD, "d_head": D_HEAD} | sizes
    attn = RelMultiHeadAttention(**sizes, impl=impl).to(dtype)
    u = torch.randn(sizes["n_head"], sizes["d_head"], dtype=dtype)
    v = torch.randn(sizes["n_head"], sizes["d_head"], dtype=dtype)
    return attn, u, v


def pos_emb_for(*, qlen: int, klen: int, bidirectional: bool, d_model: int = D_MODEL, dtype=None):
    pos = relative_positions(qlen=qlen, klen=klen, bidirectional=bidirectional)
    return sinusoid_embedding(pos.to(dtype or torch.float64), d_model)


# --------------------------------------------------------------------- positions and rel_shift


def test_relative_positions_values_and_clamp():
    assert relative_positions(qlen=3, klen=5, bidirectional=False).tolist() == [4, 3, 2, 1, 0]
    bidi = relative_positions(qlen=3, klen=5, bidirectional=True)
    assert bidi.tolist() == [4, 3, 2, 1, 0, -1, -2]
    clamped = relative_positions(qlen=3, klen=5, bidirectional=True, clamp_len=1)
    assert clamped.tolist() == [1, 1, 1, 1, 0, -1, -1]


def test_sinusoid_embedding_is_concatenated_sin_cos():
    positions = torch.tensor([5.0, 0.0, -2.0], dtype=torch.float64)
    emb = sinusoid_embedding(positions, 6)
    for row, p in zip(emb.tolist(), positions.tolist(), strict=True):
        freqs = [1 / 10000 ** (2 * k / 6) for k in range(3)]
        expected = [math.sin(p * w) for w in freqs] + [math.cos(p * w) for w in freqs]
        assert row == pytest.approx(expected, abs=1e-12)
    with pytest.raises(ValueError, match="even"):
        sinusoid_embedding(positions, 5)


def gather_shift(x: torch.Tensor, klen: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Explicit index gather out[..., i, j] = x[..., i, j+Q-1-i], plus which cells exist."""
    qlen, rlen = x.shape[-2], x.shape[-1]
    out = torch.zeros(*x.shape[:-1], klen, dtype=x.dtype)
    valid = torch.zeros(qlen, klen, dtype=torch.bool)
    for i in range(qlen):
        for j in range(klen):
            col = j + qlen - 1 - i
            if col < rlen:
                out[..., i, j], valid[i, j] = x[..., i, col], True
    return out, valid


@pytest.mark.parametrize("qlen,mlen", [(1, 0), (1, 4), (3, 0), (4, 3), (5, 2), (2, 7)])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_rel_shift_equals_index_gather(qlen, mlen, bidirectional):
    klen = mlen + qlen
    rlen = klen + qlen - 1 if bidirectional else klen
    x = torch.randn(2, 3, qlen, rlen, dtype=torch.float64)
    expected, valid = gather_shift(x, klen)
    # causal positions cover exactly the cells the causal mask keeps; bidirectional covers all
    assert torch.equal(valid, ~causal_mask(qlen=qlen, mlen=mlen)) or bidirectional
    assert bool(valid.all()) or not bidirectional
    for out in (rel_shift(x, klen=klen), strided_rel_shift(x, klen=klen),
                rel_shift_time_major(x.permute(2, 3, 0, 1), klen=klen).permute(2, 3, 0, 1)):
        assert out.shape == (2, 3, qlen, klen)
        assert torch.equal(out[..., valid], expected[..., valid])


def test_rel_shift_rejects_too_few_positions():
    for shift in (rel_shift, strided_rel_shift):
        with pytest.raises(ValueError, match="R >= klen"):
            shift(torch.zeros(1, 1, 2, 3), klen=4)


def test_the_kernels_rel_shift_is_a_view_for_bidirectional_positions():
    x = torch.randn(2, 3, 4, 9)  # Q = 4, K = 6, R = K + Q - 1
    out = strided_rel_shift(x, klen=6)
    assert out.untyped_storage().data_ptr() == x.untyped_storage().data_ptr()


def test_causal_mask_hides_exactly_the_future():
    mask = causal_mask(qlen=3, mlen=2)
    expected = [[j > 2 + i for j in range(5)] for i in range(3)]
    assert mask.tolist() == expected


# --------------------------------------------------------------------- brute force from the paper


def paper_sinusoid(distance: int, d_model: int) -> torch.Tensor:
    freqs = [1 / 10000 ** (2 * k / d_model) for k in range(d_model // 2)]
    values = [math.sin(distance * w) for w in freqs] + [math.cos(distance * w) for w in freqs]
    return torch.tensor(values, dtype=torch.float64)


def brute_force(attn, h, u, v, *, memory=None, mask=None, flip=None):
    """Per-(b, n, i, j) loop over A^rel_ij = (a) + (b) + (c) + (d) (TXL §3.3), then softmax.

    ``flip`` names one term whose sign is flipped, to show that this test can fail.
    """
    hd = attn.n_head * attn.d_head
    w_q, w_ke, w_v = attn.qkv_net.weight.split(hd)  # each (H*Dh, d_model)
    w_kr, w_o = attn.r_net.weight, attn.o_net.weight
    mem = h[:, :0] if memory is None else memory
    states = torch.cat([mem, h], dim=1)  # (B, K, d_model)
    bsz, qlen, mlen = h.shape[0], h.shape[1], mem.shape[1]
    klen = mlen + qlen
    sign = {t: (-1.0 if t == flip else 1.0) for t in "abcd"}
    out = torch.zeros(bsz, qlen, hd, dtype=torch.float64)
    probs = torch.zeros(bsz, attn.n_head, qlen, klen, dtype=torch.float64)
    for b in range(bsz):
        for n in range(attn.n_head):
            rows = slice(n * attn.d_head, (n + 1) * attn.d_head)
            for i in range(qlen):
                q_i = w_q[rows] @ h[b, i]
                scores = torch.full((klen,), -math.inf, dtype=torch.float64)
                for j in range(klen):
                    if mask is not None and bool(mask.expand(bsz, attn.n_head, qlen, klen)[
                            b, n, i, j]):
                        continue
                    k_j = w_ke[rows] @ states[b, j]
                    r_ij = w_kr[rows] @ paper_sinusoid(mlen + i - j, attn.d_model)
                    scores[j] = (sign["a"] * q_i @ k_j + sign["b"] * q_i @ r_ij
                                 + sign["c"] * u[n] @ k_j + sign["d"] * v[n] @ r_ij)
                if torch.isinf(scores).all():
                    continue  # fully masked row: attends to nothing
                p = torch.softmax(scores / math.sqrt(attn.d_head), dim=0)
                probs[b, n, i] = p
                out[b, i, rows] = sum(p[j] * (w_v[rows] @ states[b, j]) for j in range(klen))
    return out @ w_o.T, probs


CASES = {  # name: (qlen, mlen, bidirectional, mask kind)
    "nlu_bidirectional": (4, 0, True, None),
    "nlu_key_padding": (4, 0, True, "padding"),
    "nlg_causal": (4, 0, False, "causal"),
    "nlg_causal_memory": (3, 3, False, "causal"),
    "bidirectional_memory": (3, 2, True, None),
}


def make_case(name: str, dtype=torch.float64, seed: int = 1, bsz: int = 2):
    qlen, mlen, bidirectional, mask_kind = CASES[name]
    torch.manual_seed(seed)
    h = torch.randn(bsz, qlen, D_MODEL, dtype=dtype)
    memory = torch.randn(bsz, mlen, D_MODEL, dtype=dtype) if mlen else None
    klen = mlen + qlen
    mask = None
    if mask_kind == "causal":
        mask = causal_mask(qlen=qlen, mlen=mlen)
    elif mask_kind == "padding":  # second example has its last key padded
        mask = torch.zeros(bsz, 1, 1, klen, dtype=torch.bool)
        mask[1, ..., -1] = True
    pos_emb = pos_emb_for(qlen=qlen, klen=klen, bidirectional=bidirectional, dtype=dtype)
    return h, memory, mask, pos_emb, bidirectional


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("case", list(CASES))
def test_module_equals_paper_brute_force(case, impl):
    attn, u, v = make_attn(impl)
    h, memory, mask, pos_emb, bidirectional = make_case(case)
    got = attn(h, pos_emb=pos_emb, r_w_bias=u, r_r_bias=v, memory=memory, attn_mask=mask,
               need_weights=True)
    expected, probs = brute_force(attn, h, u, v, memory=memory, mask=mask)
    torch.testing.assert_close(got.output, expected, atol=1e-10, rtol=1e-10)
    torch.testing.assert_close(got.weights, probs, atol=1e-10, rtol=1e-10)


@pytest.mark.parametrize("flip", ["a", "b", "c", "d"])
def test_brute_force_detects_a_flipped_term(flip):
    attn, u, v = make_attn()
    h, memory, mask, pos_emb, _ = make_case("nlg_causal_memory")
    got = attn(h, pos_emb=pos_emb, r_w_bias=u, r_r_bias=v, memory=memory, attn_mask=mask)
    wrong, _ = brute_force(attn, h, u, v, memory=memory, mask=mask, flip=flip)
    assert (got.output - wrong).abs().max() > 1e-3


# --------------------------------------------------------------------- implementations agree


def run_with_grads(impl: str, case: str):
    attn, u, v = make_attn(impl, dtype=torch.float32, seed=3, d_model=32, n_head=4, d_head=8)
    torch.manual_seed(4)
    qlen, mlen, bidirectional, mask_kind = CASES[case]
    qlen, mlen = qlen + 3, mlen + 2
    h = torch.randn(3, qlen, 32, requires_grad=True)
    memory = torch.randn(3, mlen, 32, requires_grad=True)
    mask = causal_mask(qlen=qlen, mlen=mlen) if mask_kind == "causal" else None
    if mask_kind == "padding":
        mask = torch.zeros(3, 1, 1, mlen + qlen, dtype=torch.bool)
        mask[0, ..., -2:] = True
    pos_emb = pos_emb_for(qlen=qlen, klen=mlen + qlen, bidirectional=bidirectional, d_model=32,
                          dtype=torch.float32)
    u.requires_grad_(), v.requires_grad_()
    out = attn(h, pos_emb=pos_emb, r_w_bias=u, r_r_bias=v, memory=memory, attn_mask=mask).output
    (out * torch.linspace(-1, 1, out.numel()).view_as(out)).sum().backward()
    grads = [h.grad, memory.grad, u.grad, v.grad] + [p.grad for p in attn.parameters()]
    return out.detach(), grads


@pytest.mark.parametrize("case", ["nlg_causal_memory", "nlu_key_padding"])
def test_impls_agree_on_outputs_and_gradients(case):
    ref_out, ref_grads = run_with_grads("reference", case)
    for impl in ("fast", "sdpa"):
        out, grads = run_with_grads(impl, case)
        torch.testing.assert_close(out, ref_out, atol=1e-5, rtol=1e-5)
        for g, ref in zip(grads, ref_grads, strict=True):
            torch.testing.assert_close(g, ref, atol=1e-5, rtol=1e-5)


CORE_CASES = {  # name: (qlen, mlen, bidirectional, mask kind); the first is the one-query kernel
    "one_query_decoding": (1, 6, False, None),
    "causal_memory": (5, 3, False, "causal"),
    "bidirectional_padding": (5, 0, True, "padding"),
    "bidirectional_memory_padded_query": (4, 2, True, "dead_row"),
}


@pytest.mark.parametrize("case", list(CORE_CASES))
def test_kernels_equal_the_readable_core_and_kimiyoungs_layout(case):
    """The cores on projected heads: the readable path, each kernel and the time-major layout
    agree on values, weights and every input gradient (u, v and pos_keys included)."""
    qlen, mlen, bidirectional, mask_kind = CORE_CASES[case]
    klen, n_head, d_head, bsz = mlen + qlen, 3, 4, 2
    rlen = klen + qlen - 1 if bidirectional else klen
    gen = torch.Generator().manual_seed(5)
    inputs = [torch.randn(*shape, dtype=torch.float64, generator=gen) for shape in (
        (bsz, n_head, qlen, d_head), (bsz, n_head, klen, d_head), (bsz, n_head, klen, d_head),
        (n_head, rlen, d_head), (n_head, d_head), (n_head, d_head))]
    mask = causal_mask(qlen=qlen, mlen=mlen) if mask_kind == "causal" else None
    if mask_kind in ("padding", "dead_row"):
        mask = torch.zeros(bsz, 1, qlen, klen, dtype=torch.bool)
        mask[1, ..., -2:] = True  # padding keys of the second example
        if mask_kind == "dead_row":
            mask[0, :, -1] = True  # a query that sees no key at all
    grad_out = torch.linspace(-1, 1, bsz * n_head * qlen * d_head, dtype=torch.float64)

    def run(core):
        leaves = [t.clone().requires_grad_() for t in inputs]
        q, k, v, pos_keys, u, v_bias = leaves
        out, weights = core(q, k, v, pos_keys, r_w_bias=u, r_r_bias=v_bias, scale=0.35,
                            attn_mask=mask)
        (out * grad_out.view_as(out)).sum().backward()
        return [out, weights] + [t.grad for t in leaves]

    def time_major(q, k, v, pos_keys, **kw):
        out, weights = time_major_attention(q.permute(2, 0, 1, 3), k.permute(2, 0, 1, 3),
                                            v.permute(2, 0, 1, 3), pos_keys.transpose(0, 1), **kw)
        return out.permute(1, 2, 0, 3), weights.permute(2, 3, 0, 1)  # batch-first again

    def kernel(use_sdpa):
        def core(*args, **kw):
            return fast_relative_attention(*args, **kw, use_sdpa=use_sdpa, need_weights=True)
        return core

    want = run(relative_attention)
    for name, core in (("time-major", time_major), ("fast", kernel(False)),
                       ("sdpa", kernel(True))):
        got = run(core)
        for n, (a, b) in enumerate(zip(got, want, strict=True)):
            if a is None and name == "sdpa" and n == 1:
                continue  # SDPA keeps its weights
            torch.testing.assert_close(a, b, atol=1e-12, rtol=1e-12, msg=f"{name} output {n}")


def test_sdpa_with_need_weights_falls_back_to_fast():
    fast, u, v = make_attn("fast")
    sdpa, _, _ = make_attn("sdpa")
    h, memory, mask, pos_emb, _ = make_case("nlg_causal_memory")
    kwargs = dict(pos_emb=pos_emb, r_w_bias=u, r_r_bias=v, memory=memory, attn_mask=mask)
    a, b = fast(h, **kwargs, need_weights=True), sdpa(h, **kwargs, need_weights=True)
    assert b.weights is not None and torch.equal(a.weights, b.weights)
    assert sdpa(h, **kwargs).weights is None


# --------------------------------------------------------------------- memory and KV cache


@pytest.mark.parametrize("impl", IMPLS)
def test_kv_cache_equals_memory(impl):
    attn, u, v = make_attn(impl)
    h, memory, mask, pos_emb, _ = make_case("nlg_causal_memory")
    mlen = memory.shape[1]
    first = attn(memory, pos_emb=pos_emb_for(qlen=mlen, klen=mlen, bidirectional=False),
                 r_w_bias=u, r_r_bias=v, attn_mask=causal_mask(qlen=mlen, mlen=0))
    kwargs = dict(pos_emb=pos_emb, r_w_bias=u, r_r_bias=v, attn_mask=mask)
    with_memory = attn(h, memory=memory, **kwargs)
    with_cache = attn(h, kv_cache=first.key_value, **kwargs)
    torch.testing.assert_close(with_cache.output, with_memory.output, atol=1e-12, rtol=1e-12)
    for a, b in zip(with_cache.key_value, with_memory.key_value, strict=True):
        assert a.shape == (2, N_HEAD, mlen + h.shape[1], D_HEAD)
        torch.testing.assert_close(a, b, atol=1e-12, rtol=1e-12)
    with pytest.raises(ValueError, match="not both"):
        attn(h, memory=memory, kv_cache=first.key_value, **kwargs)


@pytest.mark.parametrize("impl", IMPLS)
def test_token_by_token_decoding_with_cache_equals_full_causal_pass(impl):
    attn, u, v = make_attn(impl)
    h = torch.randn(2, 5, D_MODEL, dtype=torch.float64)
    full = attn(h, pos_emb=pos_emb_for(qlen=5, klen=5, bidirectional=False), r_w_bias=u,
                r_r_bias=v, attn_mask=causal_mask(qlen=5, mlen=0)).output
    cache, steps = None, []
    for t in range(5):  # one query at a time: R = K = t+1, nothing to mask
        step = attn(h[:, t : t + 1], pos_emb=pos_emb_for(qlen=1, klen=t + 1, bidirectional=False),
                    r_w_bias=u, r_r_bias=v, kv_cache=cache)
        cache = step.key_value
        steps.append(step.output)
    torch.testing.assert_close(torch.cat(steps, dim=1), full, atol=1e-12, rtol=1e-12)


@pytest.mark.parametrize("impl", IMPLS)
def test_precomputed_pos_keys_equal_projecting_them(impl):
    """``pos_keys`` (what decoding caches) gives the same output and skips the W_{k,R}
    projection."""
    attn, u, v = make_attn(impl)
    h, memory, mask, pos_emb, _ = make_case("nlg_causal_memory")
    kwargs = dict(pos_emb=pos_emb, r_w_bias=u, r_r_bias=v, memory=memory, attn_mask=mask)
    projected = attn(h, **kwargs, need_weights=True)
    pos_keys = attn.pos_keys_of(pos_emb)  # (R, H*Dh)
    calls = []
    attn.r_net.register_forward_hook(lambda *_: calls.append(1))
    cached = attn(h, **kwargs, need_weights=True, pos_keys=pos_keys)
    assert pos_keys.shape == (pos_emb.shape[0], N_HEAD * D_HEAD)
    assert not calls
    for a, b in zip(cached[:2], projected[:2], strict=True):
        torch.testing.assert_close(a, b, atol=1e-12, rtol=1e-12)
    with pytest.raises(ValueError, match="pos_keys must be"):
        attn(h, **kwargs, pos_keys=pos_keys[1:])


# --------------------------------------------------------------------- gradients and masking


@pytest.mark.parametrize("impl", IMPLS)
def test_gradients_reach_every_parameter_and_bias(impl):
    attn, u, v = make_attn(impl)
    u.requires_grad_(), v.requires_grad_()
    h, memory, mask, pos_emb, _ = make_case("nlg_causal_memory")
    attn(h, pos_emb=pos_emb, r_w_bias=u, r_r_bias=v, memory=memory,
         attn_mask=mask).output.pow(2).sum().backward()
    for name, grad in [("u", u.grad), ("v", v.grad), ("r_net", attn.r_net.weight.grad),
                       ("o_net", attn.o_net.weight.grad)]:
        assert grad is not None and grad.abs().min() > 0, name
    for block in attn.qkv_net.weight.grad.split(N_HEAD * D_HEAD):  # W_q, W_{k,E}, W_v rows
        assert block.abs().sum(dim=1).min() > 0


@pytest.mark.parametrize("impl", IMPLS)
def test_causal_output_ignores_the_future_and_bidirectional_sees_both_sides(impl):
    attn, u, v = make_attn(impl)
    qlen = 5
    for bidirectional in (False, True):
        h = torch.randn(1, qlen, D_MODEL, dtype=torch.float64, requires_grad=True)
        mask = None if bidirectional else causal_mask(qlen=qlen, mlen=0)
        pos_emb = pos_emb_for(qlen=qlen, klen=qlen, bidirectional=bidirectional)
        out = attn(h, pos_emb=pos_emb, r_w_bias=u, r_r_bias=v, attn_mask=mask).output
        for i in range(qlen):
            (grad,) = torch.autograd.grad(out[0, i].sum(), h, retain_graph=True)
            reach = grad[0].abs().sum(dim=-1)  # (Q,): how much output i depends on input j
            for j in range(qlen):
                depends = bidirectional or j <= i
                assert (reach[j] > 0) == depends, (bidirectional, i, j)


@pytest.mark.parametrize("impl", IMPLS)
def test_padding_rows_are_finite_and_real_tokens_ignore_padding(impl):
    attn, u, v = make_attn(impl)
    real, padded_len = 3, 5
    h = torch.randn(1, padded_len, D_MODEL, dtype=torch.float64, requires_grad=True)
    is_pad = torch.arange(padded_len) >= real  # (Q,)
    mask = (is_pad[None, :] | is_pad[:, None])[None, None]  # (1, 1, Q, K): pad rows fully masked
    pos_emb = pos_emb_for(qlen=padded_len, klen=padded_len, bidirectional=True)
    kwargs = dict(pos_emb=pos_emb, r_w_bias=u, r_r_bias=v, attn_mask=mask)
    out = attn(h, **kwargs)  # no weights requested: "sdpa" really runs SDPA
    out.output.sum().backward()
    assert torch.isfinite(out.output).all() and torch.isfinite(h.grad).all()
    assert torch.equal(out.output[0, real:], torch.zeros(padded_len - real, D_MODEL,
                                                         dtype=torch.float64))
    weights = attn(h, **kwargs, need_weights=True).weights  # (1, H, Q, K)
    assert torch.equal(weights[..., real:, :], torch.zeros_like(weights[..., real:, :]))
    alone = attn(h[:, :real], pos_emb=pos_emb_for(qlen=real, klen=real, bidirectional=True),
                 r_w_bias=u, r_r_bias=v).output
    torch.testing.assert_close(out.output[:, :real], alone, atol=1e-12, rtol=1e-12)


def test_dropatt_only_in_training():
    attn, u, v = make_attn("fast", dropatt=0.5)
    h, memory, mask, pos_emb, _ = make_case("nlg_causal_memory")
    kwargs = dict(pos_emb=pos_emb, r_w_bias=u, r_r_bias=v, memory=memory, attn_mask=mask)
    attn.eval()
    assert torch.equal(attn(h, **kwargs).output, attn(h, **kwargs).output)
    attn.train()
    assert not torch.equal(attn(h, **kwargs).output, attn(h, **kwargs).output)


def test_bad_arguments_are_rejected():
    attn, u, v = make_attn()
    h = torch.randn(1, 3, D_MODEL, dtype=torch.float64)
    with pytest.raises(ValueError, match="impl"):
        RelMultiHeadAttention(d_model=8, n_head=2, d_head=4, impl="flash")
    with pytest.raises(ValueError, match="pos_emb has 4 rows"):
        attn(h, pos_emb=torch.zeros(4, D_MODEL, dtype=torch.float64), r_w_bias=u, r_r_bias=v)
    with pytest.raises(ValueError, match="causal_mask"):  # causal positions without a mask
        attn(h, pos_emb=pos_emb_for(qlen=3, klen=3, bidirectional=False), r_w_bias=u, r_r_bias=v)
    with pytest.raises(TypeError, match="bool"):
        attn(h, pos_emb=pos_emb_for(qlen=3, klen=3, bidirectional=True), r_w_bias=u, r_r_bias=v,
             attn_mask=torch.zeros(3, 3))


@pytest.mark.parametrize("impl", IMPLS)
def test_float32_positions_work_with_a_float64_module(impl):
    attn, u, v = make_attn(impl)  # float64
    pos_emb = sinusoid_embedding(relative_positions(qlen=3, klen=3, bidirectional=True), 8)
    out = attn(torch.randn(1, 3, 8, dtype=torch.float64), pos_emb=pos_emb, r_w_bias=u,
               r_r_bias=v)
    assert pos_emb.dtype == torch.float32 and out.output.dtype == torch.float64


def test_rel_shift_accepts_non_contiguous_input():
    x = torch.randn(2, 3, 4, 9, dtype=torch.float64)
    strided = x.transpose(-1, -2).contiguous().transpose(-1, -2)  # same values, other strides
    assert torch.equal(rel_shift(strided, klen=6), rel_shift(x, klen=6))


@pytest.mark.parametrize("impl", IMPLS)
def test_forward_traces_as_one_graph_without_host_syncs(impl):
    """fullgraph=True fails on any graph break, e.g. a ``.item()`` or a branch on tensor data."""
    attn, u, v = make_attn(impl, dtype=torch.float32)
    h, memory, mask, pos_emb, _ = make_case("nlg_causal_memory", dtype=torch.float32)
    kwargs = dict(pos_emb=pos_emb, r_w_bias=u, r_r_bias=v, memory=memory, attn_mask=mask)
    traced = torch.compile(attn, fullgraph=True, backend="eager")(h, **kwargs)
    torch.testing.assert_close(traced.output, attn(h, **kwargs).output)


@pytest.mark.parametrize("impl", IMPLS)
def test_bf16_autocast_runs_and_stays_close(impl):
    attn, u, v = make_attn(impl, dtype=torch.float32, d_model=32, n_head=4, d_head=8)
    h, memory, _, _, _ = make_case("nlg_causal_memory", dtype=torch.float32)
    h, memory = h.repeat(1, 1, 4), memory.repeat(1, 1, 4)  # d_model 32
    pos_emb = pos_emb_for(qlen=3, klen=6, bidirectional=False, d_model=32, dtype=torch.float32)
    mask = causal_mask(qlen=3, mlen=3) | (torch.arange(3) == 2)[:, None]  # last row: no keys
    kwargs = dict(pos_emb=pos_emb, r_w_bias=u, r_r_bias=v, memory=memory, attn_mask=mask)
    full = attn(h, **kwargs).output
    with torch.autocast("cpu", dtype=torch.bfloat16):
        half = attn(h, **kwargs).output
    assert half.dtype == torch.bfloat16 and torch.isfinite(half).all()
    torch.testing.assert_close(half.float(), full, atol=5e-2, rtol=5e-2)
    assert torch.equal(half[:, 2], torch.zeros_like(half[:, 2]))
