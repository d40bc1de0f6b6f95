"""Output heads: tied LM heads for pre-training, [CLS] and per-token classifiers.

ERNIE 3.0 (arXiv 2107.02137 §3.2) pre-trains with five objectives, which need four kinds of output:

* knowledge masked LM and universal knowledge-text prediction (§3.2.1, §3.2.3): a masked-LM head
  on the NLU module (UKTP predicts masked relation/sentence tokens as ordinary vocabulary);
* document language modeling (§3.2.1): a next-token LM head on the NLG module;
* sentence reordering (k = sum_{n=1..m} n! classes) and sentence distance (3 classes, §3.2.2):
  classifiers on the hidden state of [CLS] of the NLU module.

Both LM heads tie their decoder to the token embedding (BERT/GPT practice; it halves the vocab
parameters). The task modules can be narrower than the embedding (768 vs 4096 in the paper), so
the transform maps task width back to embedding width before the tied decoder. The embedding
matrix is passed in at call time rather than stored, so it appears once in ``state_dict``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class TiedLMHead(nn.Module):
    """hidden (..., d_in) -> logits (..., V): Linear + GeLU + LayerNorm, then E^T + bias.

    The BERT MLM head layout (transform, LayerNorm, tied decoder, output bias); used for the
    masked LM (KMLM, UKTP) on the NLU module and for the document LM on the NLG module.
    """

    def __init__(self, *, d_in: int, d_embed: int, vocab_size: int,
                 layer_norm_eps: float = 1e-5) -> None:
        super().__init__()
        self.transform = nn.Linear(d_in, d_embed)
        self.act = nn.GELU()
        self.norm = nn.LayerNorm(d_embed, eps=layer_norm_eps)
        self.bias = nn.Parameter(torch.zeros(vocab_size))

    def forward(self, hidden: Tensor, *, word_embeddings: Tensor) -> Tensor:
        """hidden (..., d_in); word_embeddings (V, d_embed), the token-embedding weight."""
        h = self.norm(self.act(self.transform(hidden)))  # (..., d_embed)
        return F.linear(h, word_embeddings, self.bias)  # (..., V)


class SequenceClassificationHead(nn.Module):
    """hidden (B, T, d) -> logits (B, num_labels) from the [CLS] state (position 0).

    BERT-style pooler (Linear + tanh) then dropout and a linear classifier. Used for sentence
    reordering and sentence distance (ERNIE 3.0 §3.2.2, "on the hidden state of [CLS]") and for
    downstream classification (e.g. ChnSentiCorp).
    """

    def __init__(self, *, d_model: int, num_labels: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.pool = nn.Linear(d_model, d_model)
        self.drop = nn.Dropout(dropout)
        self.classifier = nn.Linear(d_model, num_labels)

    def forward(self, hidden: Tensor) -> Tensor:
        pooled = torch.tanh(self.pool(hidden[:, 0]))  # (B, d): [CLS] sits at position 0
        return self.classifier(self.drop(pooled))  # (B, num_labels)


class TokenClassificationHead(nn.Module):
    """hidden (B, T, d) -> logits (B, T, num_labels), e.g. BIO tags for NER."""

    def __init__(self, *, d_model: int, num_labels: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.drop = nn.Dropout(dropout)
        self.classifier = nn.Linear(d_model, num_labels)

    def forward(self, hidden: Tensor) -> Tensor:
        return self.classifier(self.drop(hidden))  # (B, T, num_labels)
