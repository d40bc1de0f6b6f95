"""The three fine-tuning LightningModules: sentiment, NER and headline generation.

Each wraps one `Ernie3Model` (built or loaded by `FinetuneModule`) and owns at most a head:

    SequenceClassificationModule  universal + NLU, [CLS]    SequenceClassificationHead  val/acc
    TokenClassificationModule     universal + NLU, tokens   TokenClassificationHead     val/f1
    HeadlineGenerationModule      universal + NLG, causal   the pre-trained lm_head     val/rouge_l

as in ERNIE 3.0 §4.2.1 (sentiment analysis, NER) and §4.2.2 (summarisation / generation).
Batches are the dicts of `ernie3_lite.finetune.data.collate_examples`.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from ernie3_lite.data.collate import TaskType
from ernie3_lite.data.masking import IGNORE_INDEX
from ernie3_lite.finetune.base import FinetuneModule
from ernie3_lite.finetune.metrics import SpanCounts, rouge_l, scores_from_counts, span_counts
from ernie3_lite.model.decoding import greedy_decode
from ernie3_lite.model.heads import SequenceClassificationHead, TokenClassificationHead


def _check_labels(owner: str, labels: list[str] | None) -> list[str]:
    if not labels or len(set(labels)) != len(labels):
        raise ValueError(f"{owner}.labels={labels!r} must be a list of distinct label names "
                         "(finetune() and the CLI read them from the training data)")
    return list(labels)


class SequenceClassificationModule(FinetuneModule):
    """Sentence classification (sentiment) on [CLS] of the NLU module (ERNIE 3.0 §4.2.1).

    labels: the class names, in id order (``["0", "1"]`` for the reviews). Other arguments:
    `FinetuneModule`.
    """

    task, paradigm = "sentiment", "nlu"

    def __init__(self, labels: list[str] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.labels = _check_labels(type(self).__name__, labels)
        self.head = SequenceClassificationHead(d_model=self.config.nlu.d_model,
                                               num_labels=len(self.labels),
                                               dropout=self.config.dropout)

    def forward(self, batch: dict[str, Any]) -> Tensor:
        """Class logits (B, num_labels)."""
        return self.head(self.nlu_hidden(batch))

    def loss(self, batch: dict[str, Any]) -> Tensor:
        return F.cross_entropy(self(batch), batch["labels"])

    def eval_sums(self, batch: dict[str, Any]) -> tuple[Tensor, Tensor]:
        logits = self(batch)  # (B, C)
        correct = (logits.argmax(dim=-1) == batch["labels"]).sum()
        total = torch.tensor(batch["labels"].numel(), device=logits.device)
        return F.cross_entropy(logits, batch["labels"]), torch.stack([correct, total]).float()

    def metrics_from_sums(self, sums: Tensor) -> dict[str, float]:
        return {"acc": float(sums[0] / sums[1].clamp(min=1))}


class TokenClassificationModule(FinetuneModule):
    """NER: one BIO tag per token from the NLU module's hidden states (ERNIE 3.0 §4.2.1).

    labels: tag names in id order, "O" first (B-LOC, ..., I-PER for People's Daily). Metrics:
    seqeval-style entity precision / recall / F1, micro over all types, plus F1 per type.
    """

    task, paradigm = "ner", "nlu"

    def __init__(self, labels: list[str] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.labels = _check_labels(type(self).__name__, labels)
        self.entity_types = sorted({tag.partition("-")[2] for tag in self.labels} - {""})
        self.head = TokenClassificationHead(d_model=self.config.nlu.d_model,
                                            num_labels=len(self.labels),
                                            dropout=self.config.dropout)

    def forward(self, batch: dict[str, Any]) -> Tensor:
        """Tag logits (B, T, num_labels)."""
        return self.head(self.nlu_hidden(batch))

    def loss(self, batch: dict[str, Any]) -> Tensor:
        logits = self(batch)  # (B, T, C)
        # pads, [CLS], [SEP] and later pieces of a split token carry label -100: no loss there
        return F.cross_entropy(logits.flatten(0, 1), batch["labels"].flatten(),  # (B*T, C), (B*T,)
                               ignore_index=IGNORE_INDEX)

    def tags_from_logits(self, logits: Tensor, batch: dict[str, Any]) -> list[list[str]]:
        """One predicted tag per gold token; tokens cut off by max_len are predicted O."""
        best = logits.argmax(dim=-1).tolist()  # (B, T)
        starts = batch["word_starts"].tolist()  # (B, T): 1 + token index, 0 = no token
        predicted = []
        for row, gold in enumerate(batch["gold_tags"]):
            tags = ["O"] * len(gold)
            for position, start in enumerate(starts[row]):
                if start:
                    tags[start - 1] = self.labels[best[row][position]]
            predicted.append(tags)
        return predicted

    @torch.no_grad()
    def predict_tags(self, batch: dict[str, Any]) -> list[list[str]]:
        return self.tags_from_logits(self(batch), batch)

    def eval_sums(self, batch: dict[str, Any]) -> tuple[Tensor, Tensor]:
        logits = self(batch)  # (B, T, num_labels)
        loss = F.cross_entropy(logits.flatten(0, 1), batch["labels"].flatten(),  # (B*T, C)
                               ignore_index=IGNORE_INDEX)
        counts = span_counts(batch["gold_tags"], self.tags_from_logits(logits, batch))
        # one row per known type, the last for gold types the model has no tag for (misses)
        rows = [counts.get(kind, SpanCounts()) for kind in self.entity_types]
        rows.append(sum((c for k, c in counts.items() if k not in self.entity_types),
                        SpanCounts()))
        sums = torch.tensor([[c.correct, c.predicted, c.gold] for c in rows],
                            dtype=torch.float, device=logits.device)  # (types + 1, 3)
        return loss, sums.flatten()

    def metrics_from_sums(self, sums: Tensor) -> dict[str, float]:
        rows = sums.view(-1, 3).round().long().tolist()  # (types + 1, 3)
        counts = {kind: SpanCounts(*row) for kind, row in zip(self.entity_types, rows)}
        if any(rows[-1]):
            counts["(unknown types)"] = SpanCounts(*rows[-1])
        scores = scores_from_counts(counts)
        metrics = {"f1": scores.f1, "precision": scores.precision, "recall": scores.recall}
        metrics |= {f"f1_{kind}": scores.per_type[kind].f1 for kind in self.entity_types}
        return metrics


class HeadlineGenerationModule(FinetuneModule):
    """Headline generation with the NLG network (universal + NLG, causal; ERNIE 3.0 §4.2.2).

    Trained as a conditional LM on ``body [SEP] headline [SEP]`` with the loss on the headline
    only (see `ernie3_lite.finetune.data`); evaluated by greedy decoding after ``body [SEP]``,
    up to `max_target_len` tokens, stopping at [SEP], and character-level ROUGE-L against the
    headline as written. The LM head is the pre-trained, embedding-tied `lm_head`.

    max_target_len: longest headline in tokens (training truncation and decoding budget).
    """

    task, paradigm = "headline", "nlg"

    def __init__(self, max_target_len: int = 32, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if isinstance(max_target_len, bool) or not isinstance(max_target_len, int) or \
                max_target_len < 1:
            raise ValueError(f"{type(self).__name__}.max_target_len={max_target_len!r} must be "
                             "an int >= 1")
        self.max_target_len = max_target_len
        #: (reference, generated) pairs of the last evaluation epoch, for a look at the outputs
        self.predictions: list[tuple[str, str]] = []

    def loss(self, batch: dict[str, Any]) -> Tensor:
        # mem_len=0: each example is one segment, so no recurrence memory is built
        hidden = self.model.forward_nlg(batch["input_ids"], attention_mask=batch["attention_mask"],
                                        task_type_ids=batch["task_type_ids"], mem_len=0).hidden
        targets = batch["labels"] != IGNORE_INDEX  # (B, T): headline positions only
        logits = self.model.lm_logits(hidden[targets])  # (N, V)
        return F.cross_entropy(logits, batch["labels"][targets])

    def generate_ids(self, prompt_ids: Tensor) -> list[int]:
        """Greedy headline ids after `prompt_ids` (Q,) = ``body [SEP]``, up to the first [SEP]."""
        prompt = prompt_ids[None]  # (1, Q)
        tasks = torch.full_like(prompt, int(TaskType.NLG))
        out = greedy_decode(self.model, prompt, max_new_tokens=self.max_target_len + 1,
                            task_type_ids=tasks)[0, prompt.size(1):].tolist()
        sep = self.tokenizer.sep_id
        return out[: out.index(sep)] if sep in out else out[: self.max_target_len]

    def headline(self, body: str) -> str:
        """A headline for the article `body` (cut to fit the model, as in training)."""
        budget = self.config.max_seq_len - self.max_target_len - 2
        ids = self.tokenizer.encode(body)[:budget] + [self.tokenizer.sep_id]
        was_training = self.training
        self.eval()  # greedy decoding with the KV cache must run without dropout
        try:
            return self.tokenizer.decode(self.generate_ids(torch.tensor(ids, device=self.device)))
        finally:
            self.train(was_training)

    def eval_sums(self, batch: dict[str, Any]) -> tuple[Tensor, Tensor]:
        loss = self.loss(batch)
        total = 0.0
        for row, reference in enumerate(batch["reference"]):
            prompt = batch["input_ids"][row, : int(batch["prompt_length"][row])]
            generated = self.tokenizer.decode(self.generate_ids(prompt))
            self.predictions.append((reference, generated))
            total += rouge_l(generated, reference)
        sums = torch.tensor([total, len(batch["reference"])], device=loss.device)
        return loss, sums

    def metrics_from_sums(self, sums: Tensor) -> dict[str, float]:
        return {"rouge_l": float(sums[0] / sums[1].clamp(min=1))}

    def on_validation_epoch_start(self) -> None:
        super().on_validation_epoch_start()
        self.predictions = []

    on_test_epoch_start = on_validation_epoch_start


#: the module class of each task name
TASK_MODULES: dict[str, type[FinetuneModule]] = {
    "sentiment": SequenceClassificationModule, "ner": TokenClassificationModule,
    "headline": HeadlineGenerationModule}
