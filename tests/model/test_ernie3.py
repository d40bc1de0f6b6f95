"""`Ernie3Model`: NLU/NLG paths, memory equivalence, causality, gradient routing, sizes."""

from __future__ import annotations

import pytest
import torch

from ernie3_lite.config import Ernie3Config
from ernie3_lite.model.ernie3 import Ernie3Model

NARROW_TASKS = {"nlu": {"d_model": 16, "n_head": 2, "d_inner": 24},
                "nlg": {"d_model": 24, "n_head": 2, "d_inner": 40}}
CONFIGS = {
    "test": {},  # every stack 32 wide: no projections
    "narrow": NARROW_TASKS,  # task modules narrower than universal, as in the paper
}


def make_model(variant: str = "test", seed: int = 0, **overrides) -> Ernie3Model:
    torch.manual_seed(seed)
    config = Ernie3Config.from_name("test", **{**CONFIGS[variant], **overrides})
    return Ernie3Model(config).eval()


def token_ids(*shape: int, seed: int = 1) -> torch.Tensor:
    return torch.randint(4, 100, shape, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("variant", sorted(CONFIGS))
def test_output_shapes(variant):
    model = make_model(variant)
    cfg = model.config
    ids = token_ids(2, 7)
    nlu = model.forward_nlu(ids, need_weights=True)
    assert nlu.hidden.shape == (2, 7, cfg.nlu.d_model)
    assert nlu.universal_hidden.shape == (2, 7, cfg.universal.d_model)
    assert nlu.weights["nlu"][0].shape == (2, cfg.nlu.n_head, 7, 7)
    nlg = model.forward_nlg(ids, need_weights=True)
    assert nlg.hidden.shape == (2, 7, cfg.nlg.d_model)
    assert [m.shape for m in nlg.new_memory.nlg] == [(2, 7, cfg.nlg.d_model)] * cfg.nlg.n_layer
    nlg2 = model.forward_nlg(ids, memory=nlg.new_memory, need_weights=True)
    assert nlg2.weights["universal"][0].shape == (2, cfg.universal.n_head, 7, 14)
    assert nlg2.new_memory.length == cfg.mem_len  # 14 positions seen, 8 kept
    assert model.mlm_logits(nlu.hidden).shape == (2, 7, cfg.vocab_size)
    assert model.lm_logits(nlg.hidden).shape == (2, 7, cfg.vocab_size)
    assert model.sentence_reorder_logits(nlu.hidden).shape == (2, cfg.sr_num_classes)
    assert model.sentence_distance_logits(nlu.hidden).shape == (2, 3)
    assert model(ids, paradigm="nlu").hidden.shape == nlu.hidden.shape
    assert model.forward_nlg(ids, mem_len=0).new_memory is None


def test_rejects_segments_longer_than_max_seq_len():
    model = make_model()
    with pytest.raises(ValueError, match="max_seq_len=16"):
        model.forward_nlg(token_ids(1, 17))
    with pytest.raises(ValueError, match="paradigm"):
        model(token_ids(1, 3), paradigm="seq2seq")


# ------------------------------------------------------------------ memory (TXL §3.2, §1.4 notes)


@pytest.mark.parametrize("variant", sorted(CONFIGS))
def test_nlg_segments_with_memory_equal_one_long_pass(variant):
    """XL recurrence, mem_len >= len(A): [A] then [B | memory] == [A; B] at B's positions,
    for the universal and the NLG module alike."""
    model = make_model(variant, recurrence="xl", mem_len=10)
    a, b, c = token_ids(2, 4, seed=2), token_ids(2, 6, seed=3), token_ids(2, 5, seed=4)
    full = model.forward_nlg(torch.cat([a, b, c], dim=1))
    out_a = model.forward_nlg(a)
    out_b = model.forward_nlg(b, memory=out_a.new_memory)
    out_c = model.forward_nlg(c, memory=out_b.new_memory)
    for out, span in ((out_a, slice(0, 4)), (out_b, slice(4, 10)), (out_c, slice(10, 15))):
        torch.testing.assert_close(out.universal_hidden, full.universal_hidden[:, span],
                                   rtol=0, atol=1e-5)
        torch.testing.assert_close(out.hidden, full.hidden[:, span], rtol=0, atol=1e-5)


def test_too_short_memory_breaks_the_equivalence():
    model = make_model(recurrence="xl", mem_len=2)
    a, b = token_ids(2, 6, seed=2), token_ids(2, 5, seed=3)
    full = model.forward_nlg(torch.cat([a, b], dim=1))
    out_b = model.forward_nlg(b, memory=model.forward_nlg(a).new_memory)
    assert not torch.allclose(out_b.hidden, full.hidden[:, 6:], atol=1e-4)


def test_same_layer_recurrence_changes_outputs_and_memory_has_no_gradient():
    xl = make_model(recurrence="xl")
    same = make_model(recurrence="same_layer")
    same.load_state_dict(xl.state_dict())
    a, b = token_ids(2, 5, seed=2), token_ids(2, 5, seed=3)
    mem_xl, mem_same = xl.forward_nlg(a).new_memory, same.forward_nlg(a).new_memory
    for tensor in [*mem_same.universal, *mem_same.nlg, *mem_xl.universal, *mem_xl.nlg]:
        assert not tensor.requires_grad and tensor.grad_fn is None
    out_xl = xl.forward_nlg(b, memory=mem_xl)
    out_same = same.forward_nlg(b, memory=mem_same)
    assert not torch.allclose(out_xl.hidden, out_same.hidden, atol=1e-4)
    torch.testing.assert_close(xl.forward_nlg(a).hidden, same.forward_nlg(a).hidden)


# ------------------------------------------------------------------ what each position can see


def _reach(model, ids, position, *, paradigm, **kwargs):
    """|d output[position] / d embedding[j]| summed per j, via a hook on the embeddings."""
    captured = []

    def keep(module, args, output):
        output.retain_grad()
        captured.append(output)

    hook = model.embeddings.register_forward_hook(keep)
    model.zero_grad()
    out = model.forward_nlu(ids) if paradigm == "nlu" else model.forward_nlg(ids, **kwargs)
    hook.remove()
    logits = model.lm_logits(out.hidden) if paradigm == "nlg" else model.mlm_logits(out.hidden)
    logits[:, position].square().sum().backward()
    return captured[0].grad.abs().sum(dim=(0, 2))  # (T,)


@pytest.mark.parametrize("variant", sorted(CONFIGS))
def test_no_nlg_output_depends_on_a_future_token(variant):
    model = make_model(variant)
    memory = model.forward_nlg(token_ids(2, 4, seed=5)).new_memory
    ids = token_ids(2, 7)
    for position in range(7):
        reach = _reach(model, ids, position, paradigm="nlg", memory=memory)
        assert (reach[position + 1:] == 0).all(), position
        assert (reach[: position + 1] > 0).all(), position


def test_nlu_sees_both_sides_and_ignores_padding():
    model = make_model("narrow")
    ids = token_ids(2, 7)
    for position in (0, 3, 6):
        assert (_reach(model, ids, position, paradigm="nlu") > 0).all()
    mask = torch.tensor([[1] * 7, [1] * 5 + [0] * 2])
    changed = ids.clone()
    changed[1, 5:] = torch.tensor([7, 8])
    before = model.forward_nlu(ids, attention_mask=mask).hidden
    after = model.forward_nlu(changed, attention_mask=mask).hidden
    torch.testing.assert_close(before[1, :5], after[1, :5], rtol=0, atol=1e-6)
    unmasked = model.forward_nlu(changed).hidden
    assert not torch.allclose(unmasked[1, :5], model.forward_nlu(ids).hidden[1, :5], atol=1e-4)


# ------------------------------------------------------------------ gradient routing (§3.2)


def _learning(model) -> dict[str, bool]:
    """Top-level module -> did every one of its parameters get a non-zero gradient."""
    groups: dict[str, list[bool]] = {}
    for name, p in model.named_parameters():
        got = p.grad is not None and bool(p.grad.abs().sum() > 0)
        groups.setdefault(name.split(".")[0], []).append(got)
    return {group: all(flags) for group, flags in groups.items()}


def _untouched(model) -> set[str]:
    return {name.split(".")[0] for name, p in model.named_parameters() if p.grad is None}


def test_nlu_losses_train_universal_nlu_and_their_heads_only():
    model = make_model("narrow").train()
    ids = token_ids(2, 7)
    hidden = model.forward_nlu(ids, token_type_ids=torch.ones_like(ids),
                               task_type_ids=torch.full_like(ids, 2)).hidden
    loss = (model.mlm_logits(hidden).logsumexp(-1).mean()
            + model.sentence_reorder_logits(hidden).logsumexp(-1).mean()
            + model.sentence_distance_logits(hidden).logsumexp(-1).mean())
    loss.backward()
    learning = _learning(model)
    for group in ("embeddings", "universal", "nlu_proj", "nlu", "mlm_head",
                  "sentence_reorder_head", "sentence_distance_head"):
        assert learning[group], group
    assert _untouched(model) == {"nlg_proj", "nlg", "lm_head"}
    assert model.universal.r_w_bias.grad.abs().sum() > 0  # u
    assert model.universal.r_r_bias.grad.abs().sum() > 0  # v
    assert model.nlu.r_w_bias.grad.abs().sum() > 0 and model.nlu.r_r_bias.grad.abs().sum() > 0


def test_nlg_loss_trains_universal_and_nlg_only():
    model = make_model("narrow").train()
    ids = token_ids(2, 7)
    memory = model.forward_nlg(token_ids(2, 3, seed=6)).new_memory
    model.zero_grad()
    out = model.forward_nlg(ids, memory=memory)
    model.lm_logits(out.hidden).logsumexp(-1).mean().backward()
    learning = _learning(model)
    for group in ("embeddings", "universal", "nlg_proj", "nlg", "lm_head"):
        assert learning[group], group
    assert _untouched(model) == {"nlu_proj", "nlu", "mlm_head", "sentence_reorder_head",
                                 "sentence_distance_head"}
    assert model.nlg.r_w_bias.grad.abs().sum() > 0 and model.nlg.r_r_bias.grad.abs().sum() > 0


# ------------------------------------------------------------------ parameter counts


def expected_parameters(config: Ernie3Config) -> tuple[int, int]:
    """(total, W_{k,R} part), written from the architecture, not from the modules."""

    def stack(s) -> int:
        attention = 3 * s.d_model**2 + s.d_model**2 + s.d_model**2  # W_q,k,v + W_{k,R} + W_o
        ffn = 2 * s.d_model * s.d_inner + s.d_inner + s.d_model
        norms = 2 * 2 * s.d_model
        u_v, final_norm = 2 * s.d_model, 2 * s.d_model
        return s.n_layer * (attention + ffn + norms) + u_v + final_norm

    d_u, vocab = config.universal.d_model, config.vocab_size
    embeddings = (vocab + config.type_vocab_size + config.num_task_types) * d_u
    embeddings += 2 * d_u if config.embedding_norm else 0  # the LayerNorm on their sum

    def projection(d_task: int) -> int:
        return 0 if d_task == d_u else d_u * d_task + d_task

    def tied_head(d_task: int) -> int:
        return d_task * d_u + d_u + 2 * d_u + vocab  # transform, LayerNorm, output bias

    def cls_head(d: int, classes: int) -> int:
        return d * d + d + d * classes + classes

    d_nlu, d_nlg = config.nlu.d_model, config.nlg.d_model
    total = (embeddings + stack(config.universal) + stack(config.nlu) + stack(config.nlg)
             + projection(d_nlu) + projection(d_nlg) + tied_head(d_nlu) + tied_head(d_nlg)
             + cls_head(d_nlu, config.sr_num_classes) + cls_head(d_nlu, config.num_sd_classes))
    stacks = (config.universal, config.nlu, config.nlg)
    position_keys = sum(s.n_layer * s.d_model**2 for s in stacks)
    return total, position_keys


@pytest.mark.parametrize("variant", sorted(CONFIGS))
def test_parameter_count_matches_the_formula(variant):
    model = make_model(variant)
    total, position_keys = expected_parameters(model.config)
    assert model.num_parameters() == total
    assert model.num_position_key_parameters() == position_keys
    assert model.num_parameters(exclude_position_keys=True) == total - position_keys
    breakdown = model.parameter_breakdown()
    assert sum(v for k, v in breakdown.items() if k != "position_keys") == total
    assert not any("word" in k for k in model.mlm_head.state_dict())  # tied: stored once


def test_paper_10b_on_meta_device_has_about_ten_billion_parameters():
    """ERNIE 3.0 §3.3.3 says 10B. Without W_{k,R} we count 10.01B; W_{k,R} adds 0.82B."""
    config = Ernie3Config.from_name("paper-10b")
    model = Ernie3Model.build_on_meta(config)
    assert all(p.device.type == "meta" for p in model.parameters())
    without_position_keys = model.num_parameters(exclude_position_keys=True)
    assert abs(without_position_keys - 10e9) / 10e9 < 0.02
    assert model.num_position_key_parameters() == 48 * 4096**2 + 2 * 12 * 768**2 == 819_462_144
    total, position_keys = expected_parameters(config)
    assert model.num_parameters() == total and position_keys == 819_462_144
    breakdown = model.parameter_breakdown()
    universal_without_r = breakdown["universal"] - 48 * 4096**2
    assert abs(universal_without_r - 48 * 12 * 4096**2) / (48 * 12 * 4096**2) < 0.001
