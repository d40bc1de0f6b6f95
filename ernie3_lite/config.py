"""`Ernie3Config`: every number that shapes an ERNIE 3.0 model, in one typed, serialisable class.

ERNIE 3.0 (arXiv 2107.02137 §3.1) stacks one shared *universal representation module* under two
*task-specific representation modules* (NLU: bidirectional, NLG: causal with recurrence memory).
All three are Transformer-XL stacks (arXiv 1901.02860), so each gets a `StackConfig`; the rest of
`Ernie3Config` is shared. Every field has an attribute docstring (picked up as CLI help by
jsonargparse). `__post_init__` validates and names the offending field in its error, e.g.
``Ernie3Config.universal.d_model=100 must be divisible by n_head=3``.

Presets (`Ernie3Config.from_name`): ``test`` (unit tests), ``nano`` (notebooks, minutes on 2 CPU
cores), ``small``, ``base`` (task modules at the paper's 12L/768/12H) and ``paper-10b`` (the
paper's 48L/4096/64H universal module, §3.3.3; build it on the meta device only).
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path
from typing import Any

from ernie3_lite.atomic import atomic_write_text
from ernie3_lite.errors import ConfigError, check_int
from ernie3_lite.files import read_text

RECURRENCE_KINDS = ("xl", "same_layer")
ATTENTION_IMPLS = ("reference", "fast", "sdpa")


class TaskType(IntEnum):
    """The task-type id fed to the task embedding (`task_type_ids`): which paradigm an input is.

    ERNIE 3.0 (§3.1) runs NLU and NLG inputs through different modules, and ERNIE 2.0's task
    embedding tells the shared layers which one is coming. It lives here, beside
    `num_task_types`, because both floors need it: the model gives each path its own id by
    default (`forward_nlu` NLU, `forward_nlg` and decoding NLG) and model/ never imports data/;
    `ernie3_lite.data.collate` re-exports it for the task builders.
    """

    NLU = 0  # knowledge masked LM, sentence reordering, sentence distance, UKTP
    NLG = 1  # document language modeling


def _check_probability(path: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value < 1.0:
        raise ConfigError(path, f"={value!r} must be a float in [0, 1)")


def _check_choice(path: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(path, f"={value!r} must be one of {choices}")


@dataclass
class StackConfig:
    """Size of one Transformer-XL stack (universal, NLU or NLG module; ERNIE 3.0 §3.1)."""

    n_layer: int
    """Number of Transformer-XL layers."""
    d_model: int
    """Width of the residual stream; must be even (sinusoid positions are [sin | cos] halves)."""
    n_head: int
    """Attention heads; the head width is `d_model // n_head`."""
    d_inner: int
    """Hidden width of the position-wise GeLU feed-forward network (usually 4 * d_model)."""

    def __post_init__(self) -> None:
        self.validate("StackConfig")

    @property
    def d_head(self) -> int:
        """Width of one attention head."""
        return self.d_model // self.n_head

    def validate(self, path: str) -> None:
        """Raise `ConfigError` naming ``{path}.<field>`` for the first invalid value."""
        check_int(f"{path}.n_layer", self.n_layer, minimum=1)
        check_int(f"{path}.d_model", self.d_model, minimum=2)
        check_int(f"{path}.n_head", self.n_head, minimum=1)
        check_int(f"{path}.d_inner", self.d_inner, minimum=1)
        if self.d_model % self.n_head:
            raise ConfigError(
                f"{path}.d_model", f"={self.d_model} must be divisible by n_head={self.n_head}"
            )
        if self.d_model % 2:
            raise ConfigError(
                f"{path}.d_model", f"={self.d_model} must be even (sinusoid is [sin | cos] halves)"
            )


#: the Transformer-XL stacks of an ERNIE 3.0 model, bottom to top (ERNIE 3.0 §3.1)
STACK_NAMES = ("universal", "nlu", "nlg")


@dataclass
class Ernie3Config:
    """Hyper-parameters of `Ernie3Model` (ERNIE 3.0 arXiv 2107.02137 §3.1, §3.3.3)."""

    # ---- identity
    name: str = "custom"
    """Preset this config came from (informational only)."""

    # ---- vocabulary and embeddings
    vocab_size: int = 100
    """Token vocabulary size; 40000 in the paper. Set it from `CharTokenizer.vocab_size`."""
    type_vocab_size: int = 2
    """Token-type (sentence A/B) embeddings, as in BERT/ERNIE `token_type_ids`."""
    num_task_types: int = 3
    """Task-type embeddings (`task_type_ids`, ERNIE 2.0/3.0; HF ERNIE `task_type_vocab_size`);
    at least one per `TaskType`."""
    embedding_norm: bool = False
    """LayerNorm on the embedding sum, as BERT / ERNIE 1.0-3.0 embeddings have it. Every preset
    sets True (issue 17: without it the NLG path sat at the unigram level for 0.4 M tokens where
    a same-size GPT reached perplexity 214); False only so that models exported before it
    (no ``embedding_norm`` in their config.json, no norm weights) load unchanged."""

    # ---- the three Transformer-XL stacks (§3.1)
    universal: StackConfig = field(default_factory=lambda: StackConfig(2, 32, 4, 64))
    """Universal representation module, shared by all task paradigms (48L/4096/64H in the paper)."""
    nlu: StackConfig = field(default_factory=lambda: StackConfig(2, 32, 4, 64))
    """NLU-specific module: bidirectional, no memory (12L/768/12H in the paper)."""
    nlg: StackConfig = field(default_factory=lambda: StackConfig(2, 32, 4, 64))
    """NLG-specific module: causal, with recurrence memory (12L/768/12H in the paper)."""
    share_task_modules: bool = False
    """Ablation, not ERNIE 3.0: one task stack for both paradigms (UniLM-style shared network
    steered by masks, §3.1): the NLG path runs the NLU stack and projection with a causal mask
    and memory. `nlg` must then equal `nlu`."""

    # ---- sequence and memory (Transformer-XL §3.2, ERNIE-Doc §3)
    max_seq_len: int = 16
    """Longest segment (query length) the model accepts; 512 in the paper."""
    mem_len: int = 8
    """Recurrence memory kept per layer for NLG inputs; 128 in the paper."""
    recurrence: str = "same_layer"
    """'xl': layer n reads the previous segment's layer-n INPUTS (Transformer-XL §3.2);
    'same_layer': layer n reads the previous segment's layer-n OUTPUTS (ERNIE-Doc enhanced
    recurrence, which ERNIE 3.0 uses for its NLG network)."""
    clamp_len: int | None = None
    """Clamp relative distances to this value (Transformer-XL code); None = no clamping."""
    attention_impl: str = "fast"
    """Relative-attention kernel: 'reference' (einsum + rel_shift), 'fast' (matmul) or 'sdpa'."""

    # ---- regularisation and initialisation
    dropout: float = 0.0
    """Dropout on embeddings, positions, attention output and feed-forward output."""
    dropatt: float = 0.0
    """Dropout on the attention probabilities."""
    init_std: float = 0.02
    """Standard deviation of the normal init of weights, embeddings and u/v."""
    layer_norm_eps: float = 1e-5
    """Epsilon of every LayerNorm."""

    # ---- pre-training heads (§3.2)
    sr_max_segments: int = 3
    """Sentence reordering splits a paragraph into 1..m segments (m here; §3.2.2)."""
    num_sd_classes: int = 3
    """Sentence distance classes: adjacent / same document / different document (§3.2.2)."""

    def __post_init__(self) -> None:
        for stack_name in STACK_NAMES:
            setattr(self, stack_name, _as_stack(getattr(self, stack_name), stack_name))
        self.validate()

    # ---- derived values
    @property
    def sr_num_classes(self) -> int:
        """k = sum_{n=1..m} n! sentence-reordering classes (ERNIE 2.0, ERNIE 3.0 §3.2.2)."""
        return sum(math.factorial(n) for n in range(1, self.sr_max_segments + 1))

    @property
    def d_embed(self) -> int:
        """Token-embedding width; the embeddings feed the universal module directly."""
        return self.universal.d_model

    def validate(self) -> None:
        """Raise `ConfigError` naming ``Ernie3Config.<field>`` for the first invalid value."""
        p = "Ernie3Config"
        if not isinstance(self.name, str):
            raise ConfigError(f"{p}.name", f"={self.name!r} must be a str")
        for stack_name in STACK_NAMES:
            getattr(self, stack_name).validate(f"{p}.{stack_name}")
        if not isinstance(self.embedding_norm, bool):
            raise ConfigError(f"{p}.embedding_norm", f"={self.embedding_norm!r} must be a bool")
        if not isinstance(self.share_task_modules, bool):
            raise ConfigError(f"{p}.share_task_modules", f"={self.share_task_modules!r} must be "
                              "a bool")
        if self.share_task_modules and self.nlg != self.nlu:
            raise ConfigError(f"{p}.nlg", f"={self.nlg} must equal nlu={self.nlu} when "
                              "share_task_modules=True (one stack serves both paradigms)")
        check_int(f"{p}.vocab_size", self.vocab_size, minimum=1)
        check_int(f"{p}.type_vocab_size", self.type_vocab_size, minimum=1)
        check_int(f"{p}.num_task_types", self.num_task_types, minimum=len(TaskType))
        check_int(f"{p}.max_seq_len", self.max_seq_len, minimum=1)
        check_int(f"{p}.mem_len", self.mem_len, minimum=0)
        if self.clamp_len is not None:
            check_int(f"{p}.clamp_len", self.clamp_len, minimum=1)
        _check_choice(f"{p}.recurrence", self.recurrence, RECURRENCE_KINDS)
        _check_choice(f"{p}.attention_impl", self.attention_impl, ATTENTION_IMPLS)
        _check_probability(f"{p}.dropout", self.dropout)
        _check_probability(f"{p}.dropatt", self.dropatt)
        for name in ("init_std", "layer_norm_eps"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise ConfigError(f"{p}.{name}", f"={value!r} must be a positive float")
        check_int(f"{p}.sr_max_segments", self.sr_max_segments, minimum=1)
        if self.sr_max_segments > 8:  # 8 segments already means 46233 classes
            raise ConfigError(f"{p}.sr_max_segments", f"={self.sr_max_segments} must be <= 8")
        check_int(f"{p}.num_sd_classes", self.num_sd_classes, minimum=2)

    # ---- construction and serialisation
    @classmethod
    def from_name(cls, name: str, **overrides: Any) -> Ernie3Config:
        """A preset by name; `overrides` replace fields (a dict for a stack updates only its keys).

        >>> Ernie3Config.from_name("test", mem_len=4, nlg={"n_layer": 1}).nlg.n_layer
        1
        """
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
        values = copy.deepcopy(PRESETS[name])
        for key, value in overrides.items():
            if key in STACK_NAMES and isinstance(value, dict):
                value = {**values[key], **value}
            values[key] = value
        return cls.from_dict({"name": name, **values})

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Ernie3Config:
        """Inverse of `to_dict`; unknown keys raise `ConfigError` naming them."""
        known = {f.name for f in dataclasses.fields(cls)}
        for key in values:
            if key not in known:
                raise ConfigError(f"Ernie3Config.{key}", " is not a field of Ernie3Config")
        return cls(**copy.deepcopy(values))

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict of JSON types (stacks become dicts)."""
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> Ernie3Config:
        return cls.from_dict(json.loads(text))

    def save(self, path: str | Path) -> None:
        atomic_write_text(path, self.to_json() + "\n")

    @classmethod
    def from_file(cls, path: str | Path) -> Ernie3Config:
        """The config in a JSON file (a regular file of bounded size, see `files`); a file that
        is not valid JSON raises ConfigError naming it with line and column."""
        text = read_text(path)
        try:
            values = json.loads(text)
        except json.JSONDecodeError as error:
            raise ConfigError(f"{path}:{error.lineno}:{error.colno}",
                              f": not valid JSON ({error.msg})") from None
        if not isinstance(values, dict):
            raise ConfigError(str(path), f": expected a JSON object, got {type(values).__name__}")
        return cls.from_dict(values)


def _as_stack(value: Any, stack_name: str) -> StackConfig:
    """Accept a `StackConfig` or a dict of its fields; errors name ``Ernie3Config.<stack>.*``."""
    if isinstance(value, StackConfig):
        return value
    path = f"Ernie3Config.{stack_name}"
    if not isinstance(value, dict):
        raise ConfigError(path, f"={value!r} must be a StackConfig or a dict")
    known = {f.name for f in dataclasses.fields(StackConfig)}
    for key in known ^ set(value):
        problem = " is missing" if key in known else " is not a field of StackConfig"
        raise ConfigError(f"{path}.{key}", problem)
    try:
        return StackConfig(**value)
    except ConfigError as error:
        raise error.relocated("StackConfig", path) from None


def _stack(n_layer: int, d_model: int, n_head: int, d_inner: int | None = None) -> dict[str, int]:
    return dict(n_layer=n_layer, d_model=d_model, n_head=n_head, d_inner=d_inner or 4 * d_model)


#: Named presets. Head width is 64 everywhere except `test` (as in the paper: 4096/64, 768/12).
#: `nano`/`small` task modules are narrower than the universal module, like the paper's
#: 768-wide task modules on a 4096-wide universal module, so a projection sits between them.
PRESETS: dict[str, dict[str, Any]] = {
    # unit tests: HF-ModelTester-sized, seconds on a CPU
    "test": dict(
        vocab_size=100, universal=_stack(2, 32, 4, 64), nlu=_stack(2, 32, 4, 64),
        nlg=_stack(2, 32, 4, 64), max_seq_len=16, mem_len=8, sr_max_segments=3,
        embedding_norm=True,
    ),
    # notebooks and demos: minutes on 2 CPU cores; vocab_size = len(data_samples/vocab.txt)
    "nano": dict(
        vocab_size=5275, universal=_stack(4, 256, 4), nlu=_stack(2, 128, 2),
        nlg=_stack(2, 128, 2), max_seq_len=128, mem_len=32, dropout=0.1, sr_max_segments=5,
        embedding_norm=True,
    ),
    # a single-GPU model; task modules at the size of the paper's ablation (§4.4.1, 3L/256/4H;
    # UNVERIFIED); vocab_size = the cap of a full data build (set it from the tokenizer)
    "small": dict(
        vocab_size=8000, universal=_stack(6, 512, 8), nlu=_stack(3, 256, 4),
        nlg=_stack(3, 256, 4), max_seq_len=256, mem_len=64, dropout=0.1, sr_max_segments=5,
        embedding_norm=True,
    ),
    # task modules at ERNIE 3.0's task size (12L/768/12H); universal at base size too
    "base": dict(
        vocab_size=40000, universal=_stack(12, 768, 12), nlu=_stack(12, 768, 12),
        nlg=_stack(12, 768, 12), max_seq_len=512, mem_len=128, dropout=0.1, sr_max_segments=5,
        embedding_norm=True,
    ),
    # the paper's 10B model (§3.3.3): 48L/4096/64H universal, two 12L/768/12H task modules
    "paper-10b": dict(
        vocab_size=40000, universal=_stack(48, 4096, 64, 16384), nlu=_stack(12, 768, 12),
        nlg=_stack(12, 768, 12), max_seq_len=512, mem_len=128, dropout=0.1, sr_max_segments=5,
        embedding_norm=True,
    ),
}
