"""Baselines for benchmarks/model_speed.py: a small GPT with learned absolute positions.

The "vanilla Transformer" that Transformer-XL (arXiv 1901.02860 §4, Table 9) measures itself
against is a decoder with absolute positions and no recurrence. This is such a model in the
GPT-2 layout (Radford et al. 2019; the shape nanoGPT made popular), written for this project:

    token + learned absolute position embeddings
    -> pre-LN blocks: x + Attn(LN(x)), x + MLP(LN(x)), Attn = F.scaled_dot_product_attention
       with is_causal=True (fused kernels where PyTorch has them)
    -> final LayerNorm -> logits tied to the token embedding

To compare like with like, a GPT can copy the layer sizes of the ERNIE NLG path: `stacks` lists
(n_layer, d_model, n_head, d_inner) groups, and a Linear sits between groups of different width
(as `Ernie3Model.nlg_proj` does) and before the tied head when the last width is not the
embedding width. Attention projections have no bias (as in `RelMultiHeadAttention`), the MLP
has (as in `PositionwiseFF`), so only attention and positions differ from the NLG path.
Not a library model: no generation, no weight loading.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

StackSize = tuple[int, int, int, int]  # (n_layer, d_model, n_head, d_inner)


@dataclass
class GPTConfig:
    """Sizes of a `GPT`; ``stacks`` are (n_layer, d_model, n_head, d_inner) from bottom to top."""

    vocab_size: int
    block_size: int
    stacks: tuple[StackSize, ...]
    dropout: float = 0.0

    @classmethod
    def like_nlg_path(cls, config, *, block_size: int) -> GPTConfig:
        """The layer sizes of an `Ernie3Config`'s NLG path: universal stack, then NLG stack."""
        stacks = tuple((s.n_layer, s.d_model, s.n_head, s.d_inner)
                       for s in (config.universal, config.nlg))
        return cls(vocab_size=config.vocab_size, block_size=block_size, stacks=stacks,
                   dropout=config.dropout)


class CausalSelfAttention(nn.Module):
    """x (B, T, d) -> (B, T, d): multi-head causal attention through SDPA."""

    def __init__(self, d_model: int, n_head: int, dropout: float) -> None:
        super().__init__()
        self.n_head = n_head
        self.qkv = nn.Linear(d_model, 3 * d_model, bias=False)
        self.proj = nn.Linear(d_model, d_model, bias=False)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(x).split(d, dim=-1)  # 3 x (B, T, d)
        q, k, v = (z.view(b, t, self.n_head, d // self.n_head).transpose(1, 2)
                   for z in (q, k, v))  # (B, nh, T, hs)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # (B, nh, T, hs)
        y = y.transpose(1, 2).reshape(b, t, d)  # (B, T, d): heads side by side again
        return self.drop(self.proj(y))


class Block(nn.Module):
    """Pre-LN decoder block: x + Attn(LN(x)), then x + MLP(LN(x)) with a GeLU MLP.

    Dropout sits where `RelTransformerLayer` has it (attention output, MLP hidden and output),
    so both models pay for the same dropout masks (on CPU they cost ~10% of a step).
    """

    def __init__(self, d_model: int, n_head: int, d_inner: int, dropout: float) -> None:
        super().__init__()
        self.ln_attn = nn.LayerNorm(d_model)
        self.attn = CausalSelfAttention(d_model, n_head, dropout)
        self.ln_mlp = nn.LayerNorm(d_model)
        self.mlp = nn.Sequential(nn.Linear(d_model, d_inner), nn.GELU(), nn.Dropout(dropout),
                                 nn.Linear(d_inner, d_model), nn.Dropout(dropout))

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.attn(self.ln_attn(x))  # (B, T, d)
        return x + self.mlp(self.ln_mlp(x))  # (B, T, d)


class GPT(nn.Module):
    """input_ids (B, T) -> logits (B, T, V); T <= block_size (positions are learned)."""

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.config = config
        d_embed = config.stacks[0][1]
        self.wte = nn.Embedding(config.vocab_size, d_embed)
        self.wpe = nn.Embedding(config.block_size, d_embed)
        self.drop = nn.Dropout(config.dropout)
        layers: list[nn.Module] = []
        width = d_embed
        for n_layer, d_model, n_head, d_inner in config.stacks:
            if d_model != width:  # a width change between stacks, like `Ernie3Model.nlg_proj`
                layers.append(nn.Linear(width, d_model))
            layers += [Block(d_model, n_head, d_inner, config.dropout) for _ in range(n_layer)]
            width = d_model
        self.layers = nn.Sequential(*layers)
        self.ln_f = nn.LayerNorm(width)
        self.to_embed = nn.Identity() if width == d_embed else nn.Linear(width, d_embed)
        self.apply(self._init_weights)

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear | nn.Embedding):
            nn.init.normal_(module.weight, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def forward(self, input_ids: Tensor) -> Tensor:
        t = input_ids.size(1)
        if t > self.config.block_size:
            raise ValueError(f"sequence length {t} > block_size {self.config.block_size}")
        positions = torch.arange(t, device=input_ids.device)  # (T,)
        x = self.drop(self.wte(input_ids) + self.wpe(positions))  # (B, T, d)
        x = self.to_embed(self.ln_f(self.layers(x)))  # (B, T, d_embed)
        return F.linear(x, self.wte.weight)  # (B, T, V): the head is the embedding, tied

    def num_parameters(self, *, exclude_positions: bool = True) -> int:
        """Parameters, tied weights once; nanoGPT leaves out ``wpe`` for its FLOP estimate."""
        total = sum(p.numel() for p in self.parameters())
        return total - self.wpe.weight.numel() if exclude_positions else total

    def flops_per_token(self) -> float:
        """Training FLOPs per token, nanoGPT's estimate (PaLM App. B): 6N + 12·L·d·T.

        6N: forward + backward of every weight matmul; 12·L·d·T: QK^T and PV over a full
        T x T map (causality not credited), forward + backward, summed over layers.
        """
        attention = sum(12 * n_layer * d_model * self.config.block_size
                        for n_layer, d_model, _, _ in self.config.stacks)
        return 6 * self.num_parameters() + attention
