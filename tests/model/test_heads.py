"""Output heads: the tied LM heads, the [CLS] classifier and the per-token classifier."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ernie3_lite.config import Ernie3Config
from ernie3_lite.model.ernie3 import Ernie3Model
from ernie3_lite.model.heads import (
    SequenceClassificationHead,
    TiedLMHead,
    TokenClassificationHead,
)


def test_tied_lm_head_is_transform_layernorm_then_embedding_transpose():
    torch.manual_seed(0)
    head = TiedLMHead(d_in=6, d_embed=10, vocab_size=13)
    with torch.no_grad():
        head.bias.normal_()
    embedding = torch.randn(13, 10, requires_grad=True)
    hidden = torch.randn(2, 3, 6)
    logits = head(hidden, word_embeddings=embedding)
    transformed = F.gelu(hidden @ head.transform.weight.T + head.transform.bias)  # (2, 3, 10)
    normed = F.layer_norm(transformed, (10,), head.norm.weight, head.norm.bias, head.norm.eps)
    torch.testing.assert_close(logits, normed @ embedding.T + head.bias)
    logits.sum().backward()
    assert embedding.grad.abs().sum() > 0  # the decoder IS the embedding: it learns from the head
    assert head(hidden[0, 0], word_embeddings=embedding).shape == (13,)  # any leading shape


def test_model_heads_are_tied_to_the_token_embedding():
    torch.manual_seed(0)
    model = Ernie3Model(Ernie3Config.from_name("test", nlg={"d_model": 16, "n_head": 2}))
    hidden_nlu, hidden_nlg = torch.randn(2, 5, 32), torch.randn(2, 5, 16)
    mlm, lm = model.mlm_logits(hidden_nlu), model.lm_logits(hidden_nlg)
    with torch.no_grad():
        model.embeddings.word.weight[7] += 1.0
    changed_mlm, changed_lm = model.mlm_logits(hidden_nlu), model.lm_logits(hidden_nlg)
    for before, after in ((mlm, changed_mlm), (lm, changed_lm)):
        assert not torch.allclose(before[..., 7], after[..., 7])
        torch.testing.assert_close(before[..., :7], after[..., :7])  # only token 7's logit moved
    # the matrix is stored once: the heads keep no copy or reference of their own
    state = model.state_dict()
    vocab_sized = [k for k, v in state.items() if v.dim() == 2 and v.shape[0] == 100]
    assert vocab_sized == ["embeddings.word.weight"]


def test_sequence_classification_reads_only_the_cls_position():
    torch.manual_seed(0)
    head = SequenceClassificationHead(d_model=8, num_labels=4).eval()
    hidden = torch.randn(3, 5, 8)
    other = hidden.clone()
    other[:, 1:] = torch.randn(3, 4, 8)
    torch.testing.assert_close(head(hidden), head(other))
    pooled = torch.tanh(hidden[:, 0] @ head.pool.weight.T + head.pool.bias)
    torch.testing.assert_close(head(hidden), pooled @ head.classifier.weight.T
                               + head.classifier.bias)
    other[:, 0] += 1.0
    assert not torch.allclose(head(hidden), head(other))


def test_token_classification_is_per_token():
    torch.manual_seed(0)
    head = TokenClassificationHead(d_model=8, num_labels=7).eval()
    hidden = torch.randn(2, 5, 8)
    logits = head(hidden)
    assert logits.shape == (2, 5, 7)
    torch.testing.assert_close(logits[:, 2], head(hidden[:, 2:3])[:, 0])


def test_pretraining_head_sizes_follow_the_config():
    config = Ernie3Config.from_name("test", sr_max_segments=3)
    model = Ernie3Model(config)
    assert model.sentence_reorder_head.classifier.out_features == 1 + 2 + 6
    assert model.sentence_distance_head.classifier.out_features == 3
    masked = torch.randn(11, 32)  # hidden states gathered at the masked positions only
    assert model.mlm_logits(masked).shape == (11, 100)


def test_dropout_only_in_training_mode():
    torch.manual_seed(0)
    head = SequenceClassificationHead(d_model=8, num_labels=2, dropout=0.5)
    hidden = torch.randn(4, 3, 8)
    head.eval()
    torch.testing.assert_close(head(hidden), head(hidden))
    head.train()
    assert not torch.allclose(head(hidden), head(hidden))
