"""Data: corpora readers, the knowledge graph, segmentation, knowledge masking, the five tasks.

Plain Python and PyTorch tensors only: nothing here imports Lightning or `ernie3_lite.model`.

The batch builders of ERNIE 3.0's five pre-training tasks (arXiv 2107.02137 §3.2), one module
each, named after the paper's task:

| task (paper)                                 | builder                   | module           |
|----------------------------------------------|---------------------------|------------------|
| knowledge masked LM (§3.2.1)                 | `KnowledgeMaskedLM`       | `kmlm`           |
| document LM (§3.2.1)                         | `DocumentStream`          | `dlm`            |
| sentence reordering (§3.2.2)                 | `SentenceReordering`      | `sentence_tasks` |
| sentence distance (§3.2.2)                   | `SentenceDistance`        | `sentence_tasks` |
| universal knowledge-text prediction (§3.2.3) | `KnowledgeTextPrediction` | `uktp`           |

The NLU builders return dicts of tensors (`input_ids`, `token_type_ids`, `task_type_ids` (T,) and
`labels`), which `collate.collate` pads into batches; each owns a seeded `random.Random`.
`training.multitask` puts one micro-batch of each into every training step.
"""
