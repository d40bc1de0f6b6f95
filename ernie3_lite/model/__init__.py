"""Model: Transformer-XL attention and memory, and the ERNIE 3.0 universal + task networks.

Plain PyTorch (no Lightning, no data code). Reading order: `positions` and `attention`
(relative attention as Transformer-XL §3.3 writes it) -> `memory` (segment recurrence, §3.2)
-> `block` (one layer) -> `stack` (a module: layers + u/v + positions + memory) -> `ernie3`
(ERNIE 3.0 §3.1) -> `heads` -> `decoding` (exact K/V cache for generation).
`attention_kernels` holds the tuned kernels ("fast", "sdpa") tested equal to `attention`.
"""

from ernie3_lite.model.attention import (
    AttentionOutput,
    RelMultiHeadAttention,
    rel_shift,
    relative_attention,
)
from ernie3_lite.model.block import LayerOutput, PositionwiseFF, RelTransformerLayer
from ernie3_lite.model.decoding import NLGCache, decode_step, greedy_decode, prefill
from ernie3_lite.model.ernie3 import Ernie3Embeddings, Ernie3Model, NLGOutput, NLUOutput
from ernie3_lite.model.heads import (
    SequenceClassificationHead,
    TiedLMHead,
    TokenClassificationHead,
)
from ernie3_lite.model.memory import Ernie3Memory, update_memory
from ernie3_lite.model.positions import (
    causal_mask,
    position_dtype,
    relative_positions,
    sinusoid_embedding,
)
from ernie3_lite.model.stack import RelTransformerStack, StackOutput

__all__ = [
    "AttentionOutput",
    "Ernie3Embeddings",
    "Ernie3Memory",
    "Ernie3Model",
    "LayerOutput",
    "NLGCache",
    "NLGOutput",
    "NLUOutput",
    "PositionwiseFF",
    "RelMultiHeadAttention",
    "RelTransformerLayer",
    "RelTransformerStack",
    "SequenceClassificationHead",
    "StackOutput",
    "TiedLMHead",
    "TokenClassificationHead",
    "causal_mask",
    "decode_step",
    "greedy_decode",
    "position_dtype",
    "prefill",
    "rel_shift",
    "relative_attention",
    "relative_positions",
    "sinusoid_embedding",
    "update_memory",
]
