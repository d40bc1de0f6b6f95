"""`generate` / `generate_stream` on a random `test` model: strategies agree where they must."""

from __future__ import annotations

import pytest
import torch
from generation_helpers import make_model

from ernie3_lite.data.collate import TaskType
from ernie3_lite.generation import (
    GenerationConfig,
    banned_token_ids,
    encode_prompt,
    generate,
    generate_stream,
)
from ernie3_lite.model.decoding import greedy_decode

GREEDY = GenerationConfig(max_new_tokens=12)


def run(model, tokenizer, prompt, **kwargs):
    return generate(model, tokenizer, prompt, GenerationConfig(**kwargs))


def reference_greedy(model, tokenizer, prompt: str, n: int) -> list[int]:
    ids = torch.tensor([encode_prompt(tokenizer, prompt)])  # (1, T)
    out = greedy_decode(model, ids, max_new_tokens=n,
                        task_type_ids=torch.full_like(ids, int(TaskType.NLG)))
    return out[0, ids.size(1) :].tolist()


def test_greedy_equals_greedy_decode(model, tokenizer, news):
    result = generate(model, tokenizer, news[:6], GREEDY)
    assert result.token_ids == reference_greedy(model, tokenizer, news[:6], 12)
    assert result.stop_reason == "max_new_tokens"
    assert result.text == tokenizer.decode(result.token_ids)
    assert result.full_text == news[:6] + result.text


@pytest.mark.parametrize("settings", [
    dict(strategy="sample", temperature=1e-4, seed=3),  # the temperature -> 0 limit
    dict(strategy="sample", top_k=1, seed=4),
    dict(strategy="sample", top_p=1e-6, seed=5),
    dict(strategy="beam", num_beams=1),
    dict(strategy="greedy", temperature=0.3, top_k=2, top_p=0.5),  # ignored by greedy
])
def test_degenerate_settings_equal_greedy(model, tokenizer, news, settings):
    greedy = generate(model, tokenizer, news[:6], GREEDY).token_ids
    assert run(model, tokenizer, news[:6], max_new_tokens=12, **settings).token_ids == greedy


def test_seeded_sampling_is_reproducible_and_seeds_differ(model, tokenizer, news):
    hot = dict(strategy="sample", temperature=2.0, max_new_tokens=12)
    first = run(model, tokenizer, news[:6], seed=7, **hot)
    assert run(model, tokenizer, news[:6], seed=7, **hot).token_ids == first.token_ids
    others = {tuple(run(model, tokenizer, news[:6], seed=s, **hot).token_ids) for s in (8, 9)}
    assert tuple(first.token_ids) not in others


def test_first_step_probabilities_come_from_a_full_forward(model, tokenizer, news):
    result = run(model, tokenizer, news[:8], max_new_tokens=1, num_candidates=5)
    ids = torch.tensor([encode_prompt(tokenizer, news[:8])])  # (1, T)
    with torch.no_grad():
        hidden = model.forward_nlg(ids, task_type_ids=torch.full_like(ids, TaskType.NLG)).hidden
        logits = model.lm_logits(hidden)[0, -1]  # (V,)
    logits[banned_token_ids(tokenizer) + [tokenizer.sep_id]] = float("-inf")  # min_new_tokens
    top = logits.softmax(-1).topk(5)
    token = result.tokens[0]
    assert [c.token_id for c in token.candidates] == top.indices.tolist()
    torch.testing.assert_close(torch.tensor([c.probability for c in token.candidates]),
                               top.values, rtol=0, atol=1e-5)
    assert token.token_id == top.indices[0] and token.probability == pytest.approx(top.values[0])


def test_beam_score_is_the_length_normalised_log_probability(model, tokenizer, news):
    result = run(model, tokenizer, news[:6], strategy="beam", num_beams=3, max_new_tokens=6)
    assert result.stop_reason == "max_new_tokens" and len(result.token_ids) == 6
    ids = torch.tensor([encode_prompt(tokenizer, news[:6]) + result.token_ids])  # (1, T + 6)
    with torch.no_grad():
        hidden = model.forward_nlg(ids, task_type_ids=torch.full_like(ids, TaskType.NLG)).hidden
        logits = model.lm_logits(hidden)[0, -7:-1]  # (6, V) predicting the 6 new tokens
    logits[:, banned_token_ids(tokenizer)] = float("-inf")
    logits[0, tokenizer.sep_id] = float("-inf")  # min_new_tokens = 1
    log_probs = logits.log_softmax(-1)[torch.arange(6), result.token_ids]  # (6,)
    assert result.score == pytest.approx(float(log_probs.sum()) / 6, abs=1e-4)
    assert result.probabilities == pytest.approx(logits.softmax(-1)[torch.arange(6),
                                                                    result.token_ids].tolist())


def test_streaming_yields_what_generate_returns(model, tokenizer, news):
    config = GenerationConfig(strategy="sample", seed=11, max_new_tokens=10)
    streamed = list(generate_stream(model, tokenizer, news[:5], config))
    result = generate(model, tokenizer, news[:5], config)
    assert [t.token_id for t in streamed] == result.token_ids
    assert "".join(t.text for t in streamed) == result.text
    assert [t.step for t in streamed] == list(range(10))
    seen = []
    stopped = generate(model, tokenizer, news[:5], config,
                       on_token=lambda t: seen.append(t.token_id) or len(seen) == 3)
    assert stopped.token_ids == seen == result.token_ids[:3]
    assert stopped.stop_reason == "stopped"


def test_stop_token_and_stop_string_end_generation(model, tokenizer, news):
    free = generate(model, tokenizer, news[:6], GenerationConfig(max_new_tokens=20))
    stop_at = free.token_ids[5]
    first = free.token_ids.index(stop_at)  # where that token first appears
    token = tokenizer.convert_ids_to_tokens([stop_at])[0]
    by_token = run(model, tokenizer, news[:6], max_new_tokens=20, stop_tokens=[token])
    assert by_token.token_ids == free.token_ids[: first + 1]
    assert by_token.stop_reason == "stop_token"
    needle = free.text[6:8]
    by_string = run(model, tokenizer, news[:6], max_new_tokens=20, stop_strings=[needle])
    assert by_string.text.endswith(needle) and needle not in by_string.text[:-1]
    assert by_string.stop_reason == "stop_string"
    beam = run(model, tokenizer, news[:6], strategy="beam", num_beams=1, max_new_tokens=20,
               stop_tokens=[token])
    assert beam.token_ids == by_token.token_ids and beam.stop_reason == "stop_token"
    with pytest.raises(ValueError, match="stop_tokens: 'nope' is not in the vocabulary"):
        run(model, tokenizer, news[:6], stop_tokens=["nope"])


@pytest.mark.parametrize("strategy", ["greedy", "sample", "beam"])
def test_special_tokens_are_never_generated(tokenizer, strategy):
    keen = make_model(tokenizer, special_bias=0.0)
    with torch.no_grad():  # make [PAD] [CLS] [MASK] [UNK] by far the most likely
        keen.lm_head.bias[banned_token_ids(tokenizer)] = 50.0
    assert set(reference_greedy(keen, tokenizer, "", 5)) <= set(banned_token_ids(tokenizer))
    result = run(keen, tokenizer, "", strategy=strategy, seed=0, max_new_tokens=5)
    assert len(result.token_ids) == 5
    assert not set(result.token_ids) & {*banned_token_ids(tokenizer), tokenizer.sep_id}


@pytest.mark.parametrize("strategy", ["greedy", "beam"])
def test_sep_ends_the_document_after_min_new_tokens(tokenizer, strategy):
    ending = make_model(tokenizer)
    with torch.no_grad():
        ending.lm_head.bias[tokenizer.sep_id] = 50.0
    for minimum, expected in [(0, 0), (1, 1), (3, 3)]:
        result = run(ending, tokenizer, "本报", strategy=strategy, max_new_tokens=8,
                     min_new_tokens=minimum)
        assert len(result.token_ids) == expected
        assert result.stop_reason == "end_of_document"


def test_empty_and_ascii_prompts_generate(model, tokenizer):
    empty = run(model, tokenizer, "", max_new_tokens=5)
    assert empty.prompt_ids == [tokenizer.sep_id] and len(empty.token_ids) == 5
    ascii_prompt = "Hello, world! (ASCII only)"
    assert tokenizer.unk_id in encode_prompt(tokenizer, ascii_prompt)
    result = run(model, tokenizer, ascii_prompt, strategy="sample", seed=0, max_new_tokens=5)
    assert len(result.token_ids) == 5 and result.text
    assert tokenizer.unk_id not in result.token_ids


def test_long_prompt_and_long_generation(model, tokenizer, news):
    window = model.config.mem_len + model.config.max_seq_len
    long = generate(model, tokenizer, news[:60], GenerationConfig(max_new_tokens=30))
    assert len(long.token_ids) == 30
    # with an unbounded window generation equals greedy_decode all the way; with the default
    # window (oldest positions dropped) the tokens agree while the cache still fits it
    prompt = news[:9]
    unbounded = run(model, tokenizer, prompt, max_new_tokens=30, max_context=1000)
    assert unbounded.token_ids == reference_greedy(model, tokenizer, prompt, 30)
    windowed = run(model, tokenizer, prompt, max_new_tokens=30)
    fits = window - len(encode_prompt(tokenizer, prompt)) + 1  # tokens decided within it
    assert windowed.token_ids[:fits] == unbounded.token_ids[:fits]


def test_a_model_in_training_mode_is_restored(tokenizer, news):
    training = make_model(tokenizer, dropout=0.5).train()
    result = run(training, tokenizer, news[:6], max_new_tokens=6)
    assert training.training
    assert result.token_ids == run(training.eval(), tokenizer, news[:6], max_new_tokens=6).token_ids


def test_a_tokenizer_of_another_size_is_refused(tokenizer):
    other = make_model(tokenizer, vocab_size=tokenizer.vocab_size + 1)
    with pytest.raises(ValueError, match="load the vocab.txt saved with it"):
        generate(other, tokenizer, "本报")
