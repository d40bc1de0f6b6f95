"""`Ernie3PretrainModule` on real contract batches from data_samples/ (training/module.py).

The batches are built here with the five tasks' builders (`ernie3_lite/data/`) in the shape of the
DataModule -> LightningModule contract, so these tests do not depend on the DataModule.
"""

from __future__ import annotations

import logging
import pickle
from functools import cache

import lightning as L
import pytest
import torch
import torch.nn.functional as F
from jsonargparse import ArgumentParser
from torch import nn

from ernie3_lite import DATA_SAMPLES
from ernie3_lite.config import Ernie3Config
from ernie3_lite.data.collate import collate
from ernie3_lite.data.corpus import PretrainingCorpus
from ernie3_lite.data.dlm import DocumentStream
from ernie3_lite.data.kmlm import KnowledgeMaskedLM, pack_texts
from ernie3_lite.data.masking import IGNORE_INDEX
from ernie3_lite.data.segmentation import Segmenter
from ernie3_lite.data.sentence_tasks import SentenceDistance, SentenceReordering
from ernie3_lite.data.uktp import KnowledgeTextPrediction
from ernie3_lite.model.attention import RelMultiHeadAttention
from ernie3_lite.model.ernie3 import Ernie3Model
from ernie3_lite.training.export import export_from_checkpoint
from ernie3_lite.training.module import TASKS, Ernie3PretrainModule
from ernie3_lite.training.settings import uses_weight_decay

for _name in ("lightning.pytorch", "lightning.fabric"):
    logging.getLogger(_name).setLevel(logging.ERROR)

MAX_LEN, SEG_LEN, BATCH, DLM_ROWS = 16, 8, 4, 2  # `test` preset: max_seq_len 16, mem_len 8
NO_TRAINER = pytest.mark.filterwarnings(r"ignore:You are trying to `self\.log\(\)`")
pytestmark = pytest.mark.filterwarnings("ignore:You defined a `validation_step` but have no")


# ---- contract batches from data_samples/ -----------------------------------------------------
@cache
def corpus() -> PretrainingCorpus:
    segmenter = Segmenter.from_triples(DATA_SAMPLES / "kg" / "triples.tsv", disk_cache=False)
    return PretrainingCorpus(DATA_SAMPLES, split="train", segmenter=segmenter)


@cache
def contract_batches(n: int = 3, *, seed: int = 0) -> tuple[dict, ...]:
    """`n` consecutive training batches: one micro-batch per task, DLM segments continuing."""
    c, tok = corpus(), corpus().tokenizer
    texts = pack_texts((c.encode(s) for s in c.sentences()[: 3 * n * BATCH]),
                       max_tokens=MAX_LEN - 2)
    texts = [t for t, _ in zip(texts, range(n * BATCH), strict=False)]
    kmlm = KnowledgeMaskedLM(tok, max_len=MAX_LEN, seed=seed)
    uktp = KnowledgeTextPrediction(tok, max_len=MAX_LEN, seed=seed)
    sr = SentenceReordering(tok, max_len=MAX_LEN, max_segments=3, seed=seed)
    sd = SentenceDistance(tok, c.document_sentences, max_len=MAX_LEN, seed=seed)
    pairs = [p for p in c.aligned if len(tok.encode(p["head"] + p["relation"] + p["tail"])) <= 10]
    paragraphs = [p for p in c.paragraph_sentences if p]
    stream = DocumentStream.from_documents(c.document_tokens(), sep_id=tok.sep_id,
                                           batch_size=DLM_ROWS, seg_len=SEG_LEN)
    batches = []
    for k, segment in zip(range(n), stream, strict=False):
        rows = range(k * BATCH, (k + 1) * BATCH)
        uktp_examples = [uktp(head=pairs[i]["head"], relation=pairs[i]["relation"],
                              tail=pairs[i]["tail"], sentence=c.encode(pairs[i]["sentence"]))
                         for i in rows]
        batches.append({
            "kmlm": collate([kmlm(texts[i]) for i in rows], pad_id=tok.pad_id),
            "uktp": collate(uktp_examples, pad_id=tok.pad_id),
            "sr": collate([sr(paragraphs[i]) for i in rows], pad_id=tok.pad_id),
            "sd": collate([sd() for _ in rows], pad_id=tok.pad_id),
            "dlm": {**segment, "reset": torch.tensor(segment["reset"])},
        })
    return tuple(batches)


def batch(k: int = 0, *, tasks: tuple[str, ...] = TASKS) -> dict:
    return {task: dict(contract_batches()[k][task]) for task in tasks}


def make_module(seed: int = 0, **kwargs) -> Ernie3PretrainModule:
    torch.manual_seed(seed)
    kwargs = {"preset": "test", "vocab_size": corpus().tokenizer.vocab_size, "max_steps": 100,
              "warmup_steps": 10, **kwargs}
    return Ernie3PretrainModule(**kwargs)


def trainer(**kwargs) -> L.Trainer:
    return L.Trainer(accelerator="cpu", logger=False, enable_checkpointing=False,
                     enable_progress_bar=False, enable_model_summary=False,
                     num_sanity_val_steps=0, **kwargs)


def loader(batches) -> torch.utils.data.DataLoader:
    return torch.utils.data.DataLoader(list(batches), batch_size=None)  # already batched


def test_contract_batches_have_the_contract_shapes():
    b = contract_batches()[0]
    assert set(b) == set(TASKS)
    for task in ("kmlm", "uktp", "sr", "sd"):
        assert set(b[task]) == {"input_ids", "token_type_ids", "task_type_ids", "attention_mask",
                                "labels"}
        assert b[task]["input_ids"].shape[0] == BATCH and b[task]["input_ids"].shape[1] <= MAX_LEN
    assert (b["kmlm"]["labels"] != IGNORE_INDEX).any() and (b["uktp"]["labels"] != -100).any()
    assert b["sr"]["labels"].shape == (BATCH,) and b["sd"]["labels"].max() <= 2
    assert b["dlm"]["input_ids"].shape == (DLM_ROWS, SEG_LEN) and b["dlm"]["reset"].item()
    assert not contract_batches()[1]["dlm"]["reset"].item()


# ---- configuration ------------------------------------------------------------------------------
def test_config_from_preset_overrides_and_linked_sizes():
    m = make_module(config_overrides={"dropout": 0.1, "nlg": {"n_layer": 1}}, sr_max_segments=4)
    cfg = m.config
    assert (cfg.name, cfg.dropout, cfg.nlg.n_layer, cfg.nlg.d_model) == ("test", 0.1, 1, 32)
    assert cfg.vocab_size == corpus().tokenizer.vocab_size and cfg.sr_num_classes == 33
    assert m.hparams["config"] == cfg.to_dict()  # plain dict, the resolved config
    full = Ernie3PretrainModule(config=Ernie3Config.from_name("test", mem_len=4), preset="nano")
    assert full.config.mem_len == 4 and full.config.vocab_size == 100  # config wins over preset
    again = Ernie3PretrainModule(**full.hparams)  # what load_from_checkpoint does
    assert again.config == full.config


def test_bad_task_weights_are_refused():
    with pytest.raises(ValueError, match="unknown tasks"):
        make_module(task_weights={"mlm": 1.0})
    with pytest.raises(ValueError, match=r"task_weights\['sd'\]"):
        make_module(task_weights={"sd": -1.0})


def test_yaml_can_name_a_preset_or_give_a_full_config():
    """The argument types work with jsonargparse, i.e. with LightningCLI's `model:` section."""
    parser = ArgumentParser()
    parser.add_argument("--model", type=Ernie3PretrainModule)
    path = "ernie3_lite.training.module.Ernie3PretrainModule"
    stack = "{n_layer: 1, d_model: 16, n_head: 2, d_inner: 32}"
    for init_args, expect in [
        ("{preset: test, config_overrides: {dropout: 0.1}, vocab_size: 200}", (200, 0.1, 2)),
        (f"{{config: {{vocab_size: 50, universal: {stack}, nlu: {stack}, nlg: {stack}}}}}",
         (50, 0.0, 1)),
    ]:
        config = parser.parse_string(f"model: {{class_path: {path}, init_args: {init_args}}}")
        cfg = parser.instantiate(config).model.config
        assert (cfg.vocab_size, cfg.dropout, cfg.nlg.n_layer) == expect


# ---- the loss ----------------------------------------------------------------------------------
def by_hand(module: Ernie3PretrainModule, b: dict) -> dict[str, torch.Tensor]:
    """Each task's mean loss from full (B, T, V) logits and `ignore_index`, without memory."""
    model, losses = module.model, {}
    for task in ("kmlm", "uktp", "sr", "sd"):
        x = b[task]
        hidden = model.forward_nlu(x["input_ids"], attention_mask=x["attention_mask"],
                                   token_type_ids=x["token_type_ids"],
                                   task_type_ids=x["task_type_ids"]).hidden
        if task in ("sr", "sd"):
            head = model.sentence_reorder_logits if task == "sr" else model.sentence_distance_logits
            losses[task] = F.cross_entropy(head(hidden), x["labels"])
        else:
            logits = model.mlm_logits(hidden)  # (B, T, V)
            losses[task] = F.cross_entropy(logits.flatten(0, 1), x["labels"].flatten())
    x = b["dlm"]
    hidden = model.forward_nlg(x["input_ids"], task_type_ids=x["task_type_ids"]).hidden
    losses["dlm"] = F.cross_entropy(model.lm_logits(hidden).flatten(0, 1), x["labels"].flatten())
    return losses


@NO_TRAINER
def test_loss_is_the_weighted_sum_of_the_task_losses():
    weights = {"kmlm": 0.5, "uktp": 2.0, "sr": 1.0, "sd": 0.25, "dlm": 1.5}
    module = make_module(task_weights=weights)
    expected = by_hand(module, batch(0))
    loss = module.training_step(batch(0), 0)
    total = sum(weights[t] * expected[t] for t in TASKS)
    torch.testing.assert_close(loss, total, rtol=1e-5, atol=1e-6)


@NO_TRAINER
def test_zero_weight_removes_a_task():
    full, no_sr = make_module(), make_module(task_weights={"sr": 0.0})
    sr_loss = by_hand(full, batch(0))["sr"]
    loss_full = full.training_step(batch(0), 0)
    loss_no_sr = no_sr.training_step(batch(0), 0)
    torch.testing.assert_close(loss_no_sr, loss_full - sr_loss, rtol=1e-5, atol=1e-6)
    loss_no_sr.backward()
    assert all(p.grad is None or not p.grad.any()
               for p in no_sr.model.sentence_reorder_head.parameters())


def grad_norms(module: Ernie3PretrainModule) -> dict[str, float]:
    return {name: sum(0.0 if p.grad is None else p.grad.norm().item()
                      for p in getattr(module.model, name).parameters())
            for name in ("embeddings", "universal", "nlu", "nlg", "mlm_head", "lm_head",
                         "sentence_reorder_head", "sentence_distance_head")}


@NO_TRAINER
@pytest.mark.parametrize("paradigm", ["nlu", "nlg"])
def test_gradients_reach_the_modules_of_the_paradigm_only(paradigm):
    tasks = ("dlm",) if paradigm == "nlg" else ("kmlm", "uktp", "sr", "sd")
    module = make_module()
    module.training_step(batch(0, tasks=tasks), 0).backward()
    norms = grad_norms(module)
    used = {"embeddings", "universal"} | (
        {"nlg", "lm_head"} if paradigm == "nlg"
        else {"nlu", "mlm_head", "sentence_reorder_head", "sentence_distance_head"})
    assert {name for name, norm in norms.items() if norm > 0} == used, norms


# ---- document LM memory -----------------------------------------------------------------------
def dlm_loss(module, b, *, stage="train") -> torch.Tensor:
    return module.task_losses({"dlm": b["dlm"]}, stage=stage)["dlm"][0]


def test_dlm_memory_carries_across_steps_and_is_dropped_on_reset():
    module = make_module()
    model, (b0, b1) = module.model, contract_batches()[:2]
    dlm_loss(module, b0)
    first = model.forward_nlg(b0["dlm"]["input_ids"], task_type_ids=b0["dlm"]["task_type_ids"])
    for got, want in zip(module._memory["train"].nlg, first.new_memory.nlg, strict=True):
        torch.testing.assert_close(got, want)
    with_memory = dlm_loss(module, b1)  # reset False: reads the memory of b0
    hidden = model.forward_nlg(b1["dlm"]["input_ids"], task_type_ids=b1["dlm"]["task_type_ids"],
                               memory=first.new_memory).hidden
    expected = F.cross_entropy(model.lm_logits(hidden).flatten(0, 1),
                               b1["dlm"]["labels"].flatten())
    torch.testing.assert_close(with_memory, expected)
    without = by_hand(module, b1)["dlm"]
    assert (with_memory - without).abs() > 1e-4  # the memory changes the prediction
    assert module._memory["train"].length == module.config.mem_len
    reset = {"dlm": {**b1["dlm"], "reset": torch.tensor(True)}}
    torch.testing.assert_close(dlm_loss(module, reset), without)  # the old memory is dropped


def test_train_and_val_memories_are_separate():
    module = make_module()
    b0, b1 = contract_batches()[:2]
    dlm_loss(module, b0)  # train memory now set
    train_memory = module._memory["train"]
    module.on_validation_epoch_start()
    val = dlm_loss(module, b1, stage="val")  # reset False, but no val memory yet
    torch.testing.assert_close(val, by_hand(module, b1)["dlm"])
    assert module._memory["train"] is train_memory and module._memory["val"] is not None
    module.on_validation_epoch_start()
    assert module._memory["val"] is None and module._memory["train"] is train_memory


def test_memory_rows_must_match_unless_reset():
    module = make_module()
    dlm_loss(module, contract_batches()[0])
    narrower = {k: (v[:1] if k != "reset" else v) for k, v in contract_batches()[1]["dlm"].items()}
    with pytest.raises(ValueError, match="reset=True"):
        dlm_loss(module, {"dlm": narrower})


# ---- with a Trainer -----------------------------------------------------------------------------
def test_one_training_step_logs_every_task():
    module = make_module()
    fit = trainer(max_steps=1)
    fit.fit(module, train_dataloaders=loader(contract_batches()[:1]))
    metrics = fit.callback_metrics
    for task in TASKS:
        assert torch.isfinite(metrics[f"train/{task}_loss"])
        assert 0.0 <= metrics[f"train/{task}_acc"] <= 1.0
    assert torch.isfinite(metrics["train/loss"])


def test_training_values_are_logged_only_on_logging_steps():
    module = make_module()
    names_by_step: dict[int, list[str]] = {}
    log = module.log

    def counting_log(name, *args, **kwargs):
        names_by_step.setdefault(module.trainer.global_step, []).append(name)
        return log(name, *args, **kwargs)

    module.log = counting_log
    trainer(max_steps=3, log_every_n_steps=2).fit(module,
                                                  train_dataloaders=loader(contract_batches()[:3]))
    # steps 0 and 2 log every task's loss and accuracy and the total; step 1 logs nothing
    assert sorted(names_by_step) == [0, 2]
    for names in names_by_step.values():
        assert sorted(names) == sorted([*(f"train/{t}_{m}" for t in TASKS for m in ("loss", "acc")),
                                        "train/loss"])


def test_validation_logs_epoch_means():
    module = make_module()
    fit = trainer(max_steps=1, limit_val_batches=2)
    fit.validate(module, dataloaders=loader(contract_batches()[:2]), verbose=False)
    assert {f"val/{t}_loss" for t in TASKS} | {"val/loss"} <= set(fit.callback_metrics)


def test_a_few_steps_overfit_a_repeated_batch():
    # 80 steps: with the embedding LayerNorm (issue 17) sentence distance needs more than 40
    module = make_module(lr=3e-3, warmup_steps=2, max_steps=80)
    with torch.no_grad():
        before = module.task_losses(batch(0), stage="val")
    trainer(max_steps=80).fit(module, train_dataloaders=loader(contract_batches()[:1] * 80))
    with torch.no_grad():
        after = module.task_losses(batch(0), stage="test")
    for task in TASKS:
        assert after[task][0] < 0.7 * before[task][0], task


def test_checkpoint_is_weights_only_loadable_and_restores_the_memory(tmp_path):
    module = make_module()
    fit = trainer(max_steps=2)
    fit.fit(module, train_dataloaders=loader(contract_batches()[:2]))
    fit.save_checkpoint(tmp_path / "last.ckpt")
    checkpoint = torch.load(tmp_path / "last.ckpt", weights_only=True)
    assert checkpoint["hyper_parameters"]["config"] == module.config.to_dict()
    saved = checkpoint["dlm_memory"]
    assert saved["data_parallel_size"] == 1
    for got, want in zip(saved["nlg"], module._memory["train"].nlg, strict=True):
        assert got.shape == (1, *want.shape) and torch.equal(got[0], want)
    restored = Ernie3PretrainModule.load_from_checkpoint(tmp_path / "last.ckpt", weights_only=True)
    for got, want in zip(restored._memory["train"].universal, module._memory["train"].universal,
                         strict=True):
        torch.testing.assert_close(got, want)
    assert not any(name.startswith("_memory") for name in restored.state_dict())
    out = export_from_checkpoint(tmp_path / "last.ckpt", tmp_path / "export",
                                 tokenizer=corpus().tokenizer)
    ids = batch(0)["kmlm"]["input_ids"]
    torch.testing.assert_close(Ernie3Model.from_pretrained(out).forward_nlu(ids).hidden,
                               module.model.eval().forward_nlu(ids).hidden, rtol=0, atol=0)


@pytest.mark.parametrize("key", ["data_parallel_size", "world_size"])  # and older checkpoints
def test_memory_from_another_data_parallel_size_is_dropped_with_a_warning(key):
    module = make_module()
    memory = {key: 2, "universal": [torch.zeros(2, 2, 8, 32)] * 2,
              "nlg": [torch.zeros(2, 2, 8, 32)] * 2}
    with pytest.warns(UserWarning, match="from 2 data-parallel ranks, this run has 1"):
        module.on_load_checkpoint({"dlm_memory": memory})
    assert module._memory["train"] is None
    pickle.dumps(memory)  # plain containers of tensors


def test_reset_is_read_on_the_cpu_before_transfer():
    module = make_module()
    moved = module.on_before_batch_transfer(batch(0), 0)
    assert moved["dlm"]["reset"] is True and isinstance(batch(0)["dlm"]["reset"], torch.Tensor)


# ---- optimizer, schedule, dropout ----------------------------------------------------------------
def test_weight_decay_spares_biases_norms_and_u_v():
    module = make_module()
    decayed = {n for n, p in module.model.named_parameters() if uses_weight_decay(n, p)}
    assert {"embeddings.word.weight", "universal.layers.0.attn.qkv_net.weight",
            "nlu.layers.1.ff.fc_in.weight", "mlm_head.transform.weight"} <= decayed
    for spared in ("universal.r_w_bias", "nlg.r_r_bias", "mlm_head.bias", "nlu.final_norm.weight",
                   "universal.layers.0.attn_norm.weight", "nlu.layers.0.ff.fc_in.bias"):
        assert spared not in decayed
    optimizer = module.configure_optimizers()["optimizer"]
    assert isinstance(optimizer, torch.optim.AdamW) and optimizer.defaults["betas"] == (0.9, 0.999)
    by_id = {id(p): n for n, p in module.model.named_parameters()}
    groups = [({by_id[id(p)] for p in g["params"]}, g["weight_decay"])
              for g in optimizer.param_groups]
    assert groups == [(decayed, 0.01), (set(by_id.values()) - decayed, 0.0)]


def test_scheduler_warms_up_then_decays_linearly():
    module = make_module(lr=1e-3, warmup_steps=4, max_steps=12)
    config = module.configure_optimizers()
    optimizer, scheduler = config["optimizer"], config["lr_scheduler"]["scheduler"]
    assert config["lr_scheduler"]["interval"] == "step"
    lrs = []
    for _ in range(12):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    expected = [2.5e-4, 5e-4, 7.5e-4, 1e-3, 1e-3, 8.75e-4, 7.5e-4, 6.25e-4, 5e-4, 3.75e-4, 2.5e-4,
                1.25e-4]
    assert lrs == pytest.approx(expected)


def test_max_steps_comes_from_the_trainer_when_not_given():
    module = make_module(max_steps=None, warmup_steps=2)
    fit = trainer(max_steps=5)
    fit.fit(module, train_dataloaders=loader(contract_batches()[:1] * 5))
    assert fit.lr_scheduler_configs[0].scheduler.lr_lambdas[0].keywords["max_steps"] == 5


def test_set_dropout_reaches_every_dropout_and_attention():
    module = make_module(config_overrides={"dropout": 0.2, "dropatt": 0.1})
    dropouts = [m for m in module.model.modules() if isinstance(m, nn.Dropout)]
    attentions = [m for m in module.model.modules() if isinstance(m, RelMultiHeadAttention)]
    assert len(dropouts) > 10 and len(attentions) == 6
    assert {m.p for m in dropouts} == {0.2} and {m.dropatt for m in attentions} == {0.1}
    module.set_dropout(0.1)  # half-way up the progressive ramp: dropatt follows
    assert {m.p for m in dropouts} == {0.1} and {m.dropatt for m in attentions} == {0.05}
    module.set_dropout(0.0, dropatt=0.3)
    assert {m.p for m in dropouts} == {0.0} and {m.dropatt for m in attentions} == {0.3}
    module.train()
    ids = batch(0)["kmlm"]["input_ids"]
    module.set_dropout(0.0, dropatt=0.0)
    assert torch.equal(module(ids).hidden, module(ids).hidden)  # no randomness left anywhere
    with pytest.raises(ValueError, match="must be in"):
        module.set_dropout(1.0)
