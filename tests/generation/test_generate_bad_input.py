"""`generate` with a None prompt or a dict config: a clear error or the config it means, not a
bare TypeError / AttributeError from deep inside (issue 12 §4)."""

from __future__ import annotations

import pytest

from ernie3_lite.config import ConfigError
from ernie3_lite.generation import GenerationConfig, generate, generate_stream


def test_a_none_prompt_is_a_clear_type_error(model, tokenizer):
    with pytest.raises(TypeError, match=r"prompt must be a str \(.*\), got NoneType"):
        generate(model, tokenizer, None)
    with pytest.raises(TypeError, match="prompt must be a str"):
        generate_stream(model, tokenizer, 42)


def test_a_dict_config_means_that_config(model, tokenizer, news):
    settings = {"strategy": "greedy", "max_new_tokens": 4}
    from_dict = generate(model, tokenizer, news[:20], settings)
    assert from_dict.token_ids == generate(model, tokenizer, news[:20],
                                           GenerationConfig(**settings)).token_ids
    assert len(from_dict.token_ids) <= 4


def test_a_bad_dict_or_config_type_names_the_problem(model, tokenizer):
    with pytest.raises(ConfigError, match="max_tokens is not a field of GenerationConfig"):
        generate(model, tokenizer, "本报", {"max_tokens": 4})
    with pytest.raises(TypeError, match="config must be a GenerationConfig, a dict of its "
                                        "fields or None, got str"):
        generate(model, tokenizer, "本报", "greedy")
