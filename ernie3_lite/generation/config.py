"""`GenerationConfig`: how to pick each next token of the NLG network (ERNIE 3.0 §3.1, §3.2.1).

One frozen dataclass for the three strategies, checked as it is built: an invalid value raises
`ConfigError` (a ValueError) naming the field, e.g. ``GenerationConfig.top_p=1.5 must be ...``.
Knobs a strategy does not use are ignored by it (greedy ignores temperature, top-k and top-p,
since none of them changes the argmax; beam search ignores top-k and top-p).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

from ernie3_lite.errors import ConfigError, check_int

STRATEGIES = ("greedy", "sample", "beam")
#: why a generation ended (`GenerationResult.stop_reason`)
STOP_REASONS = ("max_new_tokens", "stop_token", "stop_string", "end_of_document", "stopped")


def _field(name: str) -> str:
    return f"GenerationConfig.{name}"


def _check_float(name: str, value: Any, *, low: float, high: float = math.inf,
                 low_inclusive: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(_field(name), f"={value!r} must be a finite number")
    too_low = value < low if low_inclusive else value <= low
    if too_low or value > high:
        bracket = "[" if low_inclusive else "("
        raise ConfigError(_field(name), f"={value!r} must be in {bracket}{low:g}, {high:g}]")


def _check_strings(name: str, value: Any) -> tuple[str, ...]:
    values = (value,) if isinstance(value, str) else tuple(value)
    for item in values:
        if not isinstance(item, str) or not item:
            raise ConfigError(_field(name), f" must hold non-empty strings, got {item!r}")
    return values


@dataclass(frozen=True)
class GenerationConfig:
    """Decoding settings. Processing order per step (as HF's logits processors): repetition
    penalty, temperature, top-k, top-p; [PAD] [CLS] [MASK] [UNK] are never generated."""

    strategy: str = "greedy"
    """"greedy" (argmax), "sample" (multinomial on the processed distribution) or "beam"."""
    max_new_tokens: int = 40
    """Upper bound on generated tokens (a stop ends generation earlier)."""
    min_new_tokens: int = 1
    """[SEP] (end of document) is masked until this many tokens exist: never an empty answer."""
    temperature: float = 1.0
    """Divide the logits by this (> 0): < 1 sharpens the distribution, > 1 flattens it."""
    top_k: int = 0
    """Keep the k most likely tokens before sampling; 0 = off."""
    top_p: float = 1.0
    """Nucleus sampling (Holtzman et al., arXiv 1904.09751): keep the smallest set of most
    likely tokens whose mass is >= top_p; 1.0 = off."""
    repetition_penalty: float = 1.0
    """CTRL (arXiv 1909.05858 §4.1) penalty on tokens already in the prompt or the output:
    positive logits are divided by it, negative ones multiplied; 1.0 = off."""
    num_beams: int = 4
    """Beam width of strategy "beam" (1 = greedy)."""
    length_penalty: float = 1.0
    """Beam score = sum of log-probabilities / length ** length_penalty (0 = no normalisation)."""
    seed: int | None = None
    """Seed of the sampling `torch.Generator` (same seed, same tokens); None = fresh entropy."""
    stop_tokens: tuple[str, ...] = ()
    """Vocabulary tokens (e.g. "。") that end generation; the stop token is kept in the text."""
    stop_strings: tuple[str, ...] = ()
    """Strings that end generation once the generated text contains them (kept in the text)."""
    start_of_document: bool = True
    """Prefix the prompt with [SEP]: in the document-LM stream every document follows the
    [SEP] that closes the one before (`DocumentStream.from_documents`). An empty prompt always
    starts from [SEP]."""
    num_candidates: int = 5
    """How many top candidates (token, probability) each `GeneratedToken` reports."""
    max_context: int | None = None
    """Cached positions kept while decoding (oldest dropped first); None = the model's
    ``mem_len + max_seq_len``, the longest context it saw in pre-training."""

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ConfigError(_field("strategy"), f"={self.strategy!r} must be one of "
                              f"{STRATEGIES}")
        check_int(_field("max_new_tokens"), self.max_new_tokens, minimum=1)
        check_int(_field("min_new_tokens"), self.min_new_tokens, minimum=0)
        if self.min_new_tokens > self.max_new_tokens:
            raise ConfigError(_field("min_new_tokens"), f"={self.min_new_tokens} must be <= "
                              f"max_new_tokens={self.max_new_tokens}")
        _check_float("temperature", self.temperature, low=0.0)
        check_int(_field("top_k"), self.top_k, minimum=0)
        _check_float("top_p", self.top_p, low=0.0, high=1.0)
        _check_float("repetition_penalty", self.repetition_penalty, low=0.0)
        check_int(_field("num_beams"), self.num_beams, minimum=1)
        _check_float("length_penalty", self.length_penalty, low=0.0, low_inclusive=True)
        if self.seed is not None:
            check_int(_field("seed"), self.seed, minimum=0)
        # lists are accepted and frozen into tuples (the dataclass stays hashable)
        object.__setattr__(self, "stop_tokens", _check_strings("stop_tokens", self.stop_tokens))
        object.__setattr__(self, "stop_strings",
                           _check_strings("stop_strings", self.stop_strings))
        if not isinstance(self.start_of_document, bool):
            raise ConfigError(_field("start_of_document"),
                              f"={self.start_of_document!r} must be a bool")
        check_int(_field("num_candidates"), self.num_candidates, minimum=0)
        if self.max_context is not None:
            check_int(_field("max_context"), self.max_context, minimum=2)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> GenerationConfig:
        """Build from a dict; an unknown key raises `ConfigError` naming it."""
        known = {f.name for f in fields(cls)}
        for key in values:
            if key not in known:
                raise ConfigError(_field(key), " is not a field of GenerationConfig")
        return cls(**values)
