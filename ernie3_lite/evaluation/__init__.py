"""Zero-shot evaluation and the knowledge probe (ERNIE 3.0 arXiv 2107.02137 §4.3).

Reading order: `scoring` (log-likelihood on the NLG path, whole-span masked-LM score on the NLU
path) -> `ranking` (ranks, accuracy@k, the random baseline) -> `cloze` (rank candidate fillers
of a blank) -> `zeroshot` (classification by label words, optionally calibrated) ->
`kg_queries` (graph triples as cloze queries: real sentences or templates) -> `probe` (held-out
triples, with the leak check) -> `cli` (``python -m ernie3_lite.evaluation zeroshot|probe``).
Plain PyTorch: no Lightning.
"""

from ernie3_lite.evaluation.cloze import ClozeQuery, evaluate_cloze, rank_queries, score_cloze
from ernie3_lite.evaluation.kg_queries import (
    TEMPLATES,
    aligned_cloze_queries,
    sentence_query,
    tails_by_relation,
    template_query,
    true_tails,
)
from ernie3_lite.evaluation.probe import (
    ProbeLeakError,
    check_no_leak,
    knowledge_probe,
    load_probe_data,
)
from ernie3_lite.evaluation.ranking import RankedQuery, gold_rank, random_hit_rate, summarize
from ernie3_lite.evaluation.scoring import (
    SequenceScores,
    continuation_log_likelihood,
    masked_span_log_likelihood,
    shared_context_log_likelihood,
)
from ernie3_lite.evaluation.zeroshot import (
    REVIEW_VERBALIZERS,
    Verbalizer,
    evaluate_zero_shot,
    label_scores,
    zero_shot_classify,
)

__all__ = [
    "REVIEW_VERBALIZERS",
    "TEMPLATES",
    "ClozeQuery",
    "ProbeLeakError",
    "RankedQuery",
    "SequenceScores",
    "Verbalizer",
    "aligned_cloze_queries",
    "check_no_leak",
    "continuation_log_likelihood",
    "evaluate_cloze",
    "evaluate_zero_shot",
    "gold_rank",
    "knowledge_probe",
    "label_scores",
    "load_probe_data",
    "masked_span_log_likelihood",
    "random_hit_rate",
    "rank_queries",
    "score_cloze",
    "sentence_query",
    "shared_context_log_likelihood",
    "summarize",
    "tails_by_relation",
    "template_query",
    "true_tails",
    "zero_shot_classify",
]
