"""A model with ``share_task_modules=True`` (the NLG path runs the NLU stack; no `nlg` /
`nlg_proj`) through every place that reaches for the NLG stack: the shared-context scorer,
`compile_layers`, the FSDP/TP layer list, `freeze_unreached` and fine-tuning's trainable set.
"""

from __future__ import annotations

import pytest
import torch

from ernie3_lite import DATA_SAMPLES
from ernie3_lite.cli import compile_layers
from ernie3_lite.config import Ernie3Config
from ernie3_lite.data.collate import TaskType
from ernie3_lite.evaluation.scoring import shared_context_log_likelihood
from ernie3_lite.finetune import HeadlineGenerationModule, TokenClassificationModule
from ernie3_lite.finetune.data import build_examples, collate_examples, read_split
from ernie3_lite.model.ernie3 import Ernie3Model
from ernie3_lite.tokenization import CharTokenizer
from ernie3_lite.training.datamodule import TASKS, Ernie3DataModule
from ernie3_lite.training.module import Ernie3PretrainModule
from ernie3_lite.training.parallel import freeze_unreached, transformer_layers

SHARED = {"share_task_modules": True}
VOCAB = DATA_SAMPLES / "vocab.txt"


def shared_model() -> Ernie3Model:
    torch.manual_seed(0)
    config = Ernie3Config.from_name("test", max_seq_len=24, init_std=0.3, **SHARED)
    return Ernie3Model(config).eval()


def test_shared_context_scores_of_a_shared_model_equal_the_full_forward():
    model = shared_model()
    assert not hasattr(model, "nlg")
    bos, context, candidates = 2, [5, 9, 14, 7], [[11, 12], [30], [8, 8, 40]]
    scores = shared_context_log_likelihood(model, context, candidates, bos_id=bos, batch_size=2)
    for candidate, score in zip(candidates, scores.log_likelihood.tolist(), strict=True):
        seq = torch.tensor([[bos, *context, *candidate]])  # (1, T)
        with torch.no_grad():
            out = model.forward_nlg(seq, task_type_ids=torch.full_like(seq, int(TaskType.NLG)))
            log_probs = model.lm_logits(out.hidden)[0].log_softmax(dim=-1)  # (T, V)
        start = 1 + len(context)
        expected = sum(log_probs[t - 1, seq[0, t]].item() for t in range(start, seq.size(1)))
        assert score == pytest.approx(expected, abs=1e-4)


def test_compile_layers_compiles_each_layer_of_a_shared_model_once():
    module = Ernie3PretrainModule(preset="test", vocab_size=64, warmup_steps=1, max_steps=2,
                                  config_overrides=SHARED)
    compile_layers(module)  # used to read `model.nlg`, which a shared model does not have
    model = module.model
    layers = [*model.universal.layers, *model.nlu.layers]
    assert all(layer._compiled_call_impl is not None for layer in layers)


def test_transformer_layers_lists_the_shared_stack_once():
    separate = Ernie3Model(Ernie3Config.from_name("test"))
    shared = Ernie3Model(Ernie3Config.from_name("test", **SHARED))
    layers = transformer_layers(shared)
    assert len({id(layer) for layer in layers}) == len(layers)
    assert layers == [*shared.universal.layers, *shared.nlu.layers]
    assert len(transformer_layers(separate)) == len(layers) + len(separate.nlg.layers)


@pytest.fixture(scope="module")
def data():
    data = Ernie3DataModule(batch_size=2, max_len=16, dlm_batch_size=2, seg_len=8,
                            val_batches=1)
    data.setup("fit")
    return data


@pytest.mark.parametrize("enabled", [("dlm",), ("kmlm", "sr"), ("kmlm", "dlm")],
                         ids=lambda tasks: "+".join(tasks))
def test_freeze_unreached_on_a_shared_model_keeps_exactly_what_gets_gradients(data, enabled):
    weights = {t: float(t in enabled) for t in TASKS}
    module = Ernie3PretrainModule(preset="test", vocab_size=data.vocab_size, task_weights=weights,
                                  warmup_steps=1, max_steps=10, config_overrides=SHARED)
    batch = next(iter(data.train_dataloader()))
    results = module.task_losses({t: batch[t] for t in enabled}, stage="train")
    sum(loss for loss, _, _ in results.values()).backward()
    reached = {n for n, p in module.model.named_parameters() if p.grad is not None}
    freeze_unreached(module.model, weights)  # the document LM reaches the (shared) NLU stack
    trainable = {n for n, p in module.model.named_parameters() if p.requires_grad}
    assert trainable == reached
    assert any(name.startswith("nlu.") for name in trainable)


@pytest.mark.parametrize("cls", [HeadlineGenerationModule, TokenClassificationModule])
def test_fine_tuning_a_shared_model_trains_exactly_what_its_path_reaches(cls):
    tokenizer = CharTokenizer.from_file(VOCAB)
    extra = {"labels": ["O", "B-LOC", "I-LOC"]} if cls is TokenClassificationModule else {}
    module = cls(pretrained=None, preset="test", vocab_file=str(VOCAB), **extra,
                 config_overrides={"max_seq_len": 48, **SHARED})
    records = read_split(DATA_SAMPLES, cls.task, "train")[:2]
    labels = getattr(module, "labels", None)
    batch = collate_examples(build_examples(records, cls.task, tokenizer, max_len=48,
                                            labels=labels, max_target_len=8),
                             pad_id=tokenizer.pad_id)
    module.loss(batch).backward()
    reached = {n for n, p in module.named_parameters() if p.grad is not None}
    trainable = {n for n, p in module.named_parameters() if p.requires_grad}
    assert trainable == reached
    assert any(name.startswith("model.nlu.") for name in trainable)
