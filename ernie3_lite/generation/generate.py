"""`generate` and `generate_stream`: text from the NLG network, one cached step per token.

The loop is the plain autoregressive one of ERNIE 3.0's document LM (arXiv 2107.02137 §3.2.1):
feed the prompt once (`prefill_prompt`, exact K/V cache), then per step pick a token from the
processed next-token logits and feed just that token (`decode_step`). Greedy takes the argmax,
sampling draws from a seeded `torch.Generator` (same seed, same tokens), beam search lives in
`beam.py`. [SEP] closes a document in pre-training, so generating it ends the text.

`generate_stream` yields each token as soon as it is chosen (a notebook widget renders it at
once); `generate` runs the same stream to the end, so the two always agree.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import Tensor

from ernie3_lite.generation.beam import Hypothesis, StepContext, beam_search
from ernie3_lite.generation.cache import keep_last
from ernie3_lite.generation.config import GenerationConfig
from ernie3_lite.generation.outputs import Candidate, GeneratedToken, GenerationResult
from ernie3_lite.generation.processors import mask_tokens, process_logits
from ernie3_lite.generation.prompt import banned_token_ids, encode_prompt, prefill_prompt
from ernie3_lite.model.decoding import NLGCache, decode_step
from ernie3_lite.model.ernie3 import Ernie3Model
from ernie3_lite.tokenization import CharTokenizer

OnToken = Callable[[GeneratedToken], bool | None]


def next_piece(tokenizer: CharTokenizer, token_ids: list[int], before: str) -> tuple[str, str]:
    """(the text the last of `token_ids` adds, the decoded text now); `before` is the decoded
    text without that token. For CJK the piece is the character itself; a letter token may
    bring a space. In the rare case where a growing letter run is re-spaced by the tokenizer
    (it re-glues single letters), the piece falls back to the token alone, after a space."""
    after = tokenizer.decode(token_ids)
    if after.startswith(before):
        return after[len(before) :], after
    return " " + tokenizer.decode(token_ids[-1:]), after


def text_pieces(tokenizer: CharTokenizer, token_ids: list[int]) -> list[str]:
    """The text each token adds (see `next_piece`)."""
    pieces, before = [], ""
    for t in range(len(token_ids)):
        piece, before = next_piece(tokenizer, token_ids[: t + 1], before)
        pieces.append(piece)
    return pieces


def _candidates(tokenizer: CharTokenizer, pairs: list[tuple[int, float]]) -> tuple[Candidate, ...]:
    return tuple(Candidate(i, tokenizer.decode([i], skip_special_tokens=False), p)
                 for i, p in pairs)


class GenerationStream(Iterator[GeneratedToken]):
    """An iterator of `GeneratedToken`; after the end, `stop_reason` says why it ended and
    `result()` gives the `GenerationResult`. `stop()` ends it early ("stopped"), and so does
    an ``on_token`` callback that returns True."""

    def __init__(self, model: Ernie3Model, tokenizer: CharTokenizer, prompt: str,
                 config: GenerationConfig | dict[str, Any] | None, *,
                 on_token: OnToken | None = None) -> None:
        config = as_generation_config(config)
        if not isinstance(prompt, str):  # None used to fail deep in the tokenizer
            raise TypeError(f"prompt must be a str ('' starts a new document), got "
                            f"{type(prompt).__name__}")
        if model.config.vocab_size != tokenizer.vocab_size:
            raise ValueError(f"tokenizer has {tokenizer.vocab_size} tokens, the model "
                             f"{model.config.vocab_size}: load the vocab.txt saved with it")
        self.model, self.tokenizer, self.prompt, self.config = model, tokenizer, prompt, config
        self.on_token = on_token
        self.stop_ids = set(_stop_token_ids(tokenizer, config))
        self.prompt_ids = encode_prompt(tokenizer, prompt,
                                        start_of_document=config.start_of_document)
        self.tokens: list[GeneratedToken] = []
        self.stop_reason: str | None = None
        self.score: float | None = None
        self._stop_requested = False
        self._steps = self._run()

    def __next__(self) -> GeneratedToken:
        token = next(self._steps)
        self.tokens.append(token)
        if self.on_token is not None and self.on_token(token):
            self.stop()
        return token

    def stop(self) -> None:
        """End the generation now (the tokens so far stay). Safe to call from another thread
        while a step runs: the loop then ends before its next step."""
        self._stop_requested = True
        if self.stop_reason is None:
            self.stop_reason = "stopped"
        try:
            self._steps.close()
        except ValueError:  # "generator already executing": the flag ends it
            pass

    def result(self) -> GenerationResult:
        """Run to the end (if not there yet) and collect everything."""
        for _ in self:
            pass
        pieces = [token.text for token in self.tokens]
        return GenerationResult(
            prompt=self.prompt, text="".join(pieces),
            token_ids=[t.token_id for t in self.tokens],
            probabilities=[t.probability for t in self.tokens],
            stop_reason=self.stop_reason or "stopped", tokens=tuple(self.tokens),
            prompt_ids=list(self.prompt_ids), score=self.score)

    # ---- the loop
    def _context(self) -> StepContext:
        model_config = self.model.config
        user_ids = self.tokenizer.encode(self.prompt)  # the leading [SEP] is not "seen" text
        return StepContext(
            config=self.config, banned_ids=banned_token_ids(self.tokenizer),
            end_id=self.tokenizer.sep_id, previous_ids=user_ids,
            max_context=self.config.max_context or model_config.mem_len + model_config.max_seq_len,
            stop_check=self._stop_check)

    def _stop_check(self, token_ids: list[int]) -> str | None:
        if token_ids and token_ids[-1] in self.stop_ids:
            return "stop_token"
        strings = self.config.stop_strings
        if strings and any(s in self.tokenizer.decode(token_ids) for s in strings):
            return "stop_string"
        return None

    def _run(self) -> Iterator[GeneratedToken]:
        was_training = self.model.training
        self.model.eval()  # dropout off: the cache must equal a full forward
        try:
            device = next(self.model.parameters()).device
            input_ids = torch.tensor([self.prompt_ids], device=device)  # (1, T)
            logits, cache = prefill_prompt(self.model, input_ids)  # (1, V)
            context = self._context()
            if self.config.strategy == "beam":
                yield from self._beam(logits, cache, context)
            else:
                yield from self._greedy_or_sample(logits, cache, context, device=device)
        finally:
            self.model.train(was_training)

    def _beam(self, logits: Tensor, cache: NLGCache,
              context: StepContext) -> Iterator[GeneratedToken]:
        best: Hypothesis = beam_search(self.model, logits, cache, context=context)
        self.score = best.score(self.config.length_penalty)
        pieces = text_pieces(self.tokenizer, best.token_ids)
        for step, token_id in enumerate(best.token_ids):
            yield GeneratedToken(
                step=step, token_id=token_id, text=pieces[step],
                probability=best.probabilities[step],
                candidates=_candidates(self.tokenizer, best.candidates[step]))
        self.stop_reason = self.stop_reason or best.stop_reason

    def _greedy_or_sample(self, logits: Tensor, cache: NLGCache, context: StepContext, *,
                          device: torch.device) -> Iterator[GeneratedToken]:
        config, generated, decoded = self.config, [], ""
        generator = torch.Generator(device=device)
        if config.seed is None:
            generator.seed()  # fresh entropy
        else:
            generator.manual_seed(config.seed)
        seen = torch.tensor([context.previous_ids], dtype=torch.long, device=device)  # (1, L)
        for step in range(config.max_new_tokens):
            if self._stop_requested:
                self.stop_reason = "stopped"
                return
            banned = context.banned_ids + ([context.end_id]
                                           if step < config.min_new_tokens else [])
            model_probs = mask_tokens(logits.float(), banned).softmax(dim=-1)[0]  # (V,)
            processed = process_logits(logits, previous_ids=seen, config=config,
                                       banned_ids=banned)  # (1, V)
            if config.strategy == "greedy":
                next_id = processed.argmax(dim=-1)  # (1,)
            else:
                next_id = torch.multinomial(processed.softmax(dim=-1), 1,
                                            generator=generator)[:, 0]  # (1,)
            token_id = int(next_id)
            if token_id == context.end_id:
                self.stop_reason = "end_of_document"
                return
            generated.append(token_id)
            top = model_probs.topk(min(config.num_candidates, model_probs.numel()))
            piece, decoded = next_piece(self.tokenizer, generated, decoded)
            pairs = list(zip(top.indices.tolist(), top.values.tolist(), strict=True))
            yield GeneratedToken(step=step, token_id=token_id, text=piece,
                                 probability=float(model_probs[token_id]),
                                 candidates=_candidates(self.tokenizer, pairs))
            self.stop_reason = context.stop_check(generated)
            if self.stop_reason is not None:
                return
            if step + 1 == config.max_new_tokens:
                self.stop_reason = "max_new_tokens"
                return
            cache = keep_last(cache, context.max_context - 1)
            logits, cache = decode_step(self.model, next_id, cache)  # (1, V)
            seen = torch.cat([seen, next_id[:, None]], dim=1)  # (1, L + 1)


def as_generation_config(config: GenerationConfig | dict[str, Any] | None) -> GenerationConfig:
    """`config` itself, the default (None), or one built from a dict (a notebook's or YAML's
    settings; an unknown key raises `ConfigError` naming it)."""
    if config is None:
        return GenerationConfig()
    if isinstance(config, dict):
        return GenerationConfig.from_dict(config)
    if not isinstance(config, GenerationConfig):
        raise TypeError(f"config must be a GenerationConfig, a dict of its fields or None, got "
                        f"{type(config).__name__}")
    return config


def _stop_token_ids(tokenizer: CharTokenizer, config: GenerationConfig) -> list[int]:
    ids = tokenizer.convert_tokens_to_ids(config.stop_tokens)
    for token, token_id in zip(config.stop_tokens, ids, strict=True):
        if token_id == tokenizer.unk_id:
            raise ValueError(f"GenerationConfig.stop_tokens: {token!r} is not in the "
                             "vocabulary (use stop_strings for longer text)")
    return ids


def generate_stream(model: Ernie3Model, tokenizer: CharTokenizer, prompt: str,
                    config: GenerationConfig | dict[str, Any] | None = None, *,
                    on_token: OnToken | None = None) -> GenerationStream:
    """Iterate over the generated tokens of `prompt` as they are chosen.

    For strategy "beam" the search runs to the end first (the best beam is known only then),
    and its tokens are yielded afterwards.
    """
    return GenerationStream(model, tokenizer, prompt, config, on_token=on_token)


def generate(model: Ernie3Model, tokenizer: CharTokenizer, prompt: str,
             config: GenerationConfig | dict[str, Any] | None = None, *,
             on_token: OnToken | None = None) -> GenerationResult:
    """Generate a continuation of `prompt`; ``on_token(token)`` is called per token (return
    True to stop there)."""
    return generate_stream(model, tokenizer, prompt, config, on_token=on_token).result()
