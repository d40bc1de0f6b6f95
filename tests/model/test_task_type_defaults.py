"""Each path defaults to the task type it is pre-trained with (issue 13).

`benchmarks/model_speed.py` once called ``forward_nlg`` and ``greedy_decode`` without
``task_type_ids``, so the NLG path ran with the NLU task embedding (0) and reported perplexities
of a model that pre-training never ran. Now ``forward_nlg`` / ``prefill`` / ``greedy_decode``
fill in `TaskType.NLG` and ``forward_nlu`` `TaskType.NLU`: leaving the ids out must equal
passing the paradigm's own ids, and differ from passing the other paradigm's.
"""

from __future__ import annotations

import pytest
import torch

from ernie3_lite.config import Ernie3Config, TaskType
from ernie3_lite.model.decoding import greedy_decode, prefill
from ernie3_lite.model.ernie3 import Ernie3Model


@pytest.fixture(scope="module")
def model() -> Ernie3Model:
    torch.manual_seed(0)
    return Ernie3Model(Ernie3Config.from_name("test")).eval()


@pytest.fixture(scope="module")
def ids() -> torch.Tensor:
    return torch.randint(4, 100, (2, 12), generator=torch.Generator().manual_seed(1))


def filled(ids: torch.Tensor, task: TaskType) -> torch.Tensor:
    return torch.full_like(ids, int(task))


@torch.no_grad()
def test_forward_nlg_defaults_to_the_nlg_task(model, ids):
    default = model.forward_nlg(ids, mem_len=0).hidden
    nlg = model.forward_nlg(ids, mem_len=0, task_type_ids=filled(ids, TaskType.NLG)).hidden
    nlu = model.forward_nlg(ids, mem_len=0, task_type_ids=filled(ids, TaskType.NLU)).hidden
    torch.testing.assert_close(default, nlg, rtol=0, atol=0)
    assert not torch.allclose(default, nlu, atol=1e-4)


@torch.no_grad()
def test_forward_nlu_defaults_to_the_nlu_task(model, ids):
    default = model.forward_nlu(ids).hidden
    nlu = model.forward_nlu(ids, task_type_ids=filled(ids, TaskType.NLU)).hidden
    nlg = model.forward_nlu(ids, task_type_ids=filled(ids, TaskType.NLG)).hidden
    torch.testing.assert_close(default, nlu, rtol=0, atol=0)
    assert not torch.allclose(default, nlg, atol=1e-4)


def test_the_dispatching_forward_keeps_each_default(model, ids):
    with torch.no_grad():
        torch.testing.assert_close(model(ids, paradigm="nlg", mem_len=0).hidden,
                                   model.forward_nlg(ids, mem_len=0).hidden, rtol=0, atol=0)
        torch.testing.assert_close(model(ids, paradigm="nlu").hidden,
                                   model.forward_nlu(ids).hidden, rtol=0, atol=0)


def test_prefill_defaults_to_the_nlg_task_and_carries_it_into_the_cache(model, ids):
    logits, cache = prefill(model, ids)
    nlg_logits, _ = prefill(model, ids, task_type_ids=filled(ids, TaskType.NLG))
    nlu_logits, _ = prefill(model, ids, task_type_ids=filled(ids, TaskType.NLU))
    torch.testing.assert_close(logits, nlg_logits, rtol=0, atol=0)
    assert not torch.allclose(logits, nlu_logits, atol=1e-4)
    assert cache.task_type_ids.tolist() == [int(TaskType.NLG)] * ids.size(0)
    with torch.no_grad():  # and it is the forward_nlg a caller gets without the ids
        full = model.lm_logits(model.forward_nlg(ids, mem_len=0).hidden)
    torch.testing.assert_close(logits, full, rtol=0, atol=1e-5)


def test_greedy_decode_defaults_to_the_nlg_task(model, ids):
    prompt = ids[:, :4]
    default = greedy_decode(model, prompt, max_new_tokens=8)
    nlg = greedy_decode(model, prompt, max_new_tokens=8, task_type_ids=filled(prompt, TaskType.NLG))
    assert torch.equal(default, nlg)
    nlu_logits, _ = prefill(model, prompt, task_type_ids=filled(prompt, TaskType.NLU))
    nlg_logits, _ = prefill(model, prompt)
    assert not torch.allclose(nlu_logits[:, -1], nlg_logits[:, -1], atol=1e-4)


def test_the_data_side_name_is_the_same_enum():
    from ernie3_lite.data.collate import TaskType as DataTaskType

    assert DataTaskType is TaskType


def test_a_config_needs_an_embedding_for_every_task_type():
    with pytest.raises(ValueError, match="num_task_types=1"):
        Ernie3Config.from_name("test", num_task_types=1)
