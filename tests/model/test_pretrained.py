"""Pretrained folders: safetensors + JSON round trip, tied weights, refusals (pretrained.py)."""

from __future__ import annotations

import json
import os
import pickle
from functools import cache

import pytest
import torch
import torch.nn.functional as F
from safetensors import safe_open
from safetensors.torch import save_file
from torch import nn

from ernie3_lite import DATA_SAMPLES
from ernie3_lite.config import Ernie3Config
from ernie3_lite.data.formats import read_news
from ernie3_lite.model.ernie3 import Ernie3Model
from ernie3_lite.model.pretrained import (
    CONFIG_NAME,
    TRAINING_NAME,
    VOCAB_NAME,
    WEIGHTS_NAME,
    read_safetensors,
    save_pretrained,
    untie,
)
from ernie3_lite.tokenization import CharTokenizer
from ernie3_lite.training.export import export_from_checkpoint


@cache
def tokenizer() -> CharTokenizer:
    return CharTokenizer.from_file(DATA_SAMPLES / "vocab.txt")


def make_model(seed: int = 0, **overrides) -> Ernie3Model:
    torch.manual_seed(seed)
    config = Ernie3Config.from_name("test", vocab_size=tokenizer().vocab_size, **overrides)
    return Ernie3Model(config).eval()


@cache
def real_ids() -> torch.Tensor:
    """Two People's Daily headlines as token ids (2, 12)."""
    docs = [d for d in read_news(DATA_SAMPLES / "news" / "train.jsonl") if len(d.headline) >= 12]
    return torch.tensor([tokenizer().encode(d.headline)[:12] for d in docs[:2]])


def all_logits(model: Ernie3Model) -> list[torch.Tensor]:
    ids = real_ids()
    nlu, nlg = model.forward_nlu(ids), model.forward_nlg(ids)
    return [model.mlm_logits(nlu.hidden), model.sentence_reorder_logits(nlu.hidden),
            model.sentence_distance_logits(nlu.hidden), model.lm_logits(nlg.hidden)]


def test_round_trip_is_exact(tmp_path):
    model = make_model()
    extra = {"global_step": 12, "data": "data_samples"}
    save_pretrained(model, tmp_path, tokenizer=tokenizer(), extra=extra)
    loaded = Ernie3Model.from_pretrained(tmp_path)
    assert not loaded.training and loaded.config == model.config
    for name, tensor in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], tensor), name
    for got, want in zip(all_logits(loaded), all_logits(model), strict=True):
        torch.testing.assert_close(got, want, rtol=0, atol=0)
    assert (tmp_path / CONFIG_NAME).read_text(encoding="utf-8").strip() == model.config.to_json()
    vocab, original = CharTokenizer.from_file(tmp_path / VOCAB_NAME), tokenizer()
    assert vocab.convert_ids_to_tokens(range(vocab.vocab_size)) == original.convert_ids_to_tokens(
        range(original.vocab_size))
    assert json.loads((tmp_path / TRAINING_NAME).read_text(encoding="utf-8")) == extra


def test_lm_heads_stay_tied_to_the_embedding(tmp_path):
    model = make_model()
    save_pretrained(model, tmp_path)
    with safe_open(str(tmp_path / WEIGHTS_NAME), framework="pt") as handle:
        vocab_matrices = [n for n in handle.keys()
                          if handle.get_slice(n).get_shape() == [model.config.vocab_size, 32]]
    assert vocab_matrices == ["embeddings.word.weight"]  # written once
    loaded = Ernie3Model.from_pretrained(tmp_path)
    hidden = loaded.forward_nlg(real_ids()).hidden
    with torch.no_grad():
        loaded.embeddings.word.weight[5] += 1.0  # one embedding row moves ...
    head = loaded.lm_head
    decoded = F.linear(head.norm(head.act(head.transform(hidden))), loaded.embeddings.word.weight,
                       head.bias)
    torch.testing.assert_close(loaded.lm_logits(hidden), decoded)  # ... and the decoder with it


class SharedDecoder(nn.Module):
    """A model that ties by sharing one Parameter, the layout safetensors refuses to save."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(7, 4)
        self.decoder = nn.Linear(4, 7)
        self.decoder.weight = self.embed.weight


def test_shared_parameters_are_saved_once_and_re_tied(tmp_path):
    torch.manual_seed(0)
    source, target = SharedDecoder(), SharedDecoder()
    with pytest.raises(RuntimeError, match="share memory"):
        save_file(source.state_dict(), str(tmp_path / "naive.safetensors"))
    tensors, tied = untie(source.state_dict())
    assert tied == {"decoder.weight": "embed.weight"} and set(tensors) == {"embed.weight",
                                                                        "decoder.bias"}
    save_file(tensors, str(tmp_path / "w.safetensors"), metadata={"tied": json.dumps(tied)})
    state = read_safetensors(tmp_path / "w.safetensors", expected=target.state_dict())
    target.load_state_dict(state)
    assert target.decoder.weight is target.embed.weight
    assert torch.equal(target.embed.weight, source.embed.weight)


def test_overlapping_views_are_copied():
    base = torch.arange(6.0)
    tensors, tied = untie({"a": base, "b": base[2:]})
    assert tied == {} and torch.equal(tensors["b"], base[2:])
    assert tensors["b"].untyped_storage().data_ptr() != base.untyped_storage().data_ptr()


@pytest.mark.parametrize(("overrides", "expect"), [
    ({"universal": {"n_layer": 3}}, ["missing (", "universal.layers.2.attn.qkv_net.weight"]),
    ({"nlg": {"n_layer": 1}}, ["unexpected (", "nlg.layers.1.ff.fc_out.weight"]),
    ({"nlu": {"d_inner": 48}}, ["wrong shape (", "nlu.layers.0.ff.fc_in.weight: file (64, 32) "
                                                 "vs model (48, 32)"]),
])
def test_config_that_does_not_match_the_weights_is_refused(tmp_path, overrides, expect):
    save_pretrained(make_model(), tmp_path)
    make_model(**overrides).config.save(tmp_path / CONFIG_NAME)
    with pytest.raises(ValueError, match="does not match") as error:
        Ernie3Model.from_pretrained(tmp_path)
    for text in expect:
        assert text in str(error.value)


class Payload:
    """Unpickling this creates `marker`: proof that a loader ran code from the file."""

    def __init__(self, marker) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return os.makedirs, (self.marker,)


def test_pickle_disguised_as_safetensors_is_refused(tmp_path):
    live = tmp_path / "live"
    pickle.loads(pickle.dumps(Payload(live)))
    assert live.is_dir()  # the payload really runs when unpickled
    folder, marker = tmp_path / "model", tmp_path / "pwned"
    save_pretrained(make_model(), folder)
    torch.save({"weights": Payload(marker)}, folder / WEIGHTS_NAME)  # a pickle, misnamed
    with pytest.raises(ValueError, match="not a valid safetensors file"):
        Ernie3Model.from_pretrained(folder)
    assert not marker.exists()


def test_tokenizer_larger_than_the_embedding_is_refused(tmp_path):
    model = Ernie3Model(Ernie3Config.from_name("test"))  # vocab_size 100
    with pytest.raises(ValueError, match="5275 tokens"):
        save_pretrained(model, tmp_path, tokenizer=tokenizer())


def test_export_from_a_checkpoint_dict(tmp_path):
    model = make_model(seed=3)
    checkpoint = {"epoch": 1, "global_step": 40,
                  "state_dict": {f"model.{k}": v for k, v in model.state_dict().items()},
                  "hyper_parameters": {"config": model.config.to_dict(), "lr": 1e-4}}
    torch.save(checkpoint, tmp_path / "run.ckpt")
    out = export_from_checkpoint(tmp_path / "run.ckpt", tmp_path / "out", tokenizer=tokenizer())
    loaded = Ernie3Model.from_pretrained(out)
    for got, want in zip(all_logits(loaded), all_logits(model), strict=True):
        torch.testing.assert_close(got, want, rtol=0, atol=0)
    info = json.loads((out / TRAINING_NAME).read_text(encoding="utf-8"))
    assert info == {"source_checkpoint": "run.ckpt", "epoch": 1, "global_step": 40,
                    "hyper_parameters": {"lr": 1e-4}}
    assert (out / VOCAB_NAME).exists()


def test_export_refuses_checkpoints_with_code(tmp_path):
    marker = tmp_path / "pwned"
    torch.save({"state_dict": {}, "hyper_parameters": {"config": Payload(marker)}},
               tmp_path / "evil.ckpt")
    with pytest.raises(pickle.UnpicklingError):
        export_from_checkpoint(tmp_path / "evil.ckpt", tmp_path / "out", tokenizer=None)
    assert not marker.exists()


def test_model_classmethods_round_trip(tmp_path):
    """`Ernie3Model.save_pretrained` / `Ernie3Model.from_pretrained` are the documented entry."""
    from ernie3_lite.config import Ernie3Config
    from ernie3_lite.model.ernie3 import Ernie3Model

    torch.manual_seed(0)
    model = Ernie3Model(Ernie3Config.from_name("test")).eval()
    model.save_pretrained(tmp_path / "m")
    loaded = Ernie3Model.from_pretrained(tmp_path / "m")
    ids = torch.randint(4, 100, (2, 7))
    torch.testing.assert_close(loaded.forward_nlu(ids).hidden, model.forward_nlu(ids).hidden)
