"""`GenerationDemo`: pure renderers, and the widget driven as a user would (no browser)."""

from __future__ import annotations

import re

import pytest

from ernie3_lite import PRETRAINED_NANO
from ernie3_lite.generation import Candidate, GenerationConfig, generate
from ernie3_lite.generation.cli import load_model
from ernie3_lite.viz.generation_demo import (
    DEFAULT_PROMPT,
    GenerationDemo,
    probability_colour,
    render_candidates,
    render_generation,
    render_tokens,
)

CJK = re.compile(r"[\u4e00-\u9fff]")


def hue(colour: str) -> int:
    return int(re.match(r"hsl\((\d+),", colour).group(1))


def test_colour_goes_from_red_to_green_on_a_log_scale():
    assert hue(probability_colour(1.0)) == 120
    assert hue(probability_colour(1e-3)) == hue(probability_colour(1e-9)) == 0
    assert hue(probability_colour(0.01)) == 40 and hue(probability_colour(0.1)) == 80


def test_render_tokens_one_escaped_span_per_token():
    out = render_tokens(["本", "<b>", "报"], [0.5, 0.01, 1.0])
    assert out.count('class="tok"') == 3
    assert "&lt;b&gt;" in out and "<b>" not in out
    assert 'title="p = 0.010"' in out and probability_colour(0.5) in out
    with pytest.raises(ValueError, match="2 pieces but 1 probabilities"):
        render_tokens(["a", "b"], [0.1])


def test_render_generation_and_candidates():
    page = render_generation("本报", ["北", "京"], [0.2, 0.3], status="2 tokens")
    assert page.count('class="tok"') == 2 and "本报" in page and "2 tokens" in page
    listed = render_candidates([Candidate(5, "的", 0.25), Candidate(6, "。", 0.125)])
    assert listed.count("<li>") == 2 and "0.250" in listed and "。" in listed


@pytest.fixture(scope="module")
def shipped():
    return load_model(PRETRAINED_NANO)


@pytest.fixture
def demo(shipped) -> GenerationDemo:
    return GenerationDemo(*shipped)


def test_from_pretrained_loads_the_shipped_model():
    demo = GenerationDemo.from_pretrained()
    assert demo.tokenizer.vocab_size == demo.model.config.vocab_size
    assert demo.prompt.value == DEFAULT_PROMPT and demo.summary() == "(nothing generated yet)"
    assert demo.generate_button.description == "生成 / Generate"


def test_clicking_generate_streams_coloured_tokens(demo):
    values = []
    demo.html.observe(lambda change: values.append(change["new"]), names="value")
    demo.prompt.value = DEFAULT_PROMPT
    demo.strategy.value = "sample"
    demo.temperature.value, demo.top_k.value, demo.top_p.value = 0.8, 20, 0.9
    demo.max_new_tokens.value, demo.seed.value = 12, 3
    demo.generate_button.click()
    result = demo.last_result
    assert result is not None and 1 <= len(result.token_ids) <= 12
    assert CJK.search(demo.html.value)
    assert demo.html.value.count('class="tok"') == len(result.token_ids)
    assert demo.candidates.value.count("<li>") == 5
    # streaming: one update per token (1, 2, ... spans) before the final one
    counts = [v.count('class="tok"') for v in values]
    assert counts[: len(result.token_ids)] == list(range(1, len(result.token_ids) + 1))
    assert f"stop: {result.stop_reason}" in demo.html.value
    assert not demo.generate_button.disabled and demo.stop_button.disabled
    same = generate(demo.model, demo.tokenizer, DEFAULT_PROMPT, demo.config())
    assert same.token_ids == result.token_ids  # the seed makes it repeatable


def test_greedy_click_equals_generate(demo):
    demo.prompt.value, demo.strategy.value, demo.max_new_tokens.value = DEFAULT_PROMPT, "greedy", 8
    assert demo.temperature.disabled and demo.top_p.disabled and demo.num_beams.disabled
    demo.generate_button.click()
    expected = generate(demo.model, demo.tokenizer, DEFAULT_PROMPT,
                        GenerationConfig(max_new_tokens=8))
    assert demo.last_result.text == expected.text
    assert demo.summary().startswith(DEFAULT_PROMPT + expected.text)
    demo.strategy.value = "beam"
    assert demo.temperature.disabled and not demo.num_beams.disabled


def test_stop_during_generation_keeps_the_tokens_so_far(demo):
    demo.strategy.value, demo.max_new_tokens.value = "greedy", 20
    demo.html.observe(lambda change: demo.stop_button.click() if "tok" in change["new"] else None,
                      names="value")
    result = demo.run()
    assert result.stop_reason == "stopped" and len(result.token_ids) == 1
    assert demo.html.value.count('class="tok"') == 1 and "stop: stopped" in demo.html.value


def test_background_generation_and_invalid_settings(demo):
    demo.background = True
    demo.strategy.value, demo.max_new_tokens.value = "greedy", 4
    demo.generate_button.click()
    result = demo.wait(timeout=60)
    assert result is not None and len(result.token_ids) == 4
    demo.background = False
    demo.seed.value = -1  # IntText accepts it; GenerationConfig does not
    demo.strategy.value = "sample"
    demo.generate_button.click()
    assert "GenerationConfig.seed=-1" in demo.html.value
    assert not demo.generate_button.disabled
