"""Universal knowledge-text prediction (UKTP, ERNIE 3.0 arXiv 2107.02137 §3.2.3).

The NLU network's knowledge task, an extension of knowledge masked LM (`kmlm.py`): the input
joins a knowledge-graph triple and a sentence that mentions its head and tail (distant
supervision, aligned by `knowledge.py`) as ``[CLS] head relation tail [SEP] sentence [SEP]``.
Either the relation is masked, so the model must read the sentence to name it, or the sentence is
knowledge-masked with the triple in view; the paper's aim is that the model learns to tie
structured knowledge to the text that states it.
"""

from __future__ import annotations

import random

import torch
from torch import Tensor

from ernie3_lite.data.collate import join_segments
from ernie3_lite.data.kmlm import MaskedInput
from ernie3_lite.data.masking import EncodedText, KnowledgeMasker, MaskedUnit, MaskingConfig

__all__ = ["KnowledgeTextPrediction"]


class KnowledgeTextPrediction:
    """UKTP (ERNIE 3.0 §3.2.3): ``[CLS] head relation tail [SEP] sentence [SEP]``.

    With probability `relation_prob` the whole relation is masked (the model must read the
    sentence to name it, as in distant supervision); otherwise the sentence is knowledge-masked
    and the triple stays visible. Either way BERT 80/10/10 replacement applies and labels are set
    only on masked tokens. The sentence is truncated to fit `max_len`; the triple never is.
    """

    def __init__(
        self,
        tokenizer,
        *,
        max_len: int,
        relation_prob: float = 0.5,
        config: MaskingConfig | None = None,
        seed: int = 0,
    ):
        if not 0.0 <= relation_prob <= 1.0:
            raise ValueError(f"relation_prob must be in [0, 1], got {relation_prob}")
        self.tokenizer, self.max_len, self.relation_prob = tokenizer, max_len, relation_prob
        self.masker = KnowledgeMasker.from_tokenizer(tokenizer, config)
        self.rng = random.Random(seed)

    def relation_span(self, head: str, relation: str) -> tuple[int, int]:
        """Token span of the relation in the joined input: it starts after [CLS] and the head."""
        start = 1 + len(self.tokenizer.encode(head))
        return start, start + len(self.tokenizer.encode(relation))

    def mask(self, *, head: str, relation: str, tail: str, sentence: EncodedText) -> MaskedInput:
        tok = self.tokenizer
        triple = [*tok.encode(head), *tok.encode(relation), *tok.encode(tail)]
        room = self.max_len - 3 - len(triple)
        if room < 1 or not tok.encode(relation):
            raise ValueError(f"({head}, {relation}, {tail}) does not fit max_len={self.max_len}")
        segments = [triple, list(sentence.ids[:room])]
        ids, types, starts = join_segments(segments, cls_id=tok.cls_id, sep_id=tok.sep_id)
        if self.rng.random() < self.relation_prob:
            rel_start, rel_end = self.relation_span(head, relation)
            units = [MaskedUnit(rel_start, rel_end, "relation")]
            masked = self.masker.replace(torch.tensor(ids), units, rng=self.rng)
        else:
            in_sentence = torch.zeros(len(ids), dtype=torch.bool)
            in_sentence[starts[1] : len(ids) - 1] = True  # (T,) the sentence, not its [SEP]
            masked = self.masker(
                ids, sentence.spans, rng=self.rng, maskable=in_sentence, span_offset=starts[1]
            )
        return MaskedInput(ids, masked, types)

    def __call__(
        self, *, head: str, relation: str, tail: str, sentence: EncodedText
    ) -> dict[str, Tensor]:
        return self.mask(head=head, relation=relation, tail=tail, sentence=sentence).to_dict()
