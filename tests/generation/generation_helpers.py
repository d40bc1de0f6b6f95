"""A random `test`-preset model for the generation tests (used by conftest and test files).

The model's LM-head bias pushes the special tokens and [SEP] far down, so that even plain
`greedy_decode` (which knows nothing about them) never picks one and can be compared with
`generate` token for token; tests that need them set the bias the other way.
"""

from __future__ import annotations

import torch

from ernie3_lite.config import Ernie3Config
from ernie3_lite.model.ernie3 import Ernie3Model
from ernie3_lite.tokenization import CharTokenizer


def make_model(tokenizer: CharTokenizer, *, special_bias: float = -20.0, seed: int = 0,
               **overrides) -> Ernie3Model:
    """A random model; init_std 0.1 makes its next-token distributions peaked enough that
    no two top logits are within float noise of each other."""
    torch.manual_seed(seed)
    sizes = {"vocab_size": tokenizer.vocab_size, "init_std": 0.1, **overrides}
    model = Ernie3Model(Ernie3Config.from_name("test", **sizes)).eval()
    specials = [tokenizer.pad_id, tokenizer.cls_id, tokenizer.sep_id, tokenizer.mask_id,
                tokenizer.unk_id]
    with torch.no_grad():
        model.lm_head.bias[specials] = special_bias
    return model
