"""What generation returns: one `GeneratedToken` per step, a `GenerationResult` at the end."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Candidate:
    """A token the model considered at a step, with its probability."""

    token_id: int
    text: str
    probability: float


@dataclass(frozen=True)
class GeneratedToken:
    """One generated token.

    probability is the MODEL's probability of the token at that step: softmax of its logits
    at temperature 1 over the tokens that may be generated (special tokens excluded), before
    repetition penalty, temperature, top-k and top-p. So it shows what the network believed,
    whatever the sampler did; candidates are the most likely tokens of that same distribution.
    text is the piece this token adds to the decoded text.
    """

    step: int
    token_id: int
    text: str
    probability: float
    candidates: tuple[Candidate, ...] = ()


@dataclass(frozen=True)
class GenerationResult:
    """A finished generation.

    text: the continuation only, the tokens' pieces joined (the same as
    ``tokenizer.decode(token_ids)`` but where a letter run changes spacing as it grows, see
    `text_pieces`); `full_text` adds the prompt.
    prompt_ids: what the model read (with the leading [SEP] of a new document).
    stop_reason: one of `ernie3_lite.generation.config.STOP_REASONS`.
    score: the beam's length-normalised log-probability (strategy "beam"), else None.
    """

    prompt: str
    text: str
    token_ids: list[int]
    probabilities: list[float]
    stop_reason: str
    tokens: tuple[GeneratedToken, ...]
    prompt_ids: list[int]
    score: float | None = None

    @property
    def full_text(self) -> str:
        return self.prompt + self.text

    @property
    def pieces(self) -> list[str]:
        """The text piece of every token (joined, they give `text`)."""
        return [token.text for token in self.tokens]
