"""Truth tests for the relative-position table: built in the model's dtype, exact in float64.

Transformer-XL's sinusoids (arXiv 1901.02860 §3.3) are sin/cos of distance x frequency; a
distance of a few thousand held in float32 loses the low bits of the angle, so a float64 model
must build its table in float64 to be as exact as the rest of its math.
"""

from __future__ import annotations

import math

import torch

from ernie3_lite.config import Ernie3Config, StackConfig
from ernie3_lite.model import (
    Ernie3Model,
    RelTransformerStack,
    decode_step,
    position_dtype,
    prefill,
)


def reference_table(distances: list[int], d_model: int) -> torch.Tensor:
    """The sinusoid table from Python floats (double precision math.sin / math.cos)."""
    half = d_model // 2
    rows = []
    for p in distances:
        freqs = [1.0 / 10000 ** (2 * k / d_model) for k in range(half)]
        rows.append([math.sin(p * w) for w in freqs] + [math.cos(p * w) for w in freqs])
    return torch.tensor(rows, dtype=torch.float64)


def test_position_dtype_promotes_to_at_least_float32():
    assert position_dtype(torch.float64) == torch.float64
    assert position_dtype(torch.float32) == torch.float32
    assert position_dtype(torch.bfloat16) == torch.float32
    assert position_dtype(torch.float16) == torch.float32


def test_float64_stack_builds_an_exact_table_at_4096_positions():
    stack = RelTransformerStack(StackConfig(1, 768, 12, 16)).double()
    table = stack.position_embeddings(qlen=1, klen=4096, causal=True)  # (4096, 768)
    assert table.dtype == torch.float64
    expected = reference_table(list(range(4095, -1, -1)), 768)
    # float32 distances gave ~3e-4 here; float64 ones are exact to rounding of the angle
    assert (table - expected).abs().max().item() < 1e-11


def test_float32_stack_keeps_float32_table():
    stack = RelTransformerStack(StackConfig(1, 32, 4, 16))
    table = stack.position_embeddings(qlen=3, klen=5, causal=False)
    assert table.dtype == torch.float32 and table.shape == (7, 32)


def test_float64_model_decoding_matches_full_forward_to_1e12():
    """The cached decoding table (decoding.py) is built in the model's dtype as well."""
    config = Ernie3Config.from_name("test", max_seq_len=64, mem_len=0)
    model = Ernie3Model(config).double().eval()
    ids = torch.randint(5, config.vocab_size, (1, 40), generator=torch.Generator().manual_seed(0))
    full = model.lm_logits(model.forward_nlg(ids, task_type_ids=torch.ones_like(ids)).hidden)
    logits, cache = prefill(model, ids[:, :20], task_type_ids=torch.ones_like(ids[:, :20]))
    steps = [logits[:, -1]]
    for t in range(20, 39):
        step_logits, cache = decode_step(model, ids[:, t], cache)  # (B, V)
        steps.append(step_logits)
    torch.testing.assert_close(torch.stack(steps, 1), full[:, 19:39], atol=1e-12, rtol=1e-12)
