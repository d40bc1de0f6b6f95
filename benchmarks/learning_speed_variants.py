"""The two models of benchmarks/learning_speed.py and the ablations it can switch on.

Both models are wrapped as ``logits(input_ids (B, T)) -> (B, T, V)`` next-token LMs:

* ``gpt``: `baselines.GPT`, pre-LN, 4 layers x 256 wide, 4 heads, learned absolute positions,
  logits tied to the token embedding (4.54 M parameters with its positions);
* ``ernie``: `Ernie3Model` with the ``nano`` preset's sizes (4 x 256 universal, projection,
  2 x 128 NLG stack, tied LM head; 5.27 M parameters on the NLG path, 0.33 M of them the
  relative-position keys W_{k,R}), run as document LM pre-training runs it: `forward_nlg` with
  the NLG task type and no memory (``mem_len=0``), then `lm_logits`. Since issue 17 the preset
  has a LayerNorm on the embedding sum (``embedding_norm``); ``--ablation no-embed-norm`` gives
  the model as it was before, on which the screening rows of benchmarks/README.md were run.

An ablation changes ONE factor of the ``ernie`` model (or of the loop) and leaves the rest as the
preset has it; each is a config override or a patch of the built model, never a new model flag.
Each says which model it applies to. `ABLATIONS` lists them with the question they answer.
"""

from __future__ import annotations

import math
import types
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from baselines import GPT, GPTConfig
from torch import Tensor, nn

from ernie3_lite.config import Ernie3Config
from ernie3_lite.data.collate import TaskType
from ernie3_lite.model.block import RelTransformerLayer
from ernie3_lite.model.ernie3 import Ernie3Model
from ernie3_lite.training.settings import uses_weight_decay

GPT_STACKS = ((4, 256, 4, 1024),)


@dataclass
class Ablation:
    """One switch: which model it fits, and what it changes (config, built model, decay rule)."""

    models: tuple[str, ...]
    about: str
    config: Callable[[dict], None] | None = None  # edits the config dict in place
    patch: Callable[[nn.Module], None] | None = None  # edits the built model in place
    decay_all: bool = False


# ---- patches of a built Ernie3Model (or GPT)
class PlainTiedHead(nn.Module):
    """NLG width -> embedding width by one Linear, then the tied decoder: GPT's `to_embed` head,
    without `TiedLMHead`'s GeLU + LayerNorm transform (the stack's final LayerNorm stays)."""

    def __init__(self, d_in: int, d_embed: int, vocab_size: int) -> None:
        super().__init__()
        self.to_embed = nn.Identity() if d_in == d_embed else nn.Linear(d_in, d_embed)
        self.bias = nn.Parameter(torch.zeros(vocab_size))
        if isinstance(self.to_embed, nn.Linear):
            nn.init.normal_(self.to_embed.weight, std=0.02)
            nn.init.zeros_(self.to_embed.bias)

    def forward(self, hidden: Tensor, *, word_embeddings: Tensor) -> Tensor:
        return F.linear(self.to_embed(hidden), word_embeddings, self.bias)  # (..., V)


def _plain_head(model: Ernie3Model) -> None:
    c = model.config
    model.lm_head = PlainTiedHead(c.nlg.d_model, c.d_embed, c.vocab_size)


def _embedding_forward(*, types_too: bool, norm: nn.Module | None, positions: nn.Module | None):
    """A replacement `Ernie3Embeddings.forward`: word [+ types] [+ absolute positions] [-> LN]."""

    def forward(self, input_ids, *, token_type_ids=None, task_type_ids=None):
        x = self.word(input_ids)  # (B, T, d)
        if types_too:
            zeros = torch.zeros_like(input_ids)
            x = x + self.token_type(zeros if token_type_ids is None else token_type_ids)
            x = x + self.task_type(zeros if task_type_ids is None else task_type_ids)
        if positions is not None:
            x = x + positions(torch.arange(input_ids.size(1), device=input_ids.device))  # (T, d)
        norms = [m for m in (self.norm, norm) if m is not None]  # the package's, or the added one
        if norms:
            x = norms[0](x)
        return self.drop(x)  # (B, T, d)

    return forward


def _patch_embeddings(**kwargs) -> Callable[[Ernie3Model], None]:
    def patch(model: Ernie3Model) -> None:
        emb, d = model.embeddings, model.config.d_embed
        norm = nn.LayerNorm(d) if kwargs.get("norm") else None
        positions = None
        if kwargs.get("positions"):
            positions = nn.Embedding(model.config.max_seq_len, d)
            nn.init.normal_(positions.weight, std=model.config.init_std)
        emb.extra_norm, emb.extra_positions = norm, positions  # registered: trained and counted
        emb.forward = types.MethodType(
            _embedding_forward(types_too=kwargs.get("types_too", True), norm=norm,
                               positions=positions), emb)

    return patch


def _no_embedding_dropout(model: Ernie3Model) -> None:
    model.embeddings.drop = nn.Identity()


def _no_position_dropout(model: Ernie3Model) -> None:
    for stack in (model.universal, model.nlg):
        stack.drop = nn.Identity()  # the stack's own dropout only ever touches pos_emb


def _no_uv(model: Ernie3Model) -> None:
    for stack in (model.universal, model.nlg):
        for p in (stack.r_w_bias, stack.r_r_bias):
            p.requires_grad_(False)
            p.data.zero_()


def residual_outputs(model: nn.Module) -> list[nn.Linear]:
    """The Linears that write into the residual stream: attention output and MLP output."""
    if isinstance(model, GPT):
        return [m for block in model.layers if hasattr(block, "attn")
                for m in (block.attn.proj, block.mlp[3])]
    return [m for layer in model.modules() if isinstance(layer, RelTransformerLayer)
            for m in (layer.attn.o_net, layer.ff.fc_out)]


def _gpt2_init(model: nn.Module) -> None:
    """GPT-2 (Radford et al. 2019 §2.3): residual output projections get std 0.02/sqrt(2·L),
    L = the layers on the path (6 for nano's NLG path: 4 universal + 2 NLG, 4 for the GPT)."""
    outputs = residual_outputs(model)
    std = 0.02 / math.sqrt(len(outputs))  # 2 per layer: sqrt(2·L)
    for linear in outputs:
        nn.init.normal_(linear.weight, std=std)


def _set(key: str, value) -> Callable[[dict], None]:
    def edit(values: dict) -> None:
        values[key] = value

    return edit


ABLATIONS: dict[str, Ablation] = {
    "nlg-256": Ablation(("ernie",), "NLG stack 2 x 256 (4 heads), no projection: is the narrow "
                        "128-wide stack the bottleneck?",
                        config=_set("nlg", dict(n_layer=2, d_model=256, n_head=4, d_inner=1024))),
    "plain-head": Ablation(("ernie",), "LM head = Linear to the embedding width + tied decoder, "
                           "no GeLU + LayerNorm transform", patch=_plain_head),
    "word-only": Ablation(("ernie",), "embedding = word only (no token-type + task-type rows)",
                          patch=_patch_embeddings(types_too=False)),
    "embed-ln": Ablation(("ernie",), "LayerNorm after the embedding sum, added by a patch "
                         "(the screening row; config.embedding_norm now does it)",
                         patch=_patch_embeddings(norm=True), config=_set("embedding_norm", False)),
    "no-embed-norm": Ablation(("ernie",), "the model before issue 17: embedding_norm=False",
                              config=_set("embedding_norm", False)),
    "embed-no-dropout": Ablation(("ernie",), "no dropout on the embedding sum",
                                 patch=_no_embedding_dropout),
    "abs-positions": Ablation(("ernie",), "learned absolute positions added to the embeddings "
                              "(relative attention kept)", patch=_patch_embeddings(positions=True)),
    "gpt2-init": Ablation(("ernie", "gpt"), "residual output projections at 0.02/sqrt(2L)",
                          patch=_gpt2_init),
    "no-uv": Ablation(("ernie",), "u and v fixed at 0 (TXL terms (c), (d) off)", patch=_no_uv),
    "dropout-0": Ablation(("ernie",), "dropout 0.0 everywhere (the preset has 0.1)",
                          config=_set("dropout", 0.0)),
    "dropout-0.1": Ablation(("gpt",), "the GPT with nano's dropout 0.1 (same placement)"),
    "no-pos-dropout": Ablation(("ernie",), "dropout 0.1 kept, but not on the position "
                               "embeddings", patch=_no_position_dropout),
    "decay-all": Ablation(("ernie", "gpt"), "weight decay on every parameter (the issue's loop), "
                          "not the package's rule", decay_all=True),
}


class LanguageModel(nn.Module):
    """input_ids (B, T) -> next-token logits (B, T, V) of either model."""

    def __init__(self, kind: str, net: nn.Module) -> None:
        super().__init__()
        self.kind, self.net = kind, net

    def forward(self, input_ids: Tensor) -> Tensor:
        if self.kind == "gpt":
            return self.net(input_ids)
        task = torch.full_like(input_ids, int(TaskType.NLG))  # as document LM pre-training
        out = self.net.forward_nlg(input_ids, task_type_ids=task, mem_len=0)
        return self.net.lm_logits(out.hidden)  # (B, T, V)

    def path_parameters(self) -> list[tuple[str, nn.Parameter]]:
        """The trained parameters: for ernie only the NLG path (no NLU stack or heads)."""
        unused = ("nlu", "nlu_proj", "mlm_head", "sentence_reorder_head",
                  "sentence_distance_head")
        return [(n, p) for n, p in self.net.named_parameters()
                if p.requires_grad and n.split(".")[0] not in unused]


def build(kind: str, ablations: list[str], *, vocab_size: int, block_size: int,
          seed: int) -> tuple[LanguageModel, dict]:
    """The model and a description of it (sizes, ablations) for the results file."""
    for name in ablations:
        if kind not in ABLATIONS[name].models:
            raise SystemExit(f"ablation {name!r} applies to {ABLATIONS[name].models}, not {kind}")
    chosen = [ABLATIONS[n] for n in ablations]
    torch.manual_seed(seed)
    if kind == "gpt":
        dropout = 0.1 if "dropout-0.1" in ablations else 0.0
        net = GPT(GPTConfig(vocab_size=vocab_size, block_size=block_size, stacks=GPT_STACKS,
                            dropout=dropout))
        sizes = {"stacks": GPT_STACKS, "dropout": dropout}
    else:
        values = Ernie3Config.from_name("nano", vocab_size=vocab_size, mem_len=0).to_dict()
        for ab in chosen:
            if ab.config:
                ab.config(values)
        config = Ernie3Config.from_dict(values)
        net = Ernie3Model(config)
        sizes = {k: values[k] for k in ("universal", "nlg", "embedding_norm", "dropout",
                                         "dropatt", "init_std")}
    for ab in chosen:
        if ab.patch:
            ab.patch(net)
    model = LanguageModel(kind, net)
    sizes["parameters"] = sum(p.numel() for _, p in model.path_parameters())
    return model, sizes


def parameter_groups(model: LanguageModel, *, weight_decay: float,
                     decay_all: bool) -> list[dict]:
    """AdamW groups by the package's rule (`uses_weight_decay`), or decay on everything."""
    named = model.path_parameters()
    decay = [p for n, p in named if decay_all or uses_weight_decay(n, p)]
    rest = [p for n, p in named if not (decay_all or uses_weight_decay(n, p))]
    return [{"params": decay, "weight_decay": weight_decay},
            {"params": rest, "weight_decay": 0.0}]
