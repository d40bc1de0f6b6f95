"""Incremental decoding on the NLG path with an exact key/value cache.

Transformer-XL's memory caches *hidden states*; feeding one token with that memory re-projects
keys and values of the whole memory at every step. Because keys and values of relative attention
carry no absolute position (positions only enter through R_{i-j} and u/v, TXL arXiv 1901.02860
§3.3), caching the projected keys/values per layer is exact: a generated token's logits equal
a full forward over the whole prefix (tested to 1e-5). Positions for a single query are simply
the distances K-1..0, so `rel_shift` is the identity and the sinusoid table can be cached too,
and so can each layer's position keys W_{k,R}R (``pos_keys``): projecting all K distances again
is O(K·d²) per layer per token, more than everything else a step does. The cached keys/values
sit in preallocated stores that grow in place (`kv_store.GrowingKeyValue`): appending by
``torch.cat`` copies the whole cache at every token.

A step runs the model's own layers (`RelTransformerLayer.forward` with ``kv_cache`` and the
cached ``pos_keys``); with "fast" or "sdpa" attention, one unmasked query with causal positions
goes to `attention_kernels.one_query_attention`. Every entry point runs under
``torch.inference_mode`` (no autograd bookkeeping, a few percent per token at batch 1), so what
it returns are inference tensors: for reading, not for training.

This is only the caching machinery plus a greedy loop for tests; sampling strategies live in
the generation module. The path is the one of `Ernie3Model.forward_nlg` (ERNIE 3.0 §3.1: universal
module and NLG module, both causal).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch
from torch import Tensor

from ernie3_lite.config import TaskType
from ernie3_lite.model.ernie3 import Ernie3Model, task_ids_or_default
from ernie3_lite.model.kv_store import GrowingKeyValue
from ernie3_lite.model.memory import Ernie3Memory
from ernie3_lite.model.positions import position_dtype, relative_positions, sinusoid_embedding
from ernie3_lite.model.stack import KeyValue, RelTransformerStack


@dataclass
class NLGCache:
    """Decoding state: per layer (k, v), each (B, H, K, Dh), for the universal and NLG stacks.

    token_type_ids / task_type_ids (B,): the ids given to generated tokens (those of the last
    prompt position). pos_tables: per stack name, sinusoid embeddings (P, d) of the distances
    P-1..0; pos_keys: per stack name, per layer ``attn.pos_keys_of`` that table (P, H*Dh).
    """

    universal: list[KeyValue]
    nlg: list[KeyValue]
    token_type_ids: Tensor
    task_type_ids: Tensor
    pos_tables: dict[str, Tensor] = field(default_factory=dict)
    pos_keys: dict[str, list[Tensor]] = field(default_factory=dict)

    @property
    def length(self) -> int:
        """K, the number of cached positions (memory + prompt + generated)."""
        return self.universal[0][0].size(2)


@torch.inference_mode()
def prefill(model: Ernie3Model, input_ids: Tensor, *, memory: Ernie3Memory | None = None,
            token_type_ids: Tensor | None = None,
            task_type_ids: Tensor | None = None) -> tuple[Tensor, NLGCache]:
    """Run the prompt (B, Q) through the NLG path; returns logits (B, Q, V) and the cache.

    memory: recurrence memory of earlier segments (its keys/values go into the cache). Call
    ``model.eval()`` first: dropout would make the cache disagree with a full forward.
    task_type_ids (B, Q) defaults to `TaskType.NLG`, as in `Ernie3Model.forward_nlg`.
    """
    if hasattr(model.universal.layers[0].attn, "q_net"):  # split_projections
        raise ValueError("decoding needs the full attention weights, not a tensor-parallel model's "
                         "heads: gather them (training.parallel.full_state_dict) into a new "
                         "Ernie3Model")
    task_type_ids = task_ids_or_default(input_ids, task_type_ids, TaskType.NLG)
    x = model.embeddings(input_ids, token_type_ids=token_type_ids, task_type_ids=task_type_ids)
    uni = model.universal(x, causal=True, memory=None if memory is None else memory.universal,
                          use_cache=True)
    nlg = model.nlg_stack(model.nlg_projection(uni.hidden), causal=True,
                          memory=None if memory is None else memory.nlg, use_cache=True)
    zeros = torch.zeros_like(input_ids[:, -1])  # (B,)
    cache = NLGCache(
        universal=uni.key_values, nlg=nlg.key_values,
        token_type_ids=zeros if token_type_ids is None else token_type_ids[:, -1],
        task_type_ids=task_type_ids[:, -1],
    )
    return model.lm_logits(nlg.hidden), cache  # (B, Q, V)


@torch.inference_mode()
def decode_step(model: Ernie3Model, next_ids: Tensor,
                cache: NLGCache) -> tuple[Tensor, NLGCache]:
    """Feed one token per stream, next_ids (B,); returns its logits (B, V) and the grown cache."""
    klen = cache.length + 1
    x = model.embeddings(next_ids[:, None], token_type_ids=cache.token_type_ids[:, None],
                         task_type_ids=cache.task_type_ids[:, None])  # (B, 1, d)
    h, universal = _step_stack(model.universal, x, cache=cache, name="universal", klen=klen)
    h, nlg = _step_stack(model.nlg_stack, model.nlg_projection(h), cache=cache, name="nlg",
                         klen=klen)
    logits = model.lm_logits(h[:, 0])  # (B, V)
    return logits, replace(cache, universal=universal, nlg=nlg)


def _step_stack(stack: RelTransformerStack, x: Tensor, *, cache: NLGCache, name: str,
                klen: int) -> tuple[Tensor, list[KeyValue]]:
    """One token (B, 1, d) through a stack: its layers, each with its cached keys/values and
    position keys, then the final LayerNorm (`RelTransformerStack.forward` for Q = 1: no mask,
    no dropout in eval mode, no memory to update)."""
    pos_emb, pos_keys = _positions(cache, name, stack, klen=klen)  # (K, d), per layer (K, H*Dh)
    h, key_values = x, []
    for layer, entry, keys in zip(stack.layers, getattr(cache, name), pos_keys, strict=True):
        if not isinstance(entry, GrowingKeyValue):  # once after prefill, beam reordering
            entry = GrowingKeyValue.from_tensors(*entry, capacity=max(2 * klen, 64))
        out = layer(h, pos_emb=pos_emb, r_w_bias=stack.r_w_bias, r_r_bias=stack.r_r_bias,
                    kv_cache=entry, pos_keys=keys)
        h = out.hidden  # (B, 1, d)
        key_values.append(out.key_value)  # the entry grown in place by one position
    return stack.final_norm(h), key_values


def _positions(cache: NLGCache, name: str, stack: RelTransformerStack, *,
               klen: int) -> tuple[Tensor, list[Tensor]]:
    """Sinusoids (K, d) and per-layer position keys (K, H*Dh) of distances K-1..0: views of the
    cached tables.

    The tables list distances in descending order, P-1..0 (clamped like the stack's), so the
    last K rows are exactly what a query at key index K-1 needs: a slice, no gather.
    """
    table = cache.pos_tables.get(name)
    if table is None or table.size(0) < klen:  # grow by doubling: amortised O(1) per step
        distances = relative_positions(qlen=1, klen=max(2 * klen, 64), bidirectional=False,
                                       clamp_len=stack.clamp_len,
                                       device=cache.universal[0][0].device,
                                       dtype=position_dtype(stack.r_w_bias.dtype))  # (P,)
        table = sinusoid_embedding(distances, stack.d_model).to(stack.r_w_bias.dtype)  # (P, d)
        cache.pos_tables[name] = table
        cache.pos_keys[name] = [layer.attn.pos_keys_of(table)
                                for layer in stack.layers]  # per layer (P, H*Dh)
    return table[-klen:], [keys[-klen:] for keys in cache.pos_keys[name]]


@torch.inference_mode()
def greedy_decode(model: Ernie3Model, input_ids: Tensor, *, max_new_tokens: int,
                  token_type_ids: Tensor | None = None,
                  task_type_ids: Tensor | None = None) -> Tensor:
    """(B, Q) prompt -> (B, Q + max_new_tokens): argmax decoding with the cache.

    Generated tokens take the type ids of the last prompt position; task_type_ids defaults to
    `TaskType.NLG` (see `prefill`), the id the NLG path is pre-trained with.
    """
    logits, cache = prefill(model, input_ids, token_type_ids=token_type_ids,
                            task_type_ids=task_type_ids)
    next_ids = logits[:, -1].argmax(dim=-1)  # (B,)
    generated = [input_ids]
    for step in range(max_new_tokens):
        generated.append(next_ids[:, None])
        if step + 1 < max_new_tokens:
            logits, cache = decode_step(model, next_ids, cache)
            next_ids = logits.argmax(dim=-1)  # (B,)
    return torch.cat(generated, dim=1)  # (B, Q + max_new_tokens)
