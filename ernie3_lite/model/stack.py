"""`RelTransformerStack`: N Transformer-XL layers with one shared u/v pair, positions and memory.

ERNIE 3.0 (arXiv 2107.02137 §3.1) builds all three of its modules (universal, NLU, NLG) from
Transformer-XL stacks. A stack owns what its layers share in Transformer-XL (arXiv 1901.02860
§3.3 and kimiyoung's code): the global content bias u (``r_w_bias``) and position bias v
(``r_r_bias``), one (H, Dh) pair per stack, and the sinusoid relative position embeddings R.

The same stack runs in two modes, chosen per call:

* ``causal=True`` (NLG): query i sees all memory and keys j <= i; positions K-1..0.
* ``causal=False`` (NLU): every query sees every key; positions K-1..-(Q-1) so that keys to the
  right of a query get their own (negative) distance.

Memory is explicit (``memory`` in, ``new_memory`` out). Which states are remembered follows
``recurrence``: "xl" keeps each layer's inputs (TXL §3.2, one layer down); "same_layer" keeps
each layer's outputs (ERNIE-Doc arXiv 2012.15688 §3.2 enhanced recurrence).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ernie3_lite.config import RECURRENCE_KINDS, Ernie3Config, StackConfig
from ernie3_lite.model.block import RelTransformerLayer
from ernie3_lite.model.memory import update_memory
from ernie3_lite.model.positions import (
    causal_mask,
    position_dtype,
    relative_positions,
    sinusoid_embedding,
)

KeyValue = tuple[Tensor, Tensor]


@dataclass
class StackOutput:
    """Result of `RelTransformerStack.forward`.

    hidden: (B, Q, d) after the final LayerNorm.
    new_memory: per layer (B, <= mem_len, d), detached; None when ``mem_len == 0``.
    weights: per layer (B, H, Q, K) attention probabilities if requested, else None.
    key_values: per layer (k, v), each (B, H, K, Dh), if ``use_cache``, else None.
    """

    hidden: Tensor
    new_memory: list[Tensor] | None = None
    weights: list[Tensor] | None = None
    key_values: list[KeyValue] | None = None


class RelTransformerStack(nn.Module):
    """x (B, Q, d) -> `StackOutput`: pre-LN Transformer-XL layers + final LayerNorm."""

    def __init__(self, stack: StackConfig, *, dropout: float = 0.0, dropatt: float = 0.0,
                 recurrence: str = "xl", clamp_len: int | None = None,
                 attention_impl: str = "fast", layer_norm_eps: float = 1e-5,
                 init_std: float = 0.02) -> None:
        super().__init__()
        if recurrence not in RECURRENCE_KINDS:
            raise ValueError(f"recurrence={recurrence!r} must be one of {RECURRENCE_KINDS}")
        self.d_model, self.n_head, self.d_head = stack.d_model, stack.n_head, stack.d_head
        self.recurrence, self.clamp_len = recurrence, clamp_len
        # u and v of TXL §3.3: one pair per stack, shared by all its layers (as in kimiyoung)
        self.r_w_bias = nn.Parameter(torch.empty(stack.n_head, stack.d_head))  # u (H, Dh)
        self.r_r_bias = nn.Parameter(torch.empty(stack.n_head, stack.d_head))  # v (H, Dh)
        nn.init.normal_(self.r_w_bias, std=init_std)
        nn.init.normal_(self.r_r_bias, std=init_std)
        self.drop = nn.Dropout(dropout)
        self.layers = nn.ModuleList(
            RelTransformerLayer(d_model=stack.d_model, n_head=stack.n_head,
                                d_inner=stack.d_inner, dropout=dropout, dropatt=dropatt,
                                layer_norm_eps=layer_norm_eps, attention_impl=attention_impl)
            for _ in range(stack.n_layer)
        )
        self.final_norm = nn.LayerNorm(stack.d_model, eps=layer_norm_eps)

    @classmethod
    def from_config(cls, config: Ernie3Config, name: str) -> RelTransformerStack:
        """The ``universal``, ``nlu`` or ``nlg`` stack of an `Ernie3Config`."""
        return cls(getattr(config, name), dropout=config.dropout, dropatt=config.dropatt,
                   recurrence=config.recurrence, clamp_len=config.clamp_len,
                   attention_impl=config.attention_impl, layer_norm_eps=config.layer_norm_eps,
                   init_std=config.init_std)

    @property
    def n_layer(self) -> int:
        return len(self.layers)

    def position_embeddings(self, *, qlen: int, klen: int, causal: bool,
                            device: torch.device | None = None,
                            dtype: torch.dtype | None = None) -> Tensor:
        """(R, d) sinusoid embeddings of the relative distances (R = K causal, K+Q-1 otherwise).

        Built in `dtype` (default: the stack's parameter dtype) promoted to at least float32.
        """
        dtype = position_dtype(self.r_w_bias.dtype if dtype is None else dtype)
        positions = relative_positions(qlen=qlen, klen=klen, bidirectional=not causal,
                                       clamp_len=self.clamp_len, device=device,
                                       dtype=dtype)  # (R,)
        return sinusoid_embedding(positions, self.d_model)  # (R, d)

    def forward(self, x: Tensor, *, causal: bool, memory: list[Tensor] | None = None,
                mem_len: int = 0, padding_mask: Tensor | None = None,
                kv_cache: list[KeyValue] | None = None, pos_emb: Tensor | None = None,
                need_weights: bool = False, use_cache: bool = False) -> StackOutput:
        """Run the stack over one segment.

        x (B, Q, d); memory: per layer (B, M, d) raw residual states of earlier segments, or
        kv_cache: per layer (k, v) each (B, H, M, Dh) from an earlier call with ``use_cache``
        (exact incremental decoding). Memory/cache keys are always visible. padding_mask
        (B, Q) bool, True = padding key. mem_len > 0 returns ``new_memory`` cut to mem_len.
        pos_emb (R, d) overrides the computed positions (e.g. a cached table).
        """
        mlen = self._past_length(memory=memory, kv_cache=kv_cache)
        qlen = x.size(1)
        if pos_emb is None:
            pos_emb = self.position_embeddings(qlen=qlen, klen=mlen + qlen, causal=causal,
                                               device=x.device, dtype=x.dtype)
        pos_emb = self.drop(pos_emb.to(x.dtype))  # (R, d): TXL drops positions too
        attn_mask = self._attention_mask(qlen=qlen, mlen=mlen, causal=causal,
                                         padding_mask=padding_mask, device=x.device)
        h, remembered, weights, key_values = x, [], [], []
        for n, layer in enumerate(self.layers):
            if self.recurrence == "xl":
                remembered.append(h)  # layer n's input: the next segment's layer n reads it
            out = layer(h, pos_emb=pos_emb, r_w_bias=self.r_w_bias, r_r_bias=self.r_r_bias,
                        memory=None if memory is None else memory[n],
                        kv_cache=None if kv_cache is None else kv_cache[n],
                        attn_mask=attn_mask, need_weights=need_weights)
            h = out.hidden  # (B, Q, d)
            if self.recurrence == "same_layer":
                remembered.append(h)  # layer n's output: ERNIE-Doc's same-layer recurrence
            weights.append(out.weights)
            key_values.append(out.key_value)
        new_memory = None
        if mem_len > 0:
            new_memory = update_memory(hidden_states=remembered, memory=memory, mem_len=mem_len)
        return StackOutput(hidden=self.final_norm(h), new_memory=new_memory,
                           weights=weights if need_weights else None,
                           key_values=key_values if use_cache else None)

    def _past_length(self, *, memory: list[Tensor] | None,
                     kv_cache: list[KeyValue] | None) -> int:
        """M, the number of remembered/cached positions; checks one entry per layer."""
        if memory is not None and kv_cache is not None:
            raise ValueError("pass either memory (hidden states) or kv_cache, not both")
        past = memory if memory is not None else kv_cache
        if past is None:
            return 0
        if len(past) != self.n_layer:
            raise ValueError(f"expected {self.n_layer} memory/cache entries, got {len(past)}")
        return memory[0].size(1) if memory is not None else kv_cache[0][0].size(2)

    @staticmethod
    def _attention_mask(*, qlen: int, mlen: int, causal: bool, padding_mask: Tensor | None,
                        device: torch.device) -> Tensor | None:
        """Bool mask broadcastable to (B, H, Q, K), True = masked, or None (see all keys)."""
        mask = causal_mask(qlen=qlen, mlen=mlen, device=device) if causal and qlen > 1 else None
        if padding_mask is not None:
            # memory/cache keys are always visible (ERNIE-Doc does the same)
            past = torch.zeros(padding_mask.size(0), mlen, dtype=torch.bool, device=device)  # (B,M)
            keys = torch.cat([past, padding_mask.bool()], dim=1)[:, None, None, :]  # (B,1,1,K)
            mask = keys if mask is None else mask | keys  # (B, 1, Q, K)
        return mask
