"""The fine-tuning LightningModules and `finetune()` / `evaluate()`, on the `test` preset.

A tiny pre-trained folder (the `test` preset with the real vocabulary, saved by
`save_pretrained`) stands in for the shipped model, so starting from pre-trained weights,
freezing the universal module and reloading a checkpoint are all checked in seconds.
"""

from __future__ import annotations

import math
import shutil

import pytest
import torch

from ernie3_lite import DATA_SAMPLES
from ernie3_lite.config import Ernie3Config
from ernie3_lite.finetune import (
    HeadlineGenerationModule,
    SequenceClassificationModule,
    TokenClassificationModule,
    evaluate,
    finetune,
)
from ernie3_lite.finetune.data import build_examples, collate_examples, read_split
from ernie3_lite.model.ernie3 import Ernie3Model
from ernie3_lite.tokenization import CharTokenizer

VOCAB = DATA_SAMPLES / "vocab.txt"
TOK = CharTokenizer.from_file(VOCAB)
TINY = dict(max_steps=3, limit_train_batches=3, batch_size=4, max_len=48, max_target_len=8,
            eval_batch_size=64, val_every=0)
METRIC = {"sentiment": "acc", "ner": "f1", "headline": "rouge_l"}


@pytest.fixture(scope="module")
def tiny_pretrained(tmp_path_factory):
    """A `save_pretrained` folder of the `test` preset over the real vocabulary."""
    path = tmp_path_factory.mktemp("tiny_pretrained")
    torch.manual_seed(0)
    config = Ernie3Config.from_name("test", vocab_size=TOK.vocab_size, max_seq_len=48)
    Ernie3Model(config).save_pretrained(path, tokenizer=TOK)
    return path


def _module(cls, **kwargs):
    extra = {"labels": ["0", "1"]} if cls is SequenceClassificationModule else {}
    return cls(pretrained=None, preset="test", vocab_file=str(VOCAB),
               config_overrides={"max_seq_len": 48}, **extra, **kwargs)


@pytest.mark.parametrize("task", ["sentiment", "ner", "headline"])
def test_each_task_fine_tunes_end_to_end_from_scratch(task, tmp_path):
    result = finetune(task, pretrained=None, preset="test", out_dir=tmp_path, **TINY)
    assert result.steps == 3 and result.checkpoint is not None and result.checkpoint.is_file()
    for metrics in (result.valid, result.test):
        assert 0.0 <= metrics[METRIC[task]] <= 1.0
        assert all(math.isfinite(v) for v in metrics.values())
    # the checkpoint alone (model config and vocabulary inside) gives the same numbers
    assert evaluate(result.checkpoint, split="valid", max_len=48) == pytest.approx(result.valid)


def test_from_scratch_can_read_another_vocabulary(tmp_path):
    """The quality report trains the from-scratch start on the pre-trained model's vocabulary,
    so the two starts differ only in their weights."""
    poetry = DATA_SAMPLES / "vocab_poetry.txt"
    result = finetune("sentiment", pretrained=None, preset="test", out_dir=tmp_path,
                      vocab_file=poetry, **TINY)
    size = CharTokenizer.from_file(poetry).vocab_size
    assert size != TOK.vocab_size
    assert result.module.tokenizer.vocab_size == result.module.config.vocab_size == size


def test_ner_metrics_include_every_entity_type(tmp_path):
    result = finetune("ner", pretrained=None, preset="test", out_dir=tmp_path, **TINY)
    assert {"f1", "precision", "recall", "f1_LOC", "f1_ORG", "f1_PER"} <= set(result.valid)


@pytest.mark.parametrize("task", ["sentiment", "headline"])
def test_freeze_universal_keeps_the_universal_module_bit_identical(task, tiny_pretrained,
                                                                   tmp_path):
    start = Ernie3Model.from_pretrained(tiny_pretrained).state_dict()
    frozen = finetune(task, pretrained=tiny_pretrained, freeze_universal=True, lr=1e-2,
                      out_dir=tmp_path / "frozen", **TINY).module.model.state_dict()
    free = finetune(task, pretrained=tiny_pretrained, freeze_universal=False, lr=1e-2,
                    out_dir=tmp_path / "free", **TINY).module.model.state_dict()
    task_stack = "nlu." if task == "sentiment" else "nlg."
    universal = [n for n in start if n.startswith(("embeddings.", "universal."))]
    assert len(universal) > 10
    assert all(torch.equal(frozen[n], start[n]) for n in universal)
    # ... while training does move them when they are free, and the task module either way
    moved = [n for n in start if n.endswith("ff.fc_in.weight")]
    assert {n.split(".")[0] for n in moved} >= {"universal", "nlu", "nlg"}
    for name in moved:
        if name.startswith("universal."):
            assert not torch.equal(free[name], start[name]), name
        if name.startswith(task_stack):
            assert not torch.equal(frozen[name], start[name]), name

@pytest.mark.parametrize("cls", [SequenceClassificationModule, TokenClassificationModule,
                                 HeadlineGenerationModule])
def test_trainable_parameters_follow_the_task_path(cls):
    labels = {"labels": ["O", "B-PER", "I-PER"]} if cls is TokenClassificationModule else {}
    module = _module(cls, freeze_universal=True, **labels)
    trainable = {name.split(".")[1] if name.startswith("model.") else name.split(".")[0]
                 for name in module.trainable_parameters()}
    path = ("nlu_proj", "nlu") if cls.paradigm == "nlu" else ("nlg_proj", "nlg", "lm_head")
    # the `test` preset's projections are identities (equal widths): nothing to train there
    expected = {name for name in path if list(getattr(module.model, name).parameters())}
    assert trainable == expected | ({"head"} if cls.paradigm == "nlu" else set())
    everything = _module(cls, **labels)
    assert {"embeddings", "universal"} <= {n.split(".")[1] for n in
                                           everything.trainable_parameters() if n[:6] == "model."}


def test_pretrained_weights_are_the_starting_point(tiny_pretrained):
    module = SequenceClassificationModule(pretrained=str(tiny_pretrained), labels=["0", "1"])
    saved = Ernie3Model.from_pretrained(tiny_pretrained).state_dict()
    assert all(torch.equal(module.model.state_dict()[k], v) for k, v in saved.items())
    assert module.model.training  # from_pretrained's eval mode is undone: dropout trains
    with pytest.raises(FileNotFoundError, match="SequenceClassificationModule.pretrained="):
        SequenceClassificationModule(pretrained="nowhere", labels=["0", "1"])
    with pytest.raises(ValueError, match="SequenceClassificationModule.vocab_file is needed"):
        SequenceClassificationModule(pretrained=None, preset="test", labels=["0", "1"])
    with pytest.raises(ValueError, match="TokenClassificationModule.labels=None"):
        _module(TokenClassificationModule)


def _batch(task, records, labels):
    examples = build_examples(records, task, TOK, labels=labels, max_len=48, max_target_len=8)
    return examples, collate_examples(examples, pad_id=TOK.pad_id)


def test_padding_changes_no_prediction_and_no_loss():
    """A padded batch scores each example as it would alone (attention masks the pads, the
    token loss ignores them)."""
    torch.manual_seed(0)
    tagger = _module(TokenClassificationModule, labels=["O", "B-LOC", "I-LOC"]).eval()
    sentences = read_split(DATA_SAMPLES, "ner", "valid")[:3]  # different lengths
    examples, batch = _batch("ner", sentences, tagger.labels)
    with torch.no_grad():
        together = float(tagger.loss(batch))
        alone = [float(tagger.loss(collate_examples([ex], pad_id=0))) for ex in examples]
        counts = [int((ex["labels"] != -100).sum()) for ex in examples]
        assert together == pytest.approx(sum(a * n for a, n in zip(alone, counts)) / sum(counts),
                                         abs=1e-5)
        logits = tagger(batch)
        for row, ex in enumerate(examples):
            n = ex["input_ids"].numel()
            single = tagger(collate_examples([ex], pad_id=0))[0]
            assert torch.allclose(logits[row, :n], single, atol=1e-5)
    classifier = _module(SequenceClassificationModule).eval()
    examples, batch = _batch("sentiment", read_split(DATA_SAMPLES, "sentiment", "valid")[:3],
                             classifier.labels)
    with torch.no_grad():
        for row, ex in enumerate(examples):
            single = classifier(collate_examples([ex], pad_id=0))[0]
            assert torch.allclose(classifier(batch)[row], single, atol=1e-5)


def test_predicted_tags_map_back_to_tokens_and_cut_tokens_are_o():
    tagger = _module(TokenClassificationModule, labels=["O", "B-LOC", "I-LOC"])
    sentence = max(read_split(DATA_SAMPLES, "ner", "valid"), key=lambda s: len(s.tokens))
    _, batch = _batch("ner", [sentence], tagger.labels)
    logits = torch.zeros(1, 48, 3)
    logits[0, 1:47, 2] = 1.0  # every real token position says I-LOC
    tags = tagger.tags_from_logits(logits, batch)[0]
    assert len(tags) == len(sentence.tokens)
    assert tags[:46] == ["I-LOC"] * 46 and set(tags[46:]) == {"O"}


def test_headline_decoding_stops_at_sep_and_fills_the_budget_otherwise():
    module = _module(HeadlineGenerationModule, max_target_len=6).eval()
    prompt = torch.tensor(TOK.encode(read_split(DATA_SAMPLES, "headline", "valid")[0].headline)
                          + [TOK.sep_id])
    with torch.no_grad():
        module.model.lm_head.bias.zero_()
        module.model.lm_head.bias[TOK.sep_id] = 1e4  # [SEP] always wins: an empty headline
        assert module.generate_ids(prompt) == []
        module.model.lm_head.bias[TOK.sep_id] = 0.0
        module.model.lm_head.bias[10] = 1e4  # token 10 always wins: max_target_len of it
        assert module.generate_ids(prompt) == [10] * 6
    assert module.headline("".join(read_split(DATA_SAMPLES, "headline", "valid")[0].paragraphs)) \
        == TOK.decode([10] * 6)


def test_a_checkpoint_needs_no_pretrained_folder(tiny_pretrained, tmp_path):
    folder = tmp_path / "pretrained"
    shutil.copytree(tiny_pretrained, folder)
    result = finetune("sentiment", pretrained=folder, out_dir=tmp_path / "run", **TINY)
    shutil.rmtree(folder)
    assert evaluate(result.checkpoint, split="test") == pytest.approx(result.test)


def test_bad_arguments_name_the_field():
    with pytest.raises(ValueError, match="task='pos' must be one of"):
        finetune("pos")
    with pytest.raises(ValueError, match="SequenceClassificationModule.lr=0 must be a positive"):
        _module(SequenceClassificationModule, lr=0)
    with pytest.raises(ValueError, match="HeadlineGenerationModule.max_target_len=0"):
        _module(HeadlineGenerationModule, max_target_len=0)
    with pytest.raises(ValueError, match="max_len=256 exceeds the model's max_seq_len=128"):
        finetune("sentiment", max_len=256, max_steps=1)
    with pytest.raises(ValueError, match="split='dev' must be one of"):
        evaluate("x.ckpt", split="dev")
