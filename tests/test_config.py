"""`Ernie3Config`: presets, validation errors that name the field, and serialisation round trips."""

from __future__ import annotations

import itertools
import json

import pytest

from ernie3_lite import DATA_SAMPLES
from ernie3_lite.config import PRESETS, ConfigError, Ernie3Config, StackConfig
from ernie3_lite.tokenization import CharTokenizer


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_builds_and_round_trips_through_json(name, tmp_path):
    config = Ernie3Config.from_name(name)
    assert config.name == name
    assert Ernie3Config.from_json(config.to_json()) == config
    assert Ernie3Config.from_dict(config.to_dict()) == config
    json.loads(config.to_json())  # plain JSON, no custom types
    config.save(tmp_path / "config.json")
    assert Ernie3Config.from_file(tmp_path / "config.json") == config


def test_round_trip_keeps_non_default_values():
    config = Ernie3Config.from_name("test", clamp_len=5, recurrence="xl", attention_impl="sdpa",
                                    dropout=0.25, nlg={"d_model": 16, "n_head": 2})
    again = Ernie3Config.from_json(config.to_json())
    assert again == config
    assert isinstance(again.nlg, StackConfig) and again.nlg.d_model == 16
    assert again.clamp_len == 5 and again.dropout == 0.25


def test_paper_10b_preset_matches_the_paper():
    """ERNIE 3.0 §3.3.3: universal 48L/4096/64H, task modules 12L/768/12H, seq 512, memory 128."""
    config = Ernie3Config.from_name("paper-10b")
    assert (config.universal.n_layer, config.universal.d_model, config.universal.n_head) == (
        48, 4096, 64)
    assert config.universal.d_inner == 16384
    for task in (config.nlu, config.nlg):
        assert (task.n_layer, task.d_model, task.n_head) == (12, 768, 12)
    assert (config.vocab_size, config.max_seq_len, config.mem_len) == (40000, 512, 128)


def test_base_preset_uses_the_paper_task_module_size():
    config = Ernie3Config.from_name("base")
    for stack in (config.universal, config.nlu, config.nlg):
        assert (stack.n_layer, stack.d_model, stack.n_head) == (12, 768, 12)


def test_nano_vocab_size_matches_the_shipped_vocab():
    vocab = DATA_SAMPLES / "vocab.txt"
    if not vocab.exists():
        pytest.skip("data_samples/vocab.txt not built")
    tokenizer = CharTokenizer.from_file(vocab)
    assert Ernie3Config.from_name("nano").vocab_size == tokenizer.vocab_size


def test_test_preset_is_tiny():
    config = Ernie3Config.from_name("test")
    assert config.vocab_size <= 128 and config.universal.d_model == 32
    assert config.universal.n_layer == 2


@pytest.mark.parametrize("m", [1, 2, 3, 4, 5])
def test_sentence_reorder_classes_count_every_permutation_of_1_to_m_segments(m):
    brute_force = sum(len(list(itertools.permutations(range(n)))) for n in range(1, m + 1))
    assert Ernie3Config.from_name("test", sr_max_segments=m).sr_num_classes == brute_force


def test_from_name_merges_stack_overrides_and_leaves_presets_alone():
    before = json.dumps(PRESETS, sort_keys=True)
    config = Ernie3Config.from_name("test", mem_len=3, nlg={"n_layer": 1})
    assert config.mem_len == 3 and config.nlg.n_layer == 1
    assert config.nlg.d_model == PRESETS["test"]["nlg"]["d_model"]
    assert json.dumps(PRESETS, sort_keys=True) == before


def test_unknown_preset_lists_the_choices():
    with pytest.raises(ValueError, match="paper-10b"):
        Ernie3Config.from_name("gpt-5")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"universal": {"d_model": 100, "n_head": 3}},
         "Ernie3Config.universal.d_model=100 must be divisible by n_head=3"),
        ({"nlg": {"d_model": 33, "n_head": 3}}, "Ernie3Config.nlg.d_model=33 must be even"),
        ({"nlu": {"n_layer": 0}}, "Ernie3Config.nlu.n_layer=0 must be >= 1"),
        ({"nlu": {"d_inner": 2.5}}, "Ernie3Config.nlu.d_inner=2.5 must be an int"),
        ({"nlu": {"heads": 4}}, "Ernie3Config.nlu.heads is not a field"),
        ({"universal": "big"}, "Ernie3Config.universal='big' must be a StackConfig"),
        ({"vocab_size": 0}, "Ernie3Config.vocab_size=0 must be >= 1"),
        ({"mem_len": -1}, "Ernie3Config.mem_len=-1 must be >= 0"),
        ({"max_seq_len": True}, "Ernie3Config.max_seq_len=True must be an int"),
        ({"clamp_len": 0}, "Ernie3Config.clamp_len=0 must be >= 1"),
        ({"recurrence": "xl-same"}, "Ernie3Config.recurrence='xl-same' must be one of"),
        ({"attention_impl": "flash"}, "Ernie3Config.attention_impl='flash' must be one of"),
        ({"dropout": 1.0}, r"Ernie3Config.dropout=1.0 must be a float in \[0, 1\)"),
        ({"dropatt": -0.1}, "Ernie3Config.dropatt=-0.1"),
        ({"init_std": 0}, "Ernie3Config.init_std=0 must be a positive float"),
        ({"layer_norm_eps": -1e-5}, "Ernie3Config.layer_norm_eps"),
        ({"num_task_types": 0}, "Ernie3Config.num_task_types=0"),
        ({"type_vocab_size": 0}, "Ernie3Config.type_vocab_size=0"),
        ({"sr_max_segments": 9}, "Ernie3Config.sr_max_segments=9 must be <= 8"),
        ({"num_sd_classes": 1}, "Ernie3Config.num_sd_classes=1 must be >= 2"),
        ({"n_layers": 3}, "Ernie3Config.n_layers is not a field of Ernie3Config"),
    ],
)
def test_validation_errors_name_the_field(overrides, message):
    with pytest.raises(ConfigError, match=message):
        Ernie3Config.from_name("test", **overrides)


def test_missing_stack_field_is_named():
    values = Ernie3Config.from_name("test").to_dict()
    del values["nlg"]["d_inner"]
    with pytest.raises(ConfigError, match="Ernie3Config.nlg.d_inner is missing"):
        Ernie3Config.from_dict(values)


def test_stack_config_alone_names_itself_and_derives_head_width():
    with pytest.raises(ConfigError, match="StackConfig.d_model=10 must be divisible by n_head=4"):
        StackConfig(n_layer=1, d_model=10, n_head=4, d_inner=8)
    assert StackConfig(n_layer=1, d_model=768, n_head=12, d_inner=3072).d_head == 64


def test_assigning_a_bad_value_is_caught_by_validate():
    config = Ernie3Config.from_name("test")
    config.mem_len = -3
    with pytest.raises(ConfigError, match="Ernie3Config.mem_len=-3"):
        config.validate()


def test_config_error_is_a_value_error_with_the_path():
    with pytest.raises(ValueError) as info:
        Ernie3Config.from_name("test", nlu={"n_head": 5})
    assert info.value.path == "Ernie3Config.nlu.d_model"
