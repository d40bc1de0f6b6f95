"""Attention maps of the shipped model (pure functions) and the AttentionExplorer widget.

No test pins a value of the trained weights (the shipped model is re-trained from time to time):
they check what holds for any weights: probabilities, masks, shapes, and that the widget redraws.
"""

from __future__ import annotations

import matplotlib as mpl
import numpy as np
import pytest
import torch

from ernie3_lite import PRETRAINED_NANO
from ernie3_lite.model.ernie3 import Ernie3Model
from ernie3_lite.tokenization import CharTokenizer
from ernie3_lite.viz.attention_explorer import AttentionExplorer
from ernie3_lite.viz.attention_maps import (
    attention_map,
    attention_maps,
    display_tokens,
    distance_matrix,
)
from ernie3_lite.viz.examples import news_sentence


@pytest.fixture(autouse=True)
def restore_rc_params():
    with mpl.rc_context():  # the plots call use_cjk_font(), which sets a global rcParam
        yield


@pytest.fixture(scope="module")
def model():
    return Ernie3Model.from_pretrained(PRETRAINED_NANO)


@pytest.fixture(scope="module")
def tokenizer():
    return CharTokenizer.from_file(PRETRAINED_NANO / "vocab.txt")


@pytest.fixture(scope="module")
def sentence():
    return news_sentence(index=2)


@pytest.mark.parametrize("paradigm", ["nlu", "nlg"])
@pytest.mark.parametrize("stack", ["universal", "task"])
def test_rows_are_probability_distributions(model, tokenizer, sentence, paradigm, stack):
    tokens, probs = attention_map(model, tokenizer, sentence, paradigm=paradigm, layer=1,
                                  head=1, stack=stack)
    assert probs.shape == (len(tokens), len(tokens))
    assert (probs >= 0).all()
    torch.testing.assert_close(probs.sum(-1), torch.ones(len(tokens)))


def test_nlg_never_attends_to_the_future_and_nlu_does(model, tokenizer, sentence):
    nlg = attention_maps(model, tokenizer, sentence, paradigm="nlg")
    nlu = attention_maps(model, tokenizer, sentence, paradigm="nlu")
    torch.manual_seed(0)
    fresh = attention_maps(Ernie3Model(model.config).eval(), tokenizer, sentence, paradigm="nlu")
    for stack in ("universal", "task"):
        assert (nlg.weights[stack].triu(1) == 0).all()  # every layer and head, exactly
        assert nlu.weights[stack].triu(1).sum() > 0  # the trained NLU map is not triangular
        # untrained (near-uniform) heads put about half of their weight on later keys: nothing
        # in the NLU path masks them
        later = fresh.weights[stack].triu(1).sum(dim=(-1, -2)) / len(sentence)  # (L, H)
        assert (later > 0.3).all()
    # the task module is the paradigm's own: NLU and NLG modules are different networks
    assert nlu.weights["task"].shape[:2] == (model.config.nlu.n_layer, model.config.nlu.n_head)
    assert nlg.weights["task"].shape[:2] == (model.config.nlg.n_layer, model.config.nlg.n_head)


def test_tokens_are_the_model_inputs(model, tokenizer, sentence):
    nlu = attention_maps(model, tokenizer, sentence, paradigm="nlu")
    nlg = attention_maps(model, tokenizer, sentence, paradigm="nlg")
    assert nlu.tokens == ["[CLS]", *sentence, "[SEP]"]  # this sentence is all single chars
    assert nlg.tokens == list(sentence)
    ids, labels = display_tokens("Sony\ue019好", tokenizer, paradigm="nlg")
    assert labels == ["Sony", "□", "好"] and len(ids) == 3  # original case; no-glyph char boxed


def test_bad_selections_are_rejected(model, tokenizer, sentence):
    maps = attention_maps(model, tokenizer, sentence, paradigm="nlu")
    with pytest.raises(IndexError):
        maps.probs(stack="task", layer=model.config.nlu.n_layer, head=0)
    with pytest.raises(ValueError, match="paradigm"):
        attention_maps(model, tokenizer, sentence, paradigm="seq2seq")
    with pytest.raises(ValueError, match="no tokens"):
        attention_maps(model, tokenizer, "  ", paradigm="nlg")


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("mlen", [0, 3])
def test_distance_matrix_is_i_minus_j(causal, mlen):
    qlen = 5
    got = distance_matrix(qlen=qlen, mlen=mlen, causal=causal)
    i = torch.arange(qlen)[:, None]
    j = torch.arange(mlen + qlen)[None, :]
    expected = (mlen + i - j).float()
    if causal:
        expected[j > mlen + i] = float("nan")
    torch.testing.assert_close(got, expected, equal_nan=True)


@pytest.fixture
def explorer(model, tokenizer, sentence):
    return AttentionExplorer(sentence, model=model, tokenizer=tokenizer, dpi=30)


def image_array(explorer) -> np.ndarray:
    return np.asarray(explorer.figure.axes[0].images[0].get_array()).copy()


def test_moving_the_head_slider_changes_the_picture(explorer):
    before, png = image_array(explorer), bytes(explorer.image.value)
    assert png.startswith(b"\x89PNG")
    explorer.head.value = 1
    after = image_array(explorer)
    assert not np.allclose(before, after)
    assert bytes(explorer.image.value) != png
    np.testing.assert_allclose(after, explorer.maps.weights["universal"][0, 1].numpy())


def test_paradigm_stack_and_text_controls(explorer, model):
    explorer.paradigm.value = "nlg"
    assert np.allclose(np.triu(image_array(explorer), 1), 0)
    assert explorer.summary().endswith("attention to later keys: 0.0")
    explorer.layer.value, explorer.head.value = 3, 3
    explorer.stack.value = "task"  # the NLG module is smaller: the sliders follow
    assert explorer.layer.max == model.config.nlg.n_layer - 1
    assert explorer.head.max == model.config.nlg.n_head - 1
    assert explorer.layer.value == explorer.layer.max
    assert "NLG module" in explorer.figure.axes[0].get_title()
    other = news_sentence(index=0)
    explorer.text.value = other
    labels = [t.get_text() for t in explorer.figure.axes[0].get_xticklabels()]
    assert labels == list(other)
    explorer.text.value = ""  # nothing to attend over: keep the last picture, say so
    assert "type a sentence" in explorer.caption.value and explorer.maps.text == other
