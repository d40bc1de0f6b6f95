"""Prompt encoding and prefill, long prompts through the recurrence memory."""

from __future__ import annotations

import pytest
import torch

from ernie3_lite.data.collate import TaskType
from ernie3_lite.generation import encode_prompt, prefill_prompt, prompt_segments


def full_nlg_logits(model, ids: torch.Tensor, memory=None):
    """Next-token logits of one whole segment through `forward_nlg` (B, T, V), new memory."""
    with torch.no_grad():
        out = model.forward_nlg(ids, memory=memory,
                                task_type_ids=torch.full_like(ids, int(TaskType.NLG)))
        return model.lm_logits(out.hidden), out.new_memory


def test_a_prompt_starts_a_document_after_sep(tokenizer):
    text = "本报北京"  # the People's Daily dateline of data_samples/news
    assert encode_prompt(tokenizer, text) == [tokenizer.sep_id, *tokenizer.encode(text)]
    assert encode_prompt(tokenizer, text, start_of_document=False) == tokenizer.encode(text)
    assert encode_prompt(tokenizer, "") == [tokenizer.sep_id]
    assert encode_prompt(tokenizer, "", start_of_document=False) == [tokenizer.sep_id]


@pytest.mark.parametrize("n", [1, 5, 16, 17, 40, 48])
def test_prompt_segments_cover_the_ids_with_a_full_last_segment(n):
    ids = list(range(n))
    segments = prompt_segments(ids, segment_len=16)
    assert sum(segments, []) == ids
    assert all(1 <= len(s) <= 16 for s in segments)
    assert len(segments[-1]) == min(n, 16)
    assert len(segments) == max(1, -(-n // 16))


def test_prefill_equals_a_full_forward_with_the_nlg_task_ids(tokenizer, model, news):
    ids = torch.tensor([encode_prompt(tokenizer, news[:12])])  # (1, T)
    logits, cache = prefill_prompt(model, ids)
    full, _ = full_nlg_logits(model, ids)
    torch.testing.assert_close(logits, full[:, -1], rtol=0, atol=1e-5)
    assert cache.length == ids.size(1)
    assert cache.task_type_ids.tolist() == [int(TaskType.NLG)]
    with torch.no_grad():
        nlu_task = model.lm_logits(model.forward_nlg(
            ids, task_type_ids=torch.full_like(ids, int(TaskType.NLU))).hidden)[:, -1]
        default = model.lm_logits(model.forward_nlg(ids).hidden)[:, -1]
    assert not torch.allclose(nlu_task, logits, atol=1e-4)  # the task ids matter
    torch.testing.assert_close(default, logits, rtol=0, atol=1e-5)  # forward_nlg's default: NLG


def test_a_long_prompt_equals_segment_by_segment_forward(tokenizer, model, news):
    ids = torch.tensor([encode_prompt(tokenizer, news[:41])])  # (1, T), T > max_seq_len
    assert ids.size(1) > 2 * model.config.max_seq_len
    memory = None
    for segment in prompt_segments(ids[0].tolist(), segment_len=model.config.max_seq_len):
        full, memory = full_nlg_logits(model, torch.tensor([segment]), memory=memory)
    logits, cache = prefill_prompt(model, ids)
    torch.testing.assert_close(logits, full[:, -1], rtol=0, atol=1e-5)
    assert cache.length == model.config.mem_len + model.config.max_seq_len
    # the memory really carries the head: without it the tail alone predicts differently
    tail, _ = full_nlg_logits(model, ids[:, -model.config.max_seq_len :])
    assert not torch.allclose(tail[:, -1], logits, atol=1e-3)


def test_prefill_rejects_an_empty_prompt(model):
    with pytest.raises(ValueError, match="T >= 1"):
        prefill_prompt(model, torch.zeros(1, 0, dtype=torch.long))
