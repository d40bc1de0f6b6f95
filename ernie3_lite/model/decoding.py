"""Incremental decoding on the NLG path with an exact key/value cache.

Transformer-XL's memory caches *hidden states*; feeding one token with that memory re-projects
keys and values of the whole memory at every step. Because keys and values of relative attention
carry no absolute position (positions only enter through R_{i-j} and u/v, TXL arXiv 1901.02860
§3.3), caching the projected keys/values per layer is exact: a generated token's logits equal
a full forward over the whole prefix (tested to 1e-5). Positions for a single query are simply
the distances K-1..0, so `rel_shift` is the identity and the sinusoid table can be cached too.

This is only the caching machinery plus a greedy loop for tests; sampling strategies live in
the generation module. The path is the one of `Ernie3Model.forward_nlg` (ERNIE 3.0 §3.1: universal
module and NLG module, both causal), written out step by step.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch
from torch import Tensor

from ernie3_lite.model.attention import relative_positions, sinusoid_embedding
from ernie3_lite.model.ernie3 import Ernie3Model
from ernie3_lite.model.memory import Ernie3Memory
from ernie3_lite.model.stack import KeyValue, RelTransformerStack


@dataclass
class NLGCache:
    """Decoding state: per layer (k, v), each (B, H, K, Dh), for the universal and NLG stacks.

    token_type_ids / task_type_ids (B,): the ids given to generated tokens (those of the last
    prompt position). pos_tables: per stack name, sinusoid embeddings (P, d) of distances 0..P-1.
    """

    universal: list[KeyValue]
    nlg: list[KeyValue]
    token_type_ids: Tensor
    task_type_ids: Tensor
    pos_tables: dict[str, Tensor] = field(default_factory=dict)

    @property
    def length(self) -> int:
        """K, the number of cached positions (memory + prompt + generated)."""
        return self.universal[0][0].size(2)


@torch.no_grad()
def prefill(model: Ernie3Model, input_ids: Tensor, *, memory: Ernie3Memory | None = None,
            token_type_ids: Tensor | None = None,
            task_type_ids: Tensor | None = None) -> tuple[Tensor, NLGCache]:
    """Run the prompt (B, Q) through the NLG path; returns logits (B, Q, V) and the cache.

    memory: recurrence memory of earlier segments (its keys/values go into the cache). Call
    ``model.eval()`` first: dropout would make the cache disagree with a full forward.
    """
    x = model.embeddings(input_ids, token_type_ids=token_type_ids, task_type_ids=task_type_ids)
    uni = model.universal(x, causal=True, memory=None if memory is None else memory.universal,
                          use_cache=True)
    nlg = model.nlg(model.nlg_proj(uni.hidden), causal=True,
                    memory=None if memory is None else memory.nlg, use_cache=True)
    zeros = torch.zeros_like(input_ids[:, -1])  # (B,)
    cache = NLGCache(
        universal=uni.key_values, nlg=nlg.key_values,
        token_type_ids=zeros if token_type_ids is None else token_type_ids[:, -1],
        task_type_ids=zeros if task_type_ids is None else task_type_ids[:, -1],
    )
    return model.lm_logits(nlg.hidden), cache  # (B, Q, V)


@torch.no_grad()
def decode_step(model: Ernie3Model, next_ids: Tensor,
                cache: NLGCache) -> tuple[Tensor, NLGCache]:
    """Feed one token per stream, next_ids (B,); returns its logits (B, V) and the grown cache."""
    klen = cache.length + 1
    x = model.embeddings(next_ids[:, None], token_type_ids=cache.token_type_ids[:, None],
                         task_type_ids=cache.task_type_ids[:, None])  # (B, 1, d)
    uni = model.universal(x, causal=True, kv_cache=cache.universal, use_cache=True,
                          pos_emb=_positions(cache, "universal", model.universal, klen=klen))
    nlg = model.nlg(model.nlg_proj(uni.hidden), causal=True, kv_cache=cache.nlg, use_cache=True,
                    pos_emb=_positions(cache, "nlg", model.nlg, klen=klen))
    logits = model.lm_logits(nlg.hidden[:, 0])  # (B, V)
    return logits, replace(cache, universal=uni.key_values, nlg=nlg.key_values)


def _positions(cache: NLGCache, name: str, stack: RelTransformerStack, *, klen: int) -> Tensor:
    """(K, d) embeddings of distances K-1..0 for one query, read from a cached sinusoid table."""
    device = cache.universal[0][0].device
    table = cache.pos_tables.get(name)
    if table is None or table.size(0) < klen:  # grow by doubling: amortised O(1) per step
        distances = torch.arange(max(2 * klen, 64), device=device, dtype=torch.float32)  # (P,)
        table = cache.pos_tables[name] = sinusoid_embedding(distances, stack.d_model)  # (P, d)
    positions = relative_positions(qlen=1, klen=klen, bidirectional=False,
                                   clamp_len=stack.clamp_len, device=device)  # (K,)
    return table[positions.long()]  # (K, d)


@torch.no_grad()
def greedy_decode(model: Ernie3Model, input_ids: Tensor, *, max_new_tokens: int) -> Tensor:
    """(B, Q) prompt -> (B, Q + max_new_tokens): argmax decoding with the cache (for tests)."""
    logits, cache = prefill(model, input_ids)
    next_ids = logits[:, -1].argmax(dim=-1)  # (B,)
    generated = [input_ids]
    for step in range(max_new_tokens):
        generated.append(next_ids[:, None])
        if step + 1 < max_new_tokens:
            logits, cache = decode_step(model, next_ids, cache)
            next_ids = logits.argmax(dim=-1)  # (B,)
    return torch.cat(generated, dim=1)  # (B, Q + max_new_tokens)
