"""`GenerationConfig` validation: every bad value names its field."""

from __future__ import annotations

import pytest

from ernie3_lite.config import ConfigError
from ernie3_lite.generation import GenerationConfig


@pytest.mark.parametrize(("field", "value"), [
    ("strategy", "nucleus"), ("max_new_tokens", 0), ("max_new_tokens", 2.0),
    ("temperature", 0.0), ("temperature", float("nan")), ("top_k", -1), ("top_p", 0.0),
    ("top_p", 1.5), ("repetition_penalty", 0), ("num_beams", 0), ("length_penalty", -1.0),
    ("seed", -3), ("stop_strings", [""]), ("stop_tokens", [3]), ("num_candidates", -1),
    ("max_context", 1), ("start_of_document", "yes"),
])
def test_invalid_values_raise_naming_the_field(field, value):
    with pytest.raises(ConfigError, match=rf"^GenerationConfig\.{field}"):
        GenerationConfig(**{field: value})


def test_min_new_tokens_cannot_exceed_max_new_tokens():
    with pytest.raises(ConfigError, match="min_new_tokens=5 must be <= max_new_tokens=4"):
        GenerationConfig(max_new_tokens=4, min_new_tokens=5)


def test_lists_become_tuples_and_a_single_string_is_one_stop():
    config = GenerationConfig(stop_tokens=["。", "!"], stop_strings="本报")
    assert config.stop_tokens == ("。", "!") and config.stop_strings == ("本报",)
    hash(config)  # frozen and hashable


def test_from_dict_rejects_unknown_keys():
    assert GenerationConfig.from_dict({"strategy": "beam"}).strategy == "beam"
    with pytest.raises(ConfigError, match="GenerationConfig.topp is not a field"):
        GenerationConfig.from_dict({"topp": 0.9})
