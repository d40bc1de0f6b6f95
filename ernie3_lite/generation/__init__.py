"""Text generation with the NLG network (ERNIE 3.0 arXiv 2107.02137 §3.1, §3.2.1).

Reading order: `config` (GenerationConfig) -> `processors` (pure logits functions: repetition
penalty, temperature, top-k, top-p) -> `prompt` (prompt -> cache, long prompts through the
recurrence memory) -> `cache` (beam rows, context window) -> `beam` -> `generate` (greedy and
sampling loops, streaming) -> `cli` (``python -m ernie3_lite.generation``).
"""

from ernie3_lite.generation.cache import keep_last, select_rows
from ernie3_lite.generation.config import STOP_REASONS, STRATEGIES, GenerationConfig
from ernie3_lite.generation.generate import (
    GenerationStream,
    generate,
    generate_stream,
    next_piece,
    text_pieces,
)
from ernie3_lite.generation.outputs import Candidate, GeneratedToken, GenerationResult
from ernie3_lite.generation.processors import (
    apply_repetition_penalty,
    apply_temperature,
    mask_tokens,
    process_logits,
    top_k_filter,
    top_p_filter,
)
from ernie3_lite.generation.prompt import (
    banned_token_ids,
    encode_prompt,
    prefill_prompt,
    prompt_segments,
)

__all__ = [
    "STOP_REASONS",
    "STRATEGIES",
    "Candidate",
    "GeneratedToken",
    "GenerationConfig",
    "GenerationResult",
    "GenerationStream",
    "apply_repetition_penalty",
    "apply_temperature",
    "banned_token_ids",
    "encode_prompt",
    "generate",
    "generate_stream",
    "keep_last",
    "mask_tokens",
    "next_piece",
    "prefill_prompt",
    "process_logits",
    "prompt_segments",
    "select_rows",
    "text_pieces",
    "top_k_filter",
    "top_p_filter",
]
