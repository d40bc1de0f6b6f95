"""Fine-tuning the pre-trained ERNIE 3.0 network on downstream tasks (arXiv 2107.02137 §4.2).

Three tasks on the shipped real data (data_samples/README.md), each with the paper's kind of
metric: review sentiment (accuracy, §4.2.1), People's Daily NER (entity F1, §4.2.1) and headline
generation (character ROUGE-L, §4.2.2). Each LightningModule wraps an `Ernie3Model` loaded from a
`save_pretrained` folder (default: the shipped nano) or built from a preset (from scratch), adds
one task head, and can freeze the universal module (§3.1: only the task module trains).

    from ernie3_lite.finetune import finetune
    result = finetune("sentiment", max_epochs=2)        # result.valid["acc"], result.test["acc"]

or from a shell: ``python -m ernie3_lite.finetune fit --config configs/finetune_sentiment.yaml``.
"""

from ernie3_lite.finetune.api import FinetuneResult, evaluate, finetune, load_checkpoint
from ernie3_lite.finetune.base import FinetuneModule
from ernie3_lite.finetune.datamodule import FinetuneDataModule
from ernie3_lite.finetune.metrics import accuracy, mean_rouge_l, rouge_l, span_scores
from ernie3_lite.finetune.modules import (
    TASK_MODULES,
    HeadlineGenerationModule,
    SequenceClassificationModule,
    TokenClassificationModule,
)

__all__ = [
    "TASK_MODULES", "FinetuneDataModule", "FinetuneModule", "FinetuneResult",
    "HeadlineGenerationModule", "SequenceClassificationModule", "TokenClassificationModule",
    "accuracy", "evaluate", "finetune", "load_checkpoint", "mean_rouge_l", "rouge_l",
    "span_scores",
]
