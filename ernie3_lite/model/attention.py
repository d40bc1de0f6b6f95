"""Transformer-XL relative multi-head attention (Transformer-XL arXiv 1901.02860 §3.3, App. B).

ERNIE 3.0 (arXiv 2107.02137 §3.1) builds its universal and task networks from Transformer-XL
layers; this module is the attention of one such layer. Batch-first notation: B batch, Q query
length (current segment), M memory length, K = M + Q keys, H heads, Dh head width, R relative
positions (R = K for causal attention, R = K + Q - 1 for bidirectional attention; the distances,
their sinusoid embeddings and the causal mask come from `positions.py`).

The score of query i and key j (query i sits at key index M + i, so its distance is M + i - j) is
the sum of the four terms of §3.3::

    A_ij = q_i·k_j  (a)  +  q_i·W_{k,R} R_{M+i-j}  (b)  +  u·k_j  (c)  +  v·W_{k,R} R_{M+i-j}  (d)
         = (q_i + u)·k_j  [AC]          +  (q_i + v)·W_{k,R} R_{M+i-j}  [BD]

AC is one matmul. BD is one matmul against all R distances followed by ``rel_shift`` (App. B),
which moves each row into key order. The sum is scaled by 1/sqrt(Dh), masked and soft-maxed.
(One GEMM on stacked [k; W_{k,R}R] keys saves nothing: u and v differ, W_{k,R}R is shared by
the batch and k is not, and BD is shifted before the sum.) Public tensors are batch-first;
`relative_attention` works head-major inside (it says why).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ernie3_lite.model.kv_store import append_key_value

IMPLS = ("reference", "fast", "sdpa")


def rel_shift(x: Tensor, *, klen: int) -> Tensor:
    """(B, H, Q, R) scores per distance -> (B, H, Q, K) scores per key (TXL App. B).

    Column r of ``x`` holds distance klen-1-r. Query i sits at key index M+i, so key j is at
    distance M+i-j, i.e. column j+Q-1-i: ``out[..., i, j] = x[..., i, j + Q - 1 - i]``. Each row
    moves left by Q-1-i. In memory the wanted cells of row i start at flat offset
    (Q-1) + i·(R-1), so the result is a *view* with row stride R-1 starting at Q-1: one
    slice and two views, no gather, no copy (the "pad and reshape" trick of App. B, where the
    padding column plays the role of our shorter row stride).

    Causal (R = K): columns only reach distance 0, so for keys right of the query (j > M+i) the
    wanted column j+Q-1-i is past the row's end; the view then reads the first cells of the next
    row, i.e. garbage. TXL can ignore that because the causal mask hides exactly those cells.
    A bidirectional NLU query must *see* keys on its right, so it needs the Q-1 negative
    distances -1..-(Q-1) as extra columns (R = K+Q-1); then every cell is valid.
    For R = K one zero column is padded (a copy) so that every row has K readable cells;
    ``relative_attention`` avoids that copy by giving ``r_k`` a zero row instead.
    """
    *lead, qlen, rlen = x.shape
    if rlen < klen:
        raise ValueError(f"rel_shift needs R >= klen, got R={rlen}, klen={klen}")
    if rlen == klen:  # causal: make room for the (masked) cells j > M+i
        x = F.pad(x, (0, 1))  # (B, H, Q, K+1)
        rlen += 1
    flat = x.reshape(*lead, qlen * rlen)  # (B, H, Q*R)
    rows = flat[..., qlen - 1 : qlen - 1 + qlen * (rlen - 1)]  # (B, H, Q*(R-1)), starts at Q-1
    rows = rows.view(*lead, qlen, rlen - 1)  # (B, H, Q, R-1)
    return rows if rlen - 1 == klen else rows[..., :klen]  # (B, H, Q, K); a full slice would
    # still cost a zero-fill pass in backward


class AttentionOutput(NamedTuple):
    """What :class:`RelMultiHeadAttention` returns.

    output: (B, Q, d_model) = o_net(attention), before dropout and the residual add.
    weights: (B, H, Q, K) softmax probabilities (before dropatt) if requested, else None.
    key_value: (k, v), each (B, H, K, Dh), projected keys/values of all K keys (memory or
        cache + current segment): pass it back as ``kv_cache`` to decode the next tokens.
    """

    output: Tensor
    weights: Tensor | None
    key_value: tuple[Tensor, Tensor]


class RelMultiHeadAttention(nn.Module):
    """Transformer-XL's ``RelPartialLearnableMultiHeadAttn`` (TXL §3.3), batch-first.

    Owns ``qkv_net`` (W_q, W_{k,E}, W_v stacked: d_model -> 3·H·Dh), ``r_net`` (W_{k,R}:
    d_model -> H·Dh) and ``o_net`` (H·Dh -> d_model), all without bias as in TXL. The biases
    u (``r_w_bias``) and v (``r_r_bias``) are passed in: TXL shares one pair per stack.
    No LayerNorm or residual here: a pre-LN block normalises ``h`` and ``memory`` first.

    ``impl``: "reference" = kimiyoung's time-major einsum layout (for reading, see
    ``attention_reference.py``); "fast" = matmuls in (B, H, Q, K) layout with a last-dim
    ``rel_shift``; "sdpa" = ``F.scaled_dot_product_attention(q+u, k, v)`` with the scaled,
    masked BD as an additive float mask (fused kernels on GPU). "sdpa" falls back to "fast"
    when ``need_weights=True`` because SDPA does not return probabilities.

    Fully masked query rows (e.g. padding queries under a (B, 1, Q, K) mask) attend to nothing:
    their weights are 0 and their output is o_net(0) = 0, with finite gradients (masked scores
    are filled with the dtype's most negative finite value instead of -inf, so no NaN appears).
    """

    def __init__(self, *, d_model: int, n_head: int, d_head: int, dropatt: float = 0.0,
                 impl: str = "fast") -> None:
        super().__init__()
        if impl not in IMPLS:
            raise ValueError(f"impl must be one of {IMPLS}, got {impl!r}")
        self.d_model, self.n_head, self.d_head, self.impl = d_model, n_head, d_head, impl
        self.dropatt = dropatt
        self.scale = 1.0 / math.sqrt(d_head)
        self.qkv_net = nn.Linear(d_model, 3 * n_head * d_head, bias=False)
        self.r_net = nn.Linear(d_model, n_head * d_head, bias=False)
        self.o_net = nn.Linear(n_head * d_head, d_model, bias=False)
        self.q_net = self.k_net = self.v_net = None  # see split_projections

    def split_projections(self) -> None:
        """Replace ``qkv_net`` by three Linears ``q_net``, ``k_net``, ``v_net`` holding its rows
        (the same function), so that tensor parallel can split each one by heads (Megatron-LM,
        arXiv 1909.08053 §3): a column split of the stacked weight would give one rank all of
        W_q and half of W_{k,E}. `pretrained.fuse_split_projections` maps the state back."""
        if self.impl == "reference":
            raise ValueError("the reference attention reads qkv_net; use impl='fast' or 'sdpa'")
        rows = self.qkv_net.weight.detach().chunk(3)  # W_q, W_{k,E}, W_v: (H·Dh, d_model) each
        for name, weight in zip(("q_net", "k_net", "v_net"), rows, strict=True):
            linear = nn.Linear(self.d_model, weight.shape[0], bias=False,
                               device=weight.device, dtype=weight.dtype)
            linear.weight = nn.Parameter(weight.clone(),
                                         requires_grad=self.qkv_net.weight.requires_grad)
            setattr(self, name, linear)
        del self.qkv_net

    def forward(self, h: Tensor, *, pos_emb: Tensor, r_w_bias: Tensor, r_r_bias: Tensor,
                memory: Tensor | None = None, attn_mask: Tensor | None = None,
                kv_cache: tuple[Tensor, Tensor] | None = None, need_weights: bool = False,
                pos_keys: Tensor | None = None) -> AttentionOutput:
        """h (B, Q, d_model); pos_emb (R, d_model) for the distances of ``relative_positions``.

        memory (B, M, d_model): detached hidden states of the previous segment (TXL §3.2); keys
        and values are projected from [memory; h], queries from h only. kv_cache (k, v), each
        (B, H, M, Dh): the ``key_value`` of an earlier call, exact because keys and values carry
        no absolute position. attn_mask: bool broadcastable to (B, H, Q, K), True = masked,
        e.g. ``causal_mask`` (Q, K) or key padding (B, 1, 1, K). r_w_bias u, r_r_bias v: (H, Dh).
        pos_keys (R, H*Dh): ``position_keys(pos_emb)`` computed earlier, to skip the O(R·d²)
        projection W_{k,R}R (decoding reuses one table for every step); "reference" ignores
        it and projects ``pos_emb`` itself, as kimiyoung's code does.
        """
        if self.impl == "reference":
            from ernie3_lite.model.attention_reference import reference_attention

            return reference_attention(self, h, pos_emb=pos_emb, r_w_bias=r_w_bias,
                                       r_r_bias=r_r_bias, memory=memory, attn_mask=attn_mask,
                                       kv_cache=kv_cache, need_weights=need_weights)
        q, key_value = self._project(h, memory=memory, kv_cache=kv_cache)
        k, v = key_value
        check_inputs(qlen=q.shape[2], klen=k.shape[2], rlen=pos_emb.shape[0], attn_mask=attn_mask)
        if pos_keys is None:
            pos_keys = self.position_keys(pos_emb)  # (R, H*Dh)
        elif pos_keys.shape != (pos_emb.shape[0], self.n_head * self.d_head):
            raise ValueError(f"pos_keys must be (R, H*Dh) = ({pos_emb.shape[0]}, "
                             f"{self.n_head * self.d_head}), got {tuple(pos_keys.shape)}")
        r_k = pos_keys.view(-1, self.n_head, self.d_head).transpose(0, 1)  # (H, R, Dh)
        vec, weights = relative_attention(
            q, k, v, r_k, r_w_bias=r_w_bias, r_r_bias=r_r_bias, scale=self.scale,
            attn_mask=attn_mask, dropout_p=self.dropatt if self.training else 0.0,
            use_sdpa=self.impl == "sdpa" and not need_weights, need_weights=need_weights)
        vec = vec.transpose(1, 2).reshape(h.shape[0], h.shape[1], -1)  # (B, Q, H*Dh)
        return AttentionOutput(self.o_net(vec), weights if need_weights else None, key_value)

    def position_keys(self, pos_emb: Tensor) -> Tensor:
        """(R, d_model) sinusoids -> (R, H*Dh) position keys W_{k,R}R (kimiyoung's r_head_k)."""
        return self.r_net(pos_emb.to(self.r_net.weight.dtype))  # sinusoids come as float32

    def _project(self, h: Tensor, *, memory: Tensor | None,
                 kv_cache: tuple[Tensor, Tensor] | None) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """Queries from h and (keys, values) from [memory; h] (or cache + h), all (B, H, len, Dh).

        The pair is a `GrowingKeyValue` when ``kv_cache`` is one (decoding), a tuple otherwise.
        """
        if memory is not None and kv_cache is not None:
            raise ValueError("pass either memory (hidden states) or kv_cache, not both")
        hd = self.n_head * self.d_head
        if self.q_net is not None:  # split (tensor parallel): each rank projects its own heads
            keys_in = h if memory is None else torch.cat([memory, h], dim=1)  # (B, K, d_model)
            q, k, v = self.q_net(h), self.k_net(keys_in), self.v_net(keys_in)
        elif memory is None:
            q, k, v = self.qkv_net(h).split(hd, dim=-1)  # 3 x (B, Q, H*Dh)
        else:  # qkv_net.weight (3·H·Dh, d_model) stacks the rows of W_q, W_{k,E}, W_v
            weight = self.qkv_net.weight
            q = F.linear(h, weight[:hd])  # (B, Q, H*Dh): no queries for memory positions
            k, v = F.linear(torch.cat([memory, h], dim=1), weight[hd:]).split(hd, dim=-1)
        q, k, v = (self._heads(t) for t in (q, k, v))  # (B, H, len, Dh)
        if kv_cache is None:
            return q, (k, v)
        return q, append_key_value(kv_cache, k, v)  # (B, H, M+Q, Dh) each

    def _heads(self, x: Tensor) -> Tensor:
        b, length = x.shape[0], x.shape[1]
        return x.view(b, length, self.n_head, self.d_head).transpose(1, 2)  # (B, H, L, Dh)


def relative_attention(q: Tensor, k: Tensor, v: Tensor, r_k: Tensor, *, r_w_bias: Tensor,
                       r_r_bias: Tensor, scale: float, attn_mask: Tensor | None = None,
                       dropout_p: float = 0.0, use_sdpa: bool = False,
                       need_weights: bool = False) -> tuple[Tensor, Tensor | None]:
    """The attention core on projected heads: q (B, H, Q, Dh), k, v (B, H, K, Dh), r_k (H, R, Dh).

    Returns the attended values (B, H, Q, Dh) and, if ``need_weights`` (not with ``use_sdpa``,
    where SDPA keeps them internal), the softmax weights (B, H, Q, K) before dropout.

    Inside, heads come first ((H, B, ...) as one batch of H·B) because r_k is shared by the
    batch: BD is one GEMM per head over all B·Q queries. The GEMMs are the floor on CPU, so the
    rest touches the (Q, K) scores as few times as possible (benchmarks/README.md): the mask is
    *added* in the one pass that copies the shifted BD out, ``baddbmm_`` accumulates AC onto it
    (scale folded into alpha), and no pass re-masks the gradient (masked cells get probability
    exactly 0, fully masked rows a zeroed output, so their gradients are 0 anyway).
    """
    bsz, n_head, qlen, d_head = q.shape
    klen, hb = k.shape[2], n_head * bsz
    if qlen == 1 and r_k.shape[1] == klen and attn_mask is None:
        return one_query_attention(q, k, v, r_k, r_w_bias=r_w_bias, r_r_bias=r_r_bias,
                                   scale=scale, dropout_p=dropout_p, need_weights=need_weights)
    q = q.transpose(0, 1).contiguous()  # (H, B, Q, Dh): the one copy of the queries
    # (b)+(d): BD = ((q+v)·s)·W_{k,R}R for all R distances, then shifted into key order
    q_v = torch.add(r_r_bias.to(q.dtype)[:, None, None] * scale, q, alpha=scale)  # (H, B, Q, Dh)
    if r_k.shape[1] == klen:  # causal: rel_shift needs a spare column; a zero row in r_k
        r_k = F.pad(r_k, (0, 0, 0, 1))  # (H, K+1, Dh) gives it without a copy of the scores
    bd = torch.bmm(q_v.view(n_head, bsz * qlen, d_head), r_k.transpose(1, 2))  # (H, B*Q, R)
    bd = rel_shift(bd.view(n_head, bsz, qlen, -1), klen=klen).flatten(0, 1)  # (H*B, Q, K) view
    dead = None
    if attn_mask is None:  # baddbmm_ below writes into scores: it must own its memory
        scores = bd.clone(memory_format=torch.contiguous_format)  # (H*B, Q, K)
    else:
        mask = attn_mask[(None,) * (4 - attn_mask.dim())].transpose(0, 1)  # (H|1, B|1, Q|1, K)
        dead = mask.all(dim=-1, keepdim=True)  # (H|1, B|1, Q|1, 1): rows with no visible key
        scores = bd + _additive_mask(mask, n_head=n_head, bsz=bsz, dtype=bd.dtype)  # (H*B, Q, K)
    # (a)+(c): AC = (q+u)·k, computed in place on top: scores += s·(q+u)·k^T
    q_u = (q + r_w_bias.to(q.dtype)[:, None, None]).view(hb, qlen, d_head)  # (H*B, Q, Dh)
    k = k.transpose(0, 1).reshape(hb, klen, d_head)  # (H*B, K, Dh)
    v = v.transpose(0, 1).reshape(hb, klen, d_head)  # (H*B, K, Dh)
    if use_sdpa:  # BD + mask as a float attn_mask; SDPA adds it to s·(q+u)·k
        vec = F.scaled_dot_product_attention(
            q_u.view(n_head, bsz, qlen, d_head), k.view(n_head, bsz, klen, d_head),
            v.view(n_head, bsz, klen, d_head), attn_mask=scores.view(n_head, bsz, qlen, klen),
            dropout_p=dropout_p, scale=scale)  # (H, B, Q, Dh)
        vec = vec if dead is None else vec.masked_fill(dead, 0.0)
        return vec.transpose(0, 1), None  # (B, H, Q, Dh)
    scores = scores.baddbmm_(q_u.to(scores.dtype), k.to(scores.dtype).transpose(1, 2),
                             alpha=scale)  # (H*B, Q, K)
    softmax_dtype = torch.promote_types(scores.dtype, torch.float32)  # bf16/fp16 -> fp32
    weights = torch.softmax(scores, dim=-1, dtype=softmax_dtype).to(v.dtype)  # (H*B, Q, K)
    dropped = F.dropout(weights, dropout_p, training=True) if dropout_p > 0 else weights
    vec = torch.bmm(dropped, v).view(n_head, bsz, qlen, d_head)  # (H, B, Q, Dh)
    if dead is not None:  # zero the (Q, Dh) rows, cheaper than the (Q, K) weights
        vec = vec.masked_fill(dead, 0.0)
    if not need_weights:
        return vec.transpose(0, 1), None  # (B, H, Q, Dh)
    weights = weights.view(n_head, bsz, qlen, klen)  # (H, B, Q, K)
    weights = weights if dead is None else weights.masked_fill(dead, 0.0)
    return vec.transpose(0, 1), weights.transpose(0, 1)  # (B, H, Q, Dh), (B, H, Q, K)


def one_query_attention(q: Tensor, k: Tensor, v: Tensor, r_k: Tensor, *, r_w_bias: Tensor,
                        r_r_bias: Tensor, scale: float, dropout_p: float = 0.0,
                        need_weights: bool = False) -> tuple[Tensor, Tensor | None]:
    """Decoding, one unmasked query: q (B, H, 1, Dh), k, v (B, H, K, Dh), r_k (H, K, Dh).

    The query sits at key index K-1, so distances K-1..0 are already in key order (rel_shift is
    the identity) and there is nothing to mask: half the ops of the general path, which matters
    when a generated token costs more in op dispatch and weight reads than in FLOPs. As there,
    the scale is folded into the query and AC is added onto BD by ``baddbmm``.
    Returns (B, H, 1, Dh) and, if ``need_weights``, the weights (B, H, 1, K).
    """
    bsz, n_head, _, d_head = q.shape
    klen = k.size(2)
    q_v = torch.add(r_r_bias.to(q.dtype)[:, None] * scale, q, alpha=scale)  # s·(q+v) (B,H,1,Dh)
    q_u = torch.add(r_w_bias.to(q.dtype)[:, None] * scale, q, alpha=scale)  # s·(q+u)
    scores = torch.baddbmm((q_v @ r_k.transpose(-1, -2)).view(bsz * n_head, 1, klen),  # BD·s
                           q_u.reshape(bsz * n_head, 1, d_head),  # + AC·s
                           k.reshape(bsz * n_head, klen, d_head).transpose(1, 2))  # (B*H, 1, K)
    weights = torch.softmax(scores, dim=-1,
                            dtype=torch.promote_types(scores.dtype, torch.float32)).to(v.dtype)
    dropped = F.dropout(weights, dropout_p, training=True) if dropout_p > 0 else weights
    vec = torch.bmm(dropped, v.reshape(bsz * n_head, klen, d_head))  # (B*H, 1, Dh)
    weights = weights.view(bsz, n_head, 1, klen) if need_weights else None
    return vec.view(bsz, n_head, 1, d_head), weights


def _additive_mask(mask: Tensor, *, n_head: int, bsz: int, dtype: torch.dtype) -> Tensor:
    """Head-major bool mask (H|1, B|1, Q|1, K) -> float bias (1 or H*B, Q|1, K): 0 or the min.

    A 2-D (Q, K) mask stays (1, Q, K) and broadcasts; one with batch or head dims is expanded
    to H*B rows (a copy, but masks with batch dims are key padding, usually (B, 1, 1, K)).
    """
    bias = torch.zeros(mask.shape, dtype=dtype, device=mask.device)
    bias.masked_fill_(mask, mask_value(dtype))
    if mask.shape[0] * mask.shape[1] == 1:
        return bias.flatten(0, 1)  # (1, Q|1, K)
    return bias.expand(n_head, bsz, *mask.shape[2:]).reshape(n_head * bsz, *mask.shape[2:])


def check_inputs(*, qlen: int, klen: int, rlen: int, attn_mask: Tensor | None) -> None:
    """Shape/dtype checks on Python ints only (no host sync)."""
    if rlen not in (klen, klen + qlen - 1):
        raise ValueError(f"pos_emb has {rlen} rows; expected klen={klen} (causal) "
                         f"or klen+qlen-1={klen + qlen - 1} (bidirectional)")
    if attn_mask is not None and attn_mask.dtype != torch.bool:
        raise TypeError(f"attn_mask must be bool (True = masked), got {attn_mask.dtype}")
    if rlen == klen and qlen > 1 and attn_mask is None:
        raise ValueError("causal positions (R = K) leave garbage for keys j > M+i: pass the "
                         "causal_mask, or use bidirectional positions (R = K+Q-1)")


def mask_value(dtype: torch.dtype) -> float:
    """The score given to masked cells: the dtype's most negative finite value, not -inf, so
    that a fully masked row gives no NaN (used by the reference path too)."""
    return torch.finfo(dtype).min
