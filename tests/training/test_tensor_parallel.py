"""Tensor parallel in one process: the split model computes what the plain model computes.

A one-rank gloo group and a one-device mesh run every hook of the plan (the replicated
``attn_norm`` output, the column/row-split Linears, u/v read from DTensor shards) in-process
and fast; the two-process runs that really divide the heads are in test_distributed.py.
"""

from __future__ import annotations

import copy
import socket

import pytest
import torch
import torch.distributed as dist

from ernie3_lite.config import Ernie3Config
from ernie3_lite.model import Ernie3Model
from ernie3_lite.model.attention import RelMultiHeadAttention
from ernie3_lite.model.decoding import prefill
from ernie3_lite.model.positions import relative_positions, sinusoid_embedding
from ernie3_lite.model.pretrained import fuse_split_projections, save_pretrained
from ernie3_lite.training.parallel import full_state_dict
from ernie3_lite.training.tensor_parallel import check_divisible, shard_layers

VOCAB = 60


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def tp_mesh():
    from torch.distributed.device_mesh import init_device_mesh

    if dist.is_initialized():
        pytest.skip("a process group is already running in this process")
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{free_port()}", rank=0,
                            world_size=1)
    try:
        yield init_device_mesh("cpu", (1,), mesh_dim_names=("tensor_parallel",))
    finally:
        dist.destroy_process_group()


def make_model(attention_impl: str = "fast") -> Ernie3Model:
    torch.manual_seed(0)
    config = Ernie3Config.from_name("test", vocab_size=VOCAB, attention_impl=attention_impl)
    return Ernie3Model(config).double().eval()


def full(tensor: torch.Tensor) -> torch.Tensor:
    return tensor.full_tensor() if hasattr(tensor, "full_tensor") else tensor


def nlu_and_nlg_loss(model: Ernie3Model, ids: torch.Tensor) -> torch.Tensor:
    """Both paths, the NLG one over two segments so that memory enters the keys."""
    nlu = model.mlm_logits(model.forward_nlu(ids).hidden)
    first = model.forward_nlg(ids[:, :4], mem_len=4)
    second = model.forward_nlg(ids[:, 4:], memory=first.new_memory, mem_len=4)
    return nlu.logsumexp(-1).mean() + model.lm_logits(second.hidden).logsumexp(-1).mean()


@pytest.mark.parametrize("attention_impl", ["reference", "fast", "sdpa"])
def test_split_model_matches_the_plain_model_in_loss_and_gradients(tp_mesh, attention_impl):
    plain = make_model(attention_impl)
    split = copy.deepcopy(plain)
    shard_layers(split, tp_mesh["tensor_parallel"])
    assert type(split.universal.r_w_bias).__name__ == "DTensor"
    ids = torch.randint(0, VOCAB, (2, 8), generator=torch.Generator().manual_seed(1))
    want, got = nlu_and_nlg_loss(plain, ids), nlu_and_nlg_loss(split, ids)
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    want.backward()
    got.backward()
    grads = {name: p.grad for name, p in plain.named_parameters()}
    split_grads = fuse_split_projections({name: full(p.grad)
                                          for name, p in split.named_parameters()})
    assert split_grads.keys() == grads.keys()
    for name, grad in grads.items():
        torch.testing.assert_close(split_grads[name], grad, rtol=1e-10, atol=1e-12, msg=name)
    # the gathered weights are the plain model's, under the plain model's names
    gathered = full_state_dict(split)
    assert gathered.keys() == plain.state_dict().keys()
    for name, tensor in plain.state_dict().items():
        assert torch.equal(gathered[name], tensor), name


def test_heads_and_hidden_units_must_divide_evenly():
    model = make_model()  # 4 heads, d_inner 64 in every stack
    check_divisible(model, 2)
    check_divisible(model, 4)
    with pytest.raises(ValueError, match=r"universal\.n_head=4 must be divisible by "
                                         r"tensor_parallel_size=3"):
        check_divisible(model, 3)


def test_split_projections_are_the_same_function_and_save_like_the_fused_one(tmp_path):
    model = make_model()
    ids = torch.randint(0, VOCAB, (2, 8), generator=torch.Generator().manual_seed(2))
    want = model.forward_nlg(ids).hidden
    layer = model.universal.layers[0]
    fused = layer.attn.qkv_net.weight.detach().clone()
    for stack in (model.universal, model.nlu, model.nlg):
        for one in stack.layers:
            one.attn.split_projections()
    assert not hasattr(layer.attn, "qkv_net")
    assert torch.equal(torch.cat([layer.attn.q_net.weight, layer.attn.k_net.weight,
                                  layer.attn.v_net.weight]), fused)
    torch.testing.assert_close(model.forward_nlg(ids).hidden, want, rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="full attention weights"):
        prefill(model, ids)  # a tensor-parallel model's heads live on several ranks
    loaded = Ernie3Model.from_pretrained(save_pretrained(model, tmp_path / "saved")).double()
    assert "universal.layers.0.attn.qkv_net.weight" in loaded.state_dict()
    torch.testing.assert_close(loaded.forward_nlg(ids).hidden, want, rtol=0, atol=1e-12)


@pytest.mark.parametrize("impl", ["reference", "fast", "sdpa"])
def test_every_attention_impl_can_be_split(impl):
    """The projections are shared by all impls, so the readable path splits too."""
    torch.manual_seed(0)
    attn = RelMultiHeadAttention(d_model=8, n_head=2, d_head=4, impl=impl).double()
    h = torch.randn(2, 3, 8, dtype=torch.float64)
    u, v = torch.randn(2, 4, dtype=torch.float64), torch.randn(2, 4, dtype=torch.float64)

    def run(memory):
        klen = 3 + (0 if memory is None else memory.shape[1])
        pos = relative_positions(qlen=3, klen=klen, bidirectional=True, dtype=torch.float64)
        return attn(h, pos_emb=sinusoid_embedding(pos, 8), r_w_bias=u, r_r_bias=v, memory=memory)

    memories = (None, torch.randn(2, 2, 8, dtype=torch.float64))
    want = [run(memory) for memory in memories]
    attn.split_projections()
    assert not hasattr(attn, "qkv_net") and hasattr(attn, "q_net")
    for memory, expected in zip(memories, want, strict=True):
        got = run(memory)
        torch.testing.assert_close(got.output, expected.output, rtol=0, atol=1e-12)
        for a, b in zip(got.key_value, expected.key_value, strict=True):
            torch.testing.assert_close(a, b, rtol=0, atol=1e-12)
