"""Held-out measurements of a pre-trained model, independent of Lightning.

`masked_lm_accuracy` asks the NLU network to fill in knowledge-masked tokens (ERNIE 3.0 §3.2.1) of
validation sentences: the number the shipped model is checked against an untrained one with.
"""

from __future__ import annotations

from ernie3_lite.data.corpus import PretrainingCorpus
from ernie3_lite.evaluation import heldout
from ernie3_lite.model.ernie3 import Ernie3Model


def masked_lm_accuracy(model: Ernie3Model, corpus: PretrainingCorpus, *, max_len: int = 128,
                       batch_size: int = 16, max_batches: int = 8, seed: int = 0) -> float:
    """Top-1 accuracy on knowledge-masked tokens of the first `max_batches` batches of `corpus`
    (packed per document, seeded): `evaluation.heldout.masked_lm_accuracy` on a quick slice."""
    return heldout.masked_lm_accuracy(model, corpus, max_len=max_len, batch_size=batch_size,
                                      seed=seed, max_batches=max_batches)["acc"]
