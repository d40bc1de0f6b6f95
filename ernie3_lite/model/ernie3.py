"""`Ernie3Model`: embeddings, the universal module, and the NLU and NLG modules (ERNIE 3.0 §3.1).

    input_ids ─ embeddings ─ universal ─┬─ proj ─ NLU stack (bidirectional) ─ MLM, [CLS] heads
                (token+type+task)        └─ proj ─ NLG stack (causal, memory) ─ LM head

ERNIE 3.0 (arXiv 2107.02137 §3.1) shares one deep *universal representation module* across
task paradigms and puts a *task-specific representation module* for each paradigm on top. All
are Transformer-XL stacks (§3.1.1), and "the memory module is only valid for natural language
generation tasks" (as the ERNIE 3.0 Titan paper, arXiv 2112.12731 §3.1, restates the framework).
So the universal stack runs in the mode its input's paradigm needs:

* NLU inputs (`forward_nlu`): bidirectional attention, no memory, for the universal and NLU stacks;
* NLG inputs (`forward_nlg`): causal attention with recurrence memory, for the universal and NLG
  stacks; otherwise the universal module would leak future tokens to the LM.

The paper does not say how the 4096-wide universal output enters its 768-wide task modules; I use
a linear projection where the widths differ (paper notes §1.3, DESIGN).

``config.share_task_modules`` (an ablation, not ERNIE 3.0) builds no NLG module: the NLG path runs
the NLU stack and projection (same weights, causal mask, memory), the "shared Transformer network
... with specific self-attention masks" of UniLM-style models that §3.1 contrasts itself with.
Whatever runs the NLG path reads the stack through `nlg_stack` / `nlg_projection`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ernie3_lite.config import Ernie3Config, TaskType
from ernie3_lite.model.heads import SequenceClassificationHead, TiedLMHead
from ernie3_lite.model.memory import Ernie3Memory
from ernie3_lite.model.pretrained import read_config, read_weights, save_pretrained
from ernie3_lite.model.stack import RelTransformerStack

#: ERNIE 3.0's five pre-training tasks (§3.2) and what each one trains besides the shared
#: embeddings and universal module (§3.1): its task-specific network, "nlu" or "nlg" (with the
#: projection into it, ``<net>_proj``), and its head. The one routing table: the task list of
#: training, the modules a task reaches (`task_modules`), the head calls FSDP2 must hook and
#: `TOP_LEVEL_MODULES` are derived from it.
TASK_ROUTES = {
    "kmlm": ("nlu", "mlm_head"),  # knowledge masked LM
    "dlm": ("nlg", "lm_head"),  # document LM
    "sr": ("nlu", "sentence_reorder_head"),  # sentence reordering
    "sd": ("nlu", "sentence_distance_head"),  # sentence distance
    "uktp": ("nlu", "mlm_head"),  # universal knowledge-text prediction: masked tokens too
}
TASK_MODULES = {task: (f"{net}_proj", net, head) for task, (net, head) in TASK_ROUTES.items()}
HEADS = tuple(dict.fromkeys(head for _, head in TASK_ROUTES.values()))
TOP_LEVEL_MODULES = ("embeddings", "universal", "nlu_proj", "nlu", "nlg_proj", "nlg", *HEADS)


def head_method(head: str) -> str:
    """The `Ernie3Model` method that applies a head: ``mlm_head`` -> ``mlm_logits``."""
    return head.removesuffix("_head") + "_logits"


def task_ids_or_default(input_ids: Tensor, task_type_ids: Tensor | None,
                        task: TaskType) -> Tensor:
    """The given task_type_ids, or (B, T) filled with ``task``: each path's own default."""
    return torch.full_like(input_ids, int(task)) if task_type_ids is None else task_type_ids


class Ernie3Embeddings(nn.Module):
    """input_ids (B, T) -> (B, T, d_universal): LN(token + token-type + task-type), dropout.

    No absolute positions: Transformer-XL adds relative positions inside attention (§3.3).
    ``token_type_ids`` mark sentence A/B as in BERT; ``task_type_ids`` are ERNIE 2.0/3.0's task
    embedding (named as in HF ERNIE). Both default to 0 here; `Ernie3Model.forward_nlu` and
    `forward_nlg` fill in their own paradigm's `TaskType` before they get here.

    The LayerNorm on the sum (``config.embedding_norm``, on in every preset) is the one BERT's
    and ERNIE's embedding layers have. Without it the sum enters the residual stream at std
    ~0.03 and the two type rows add one shared vector to every position, so the first layers
    read a diluted, tiny token identity. Measured by benchmarks/learning_speed.py (issue 17,
    one factor at a time, character LM, 0.41 M tokens, same loop as a same-size plain GPT at
    214): without the norm the NLG path was still at the unigram level (held-out perplexity
    707); with it 177. No other factor came close (table in benchmarks/README.md). Models
    exported before it have no ``embedding_norm`` in config.json and load as they were.
    """

    def __init__(self, config: Ernie3Config) -> None:
        super().__init__()
        self.word = nn.Embedding(config.vocab_size, config.d_embed)
        self.token_type = nn.Embedding(config.type_vocab_size, config.d_embed)
        self.task_type = nn.Embedding(config.num_task_types, config.d_embed)
        self.norm = (nn.LayerNorm(config.d_embed, eps=config.layer_norm_eps)
                     if config.embedding_norm else None)
        self.drop = nn.Dropout(config.dropout)

    def forward(self, input_ids: Tensor, *, token_type_ids: Tensor | None = None,
                task_type_ids: Tensor | None = None) -> Tensor:
        zeros = torch.zeros_like(input_ids)
        token_type_ids = zeros if token_type_ids is None else token_type_ids
        task_type_ids = zeros if task_type_ids is None else task_type_ids
        x = self.word(input_ids) + self.token_type(token_type_ids) + self.task_type(task_type_ids)
        if self.norm is not None:
            x = self.norm(x)  # (B, T, d)
        return self.drop(x)  # (B, T, d)


@dataclass
class NLUOutput:
    """hidden (B, T, d_nlu): NLU module output; universal_hidden (B, T, d_universal);
    weights {"universal": [...], "nlu": [...]} per layer (B, H, T, T) if requested."""

    hidden: Tensor
    universal_hidden: Tensor
    weights: dict[str, list[Tensor]] | None = None


@dataclass
class NLGOutput:
    """hidden (B, T, d_nlg): NLG module output; universal_hidden (B, T, d_universal);
    new_memory for the next segment (None if mem_len == 0); weights per layer (B, H, T, M+T)."""

    hidden: Tensor
    universal_hidden: Tensor
    new_memory: Ernie3Memory | None = None
    weights: dict[str, list[Tensor]] | None = None


def _projection(d_in: int, d_out: int) -> nn.Module:
    return nn.Identity() if d_in == d_out else nn.Linear(d_in, d_out)


class Ernie3Model(nn.Module):
    """ERNIE 3.0 (arXiv 2107.02137 §3.1): universal + NLU + NLG modules and pre-training heads.

    The pre-training heads (§3.2) live here: `mlm_logits` (KMLM and UKTP, on NLU hidden states),
    `lm_logits` (document LM, on NLG hidden states), `sentence_reorder_logits` (k classes) and
    `sentence_distance_logits` (3 classes), both on [CLS] of the NLU hidden states.
    """

    def __init__(self, config: Ernie3Config) -> None:
        super().__init__()
        self.config = config
        d_universal = config.universal.d_model
        self.embeddings = Ernie3Embeddings(config)
        self.universal = RelTransformerStack.from_config(config, "universal")
        self.nlu_proj = _projection(d_universal, config.nlu.d_model)
        self.nlu = RelTransformerStack.from_config(config, "nlu")
        if not config.share_task_modules:  # shared: no nlg / nlg_proj at all (counted once)
            self.nlg_proj = _projection(d_universal, config.nlg.d_model)
            self.nlg = RelTransformerStack.from_config(config, "nlg")
        lm_sizes = dict(d_embed=config.d_embed, vocab_size=config.vocab_size,
                        layer_norm_eps=config.layer_norm_eps)
        self.mlm_head = TiedLMHead(d_in=config.nlu.d_model, **lm_sizes)
        self.lm_head = TiedLMHead(d_in=config.nlg.d_model, **lm_sizes)
        self.sentence_reorder_head = SequenceClassificationHead(
            d_model=config.nlu.d_model, num_labels=config.sr_num_classes, dropout=config.dropout)
        self.sentence_distance_head = SequenceClassificationHead(
            d_model=config.nlu.d_model, num_labels=config.num_sd_classes, dropout=config.dropout)
        self.apply(self._init_weights)

    def _init_weights(self, module: nn.Module) -> None:
        std = self.config.init_std
        if isinstance(module, nn.Linear | nn.Embedding):
            nn.init.normal_(module.weight, std=std)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)
        elif isinstance(module, nn.LayerNorm):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
        elif isinstance(module, RelTransformerStack):
            nn.init.normal_(module.r_w_bias, std=std)
            nn.init.normal_(module.r_r_bias, std=std)

    @classmethod
    def from_pretrained(cls, path, *, map_location="cpu") -> Ernie3Model:
        """Rebuild a model saved by `save_pretrained` (config.json + model.safetensors; nothing
        is unpickled), in eval mode, on `map_location`. Names and shapes are checked against
        the config's model before any weight is read (`model.pretrained.read_weights`)."""
        with torch.device(map_location):
            model = cls(read_config(path))
        model.load_state_dict(read_weights(path, expected=model.state_dict(),
                                           map_location=map_location))
        return model.eval()

    def save_pretrained(self, path, *, tokenizer=None, extra: dict | None = None) -> None:
        """Write model.safetensors, config.json (and vocab.txt with a tokenizer) into `path`."""
        save_pretrained(self, path, tokenizer=tokenizer, extra=extra)

    @classmethod
    def build_on_meta(cls, config: Ernie3Config) -> Ernie3Model:
        """Build without allocating weights (meta device): for counting `paper-10b` parameters."""
        with torch.device("meta"):
            return cls(config)

    # ---- the NLG path's task module (the NLU one when config.share_task_modules)
    @property
    def nlg_stack(self) -> RelTransformerStack:
        """The stack the NLG path runs: `nlg`, or `nlu` when ``config.share_task_modules``."""
        return self.nlu if self.config.share_task_modules else self.nlg

    @property
    def nlg_projection(self) -> nn.Module:
        """universal width -> NLG stack width: `nlg_proj`, or `nlu_proj` when shared."""
        return self.nlu_proj if self.config.share_task_modules else self.nlg_proj

    # ---- forward passes
    def forward(self, input_ids: Tensor, *, paradigm: str, **kwargs) -> NLUOutput | NLGOutput:
        """Dispatch to `forward_nlu` (paradigm="nlu") or `forward_nlg` (paradigm="nlg")."""
        if paradigm == "nlu":
            return self.forward_nlu(input_ids, **kwargs)
        if paradigm == "nlg":
            return self.forward_nlg(input_ids, **kwargs)
        raise ValueError(f"paradigm={paradigm!r} must be 'nlu' or 'nlg'")

    def forward_nlu(self, input_ids: Tensor, *, attention_mask: Tensor | None = None,
                    token_type_ids: Tensor | None = None, task_type_ids: Tensor | None = None,
                    need_weights: bool = False) -> NLUOutput:
        """input_ids (B, T) -> `NLUOutput`; universal + NLU stacks, bidirectional, no memory.

        attention_mask (B, T): 1 = real token, 0 = padding (HF convention). task_type_ids
        (B, T) defaults to `TaskType.NLU` everywhere, the id NLU pre-training feeds.
        """
        self._check_length(input_ids)
        task_type_ids = task_ids_or_default(input_ids, task_type_ids, TaskType.NLU)
        padding = None if attention_mask is None else attention_mask == 0  # (B, T)
        x = self.embeddings(input_ids, token_type_ids=token_type_ids, task_type_ids=task_type_ids)
        uni = self.universal(x, causal=False, padding_mask=padding, need_weights=need_weights)
        nlu = self.nlu(self.nlu_proj(uni.hidden), causal=False, padding_mask=padding,
                       need_weights=need_weights)
        weights = {"universal": uni.weights, "nlu": nlu.weights} if need_weights else None
        return NLUOutput(hidden=nlu.hidden, universal_hidden=uni.hidden, weights=weights)

    def forward_nlg(self, input_ids: Tensor, *, memory: Ernie3Memory | None = None,
                    attention_mask: Tensor | None = None, token_type_ids: Tensor | None = None,
                    task_type_ids: Tensor | None = None, need_weights: bool = False,
                    mem_len: int | None = None) -> NLGOutput:
        """input_ids (B, T) -> `NLGOutput`; universal + NLG stacks, causal, with memory.

        memory: the ``new_memory`` of the previous segment of the same streams (None at the
        start of a document). mem_len overrides ``config.mem_len`` (TXL evaluates with longer
        memory than it trains with, §3.2). attention_mask (B, T): 1 = real, 0 = padding;
        memory positions are always visible. task_type_ids (B, T) defaults to `TaskType.NLG`
        everywhere, the id document LM pre-training feeds: a caller that leaves it out gets
        the path as trained, not the NLU task embedding.
        """
        self._check_length(input_ids)
        task_type_ids = task_ids_or_default(input_ids, task_type_ids, TaskType.NLG)
        mem_len = self.config.mem_len if mem_len is None else mem_len
        padding = None if attention_mask is None else attention_mask == 0  # (B, T)
        x = self.embeddings(input_ids, token_type_ids=token_type_ids, task_type_ids=task_type_ids)
        uni = self.universal(x, causal=True, memory=None if memory is None else memory.universal,
                             mem_len=mem_len, padding_mask=padding, need_weights=need_weights)
        nlg = self.nlg_stack(self.nlg_projection(uni.hidden), causal=True,
                             memory=None if memory is None else memory.nlg, mem_len=mem_len,
                             padding_mask=padding, need_weights=need_weights)
        new_memory = None
        if mem_len > 0:
            new_memory = Ernie3Memory(universal=uni.new_memory, nlg=nlg.new_memory)
        weights = {"universal": uni.weights, "nlg": nlg.weights} if need_weights else None
        return NLGOutput(hidden=nlg.hidden, universal_hidden=uni.hidden, new_memory=new_memory,
                         weights=weights)

    def _check_length(self, input_ids: Tensor) -> None:
        if input_ids.dim() != 2:
            raise ValueError(f"input_ids must be (B, T), got shape {tuple(input_ids.shape)}")
        if input_ids.size(1) > self.config.max_seq_len:
            raise ValueError(f"segment length {input_ids.size(1)} exceeds "
                             f"config.max_seq_len={self.config.max_seq_len}")

    # ---- pre-training heads (§3.2)
    def mlm_logits(self, hidden: Tensor) -> Tensor:
        """NLU hidden (..., d_nlu) -> (..., V): knowledge masked LM and UKTP (§3.2.1, §3.2.3)."""
        return self.mlm_head(hidden, word_embeddings=self.embeddings.word.weight)

    def lm_logits(self, hidden: Tensor) -> Tensor:
        """NLG hidden (..., d_nlg) -> (..., V): next-token logits of document LM (§3.2.1)."""
        return self.lm_head(hidden, word_embeddings=self.embeddings.word.weight)

    def sentence_reorder_logits(self, hidden: Tensor) -> Tensor:
        """NLU hidden (B, T, d_nlu) -> (B, k), k = sum_{n=1..m} n! (§3.2.2)."""
        return self.sentence_reorder_head(hidden)

    def sentence_distance_logits(self, hidden: Tensor) -> Tensor:
        """NLU hidden (B, T, d_nlu) -> (B, 3): adjacent / same doc / other doc (§3.2.2)."""
        return self.sentence_distance_head(hidden)

    # ---- parameter accounting
    def num_parameters(self, *, exclude_position_keys: bool = False) -> int:
        """Number of parameters (tied embeddings counted once).

        ``exclude_position_keys`` leaves out every layer's W_{k,R} (``attn.r_net``), the
        Transformer-XL projection of relative positions (TXL §3.3, term (b)/(d)). The paper's
        "10 billion" (ERNIE 3.0 §3.3.3) matches the count WITHOUT them: 48 x 12 x 4096^2 = 9.66B
        + embeddings + two 12L/768 task modules = 10.0B. W_{k,R} adds d^2 per layer, 0.81B for
        the universal module alone; whether ERNIE 3.0 counts or even has it is not stated.
        """
        total = sum(p.numel() for p in self.parameters())
        return total - self.num_position_key_parameters() if exclude_position_keys else total

    def num_position_key_parameters(self) -> int:
        """Parameters of all W_{k,R} (``r_net``) matrices: sum over layers of d * H * Dh."""
        stacks = [self.universal, self.nlu] + ([] if self.config.share_task_modules else [self.nlg])
        return sum(layer.attn.r_net.weight.numel() for s in stacks for layer in s.layers)

    def parameter_breakdown(self) -> dict[str, int]:
        """Parameters per top-level module, plus "position_keys" (W_{k,R}, already included).

        With ``config.share_task_modules`` "nlg_proj" and "nlg" are 0 (the NLU module serves).
        """
        counts = {name: sum(p.numel() for p in getattr(self, name).parameters())
                  if hasattr(self, name) else 0 for name in TOP_LEVEL_MODULES}
        counts["position_keys"] = self.num_position_key_parameters()
        return counts
