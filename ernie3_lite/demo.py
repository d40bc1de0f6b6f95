"""`make demo` / `python -m ernie3_lite demo`: the data pipeline end to end on shipped data.

Prints the corpus and knowledge-graph statistics of a data folder, then builds one example of
each of ERNIE 3.0's five pre-training tasks (arXiv 2107.02137 §3.2) from real sentences and shows
what the model will see: knowledge masked LM, document LM, sentence reordering, sentence
distance and universal knowledge-text prediction.
"""

from __future__ import annotations

import time
from itertools import islice
from pathlib import Path

from ernie3_lite import DATA_SAMPLES
from ernie3_lite.data.__main__ import stats
from ernie3_lite.data.corpus import PretrainingCorpus
from ernie3_lite.data.masking import render_masked_example
from ernie3_lite.data.tasks import (
    DocumentStream,
    KnowledgeMaskedLM,
    KnowledgeTextPrediction,
    SentenceDistance,
    SentenceReordering,
)

DISTANCE_NAMES = ("adjacent", "same document, not adjacent", "different documents")


def _heading(title: str) -> None:
    print(f"\n== {title} " + "=" * max(0, 72 - len(title)))


def _show_ids(tokenizer, ids) -> str:
    return tokenizer.decode([int(i) for i in ids], skip_special_tokens=False)


def knowledge_masked_lm(corpus: PretrainingCorpus, *, seed: int) -> None:
    _heading("1. knowledge masked LM (NLU network; ERNIE 1.0 char / phrase / entity masking)")
    text = next(s for s in corpus.sentences() if len(corpus.encode(s).spans.entity) >= 2)
    masked = KnowledgeMaskedLM(corpus.tokenizer, max_len=128, seed=seed).mask(corpus.encode(text))
    print(render_masked_example(corpus.tokenizer, masked.original_ids, masked.masked))
    print("model input:", _show_ids(corpus.tokenizer, masked.masked.input_ids))
    levels = [u.level for u in masked.masked.units]
    n_labels = int((masked.masked.labels != -100).sum())
    print(f"{n_labels} of {len(masked.original_ids)} tokens to predict; units: "
          + ", ".join(f"{lv} x{levels.count(lv)}" for lv in sorted(set(levels))))


def document_lm(corpus: PretrainingCorpus, *, seg_len: int = 24) -> None:
    _heading("2. document LM (NLG network; contiguous streams, memory flows across segments)")
    stream = DocumentStream.from_documents(
        corpus.document_tokens(), sep_id=corpus.tokenizer.sep_id, batch_size=2, seg_len=seg_len
    )
    first, second = islice(stream, 2)
    print(f"{stream.rows.shape[1]} tokens per row, {len(stream)} segments of {seg_len}")
    for row in range(2):
        print(f"row {row}, segment 1: {_show_ids(corpus.tokenizer, first['input_ids'][row])}")
        print(f"row {row}, segment 2: {_show_ids(corpus.tokenizer, second['input_ids'][row])}")
    print("labels are the inputs shifted by one:",
          bool((first["labels"][:, :-1] == first["input_ids"][:, 1:]).all()))


def sentence_reordering(corpus: PretrainingCorpus, *, seed: int) -> None:
    _heading("3. sentence reordering (NLU; k = 1! + 2! + 3! = 9 classes for m = 3)")
    paragraph = next(p for p in corpus.paragraph_sentences if 3 <= len(p) <= 5)
    task = SentenceReordering(corpus.tokenizer, max_len=256, max_segments=3, seed=seed)
    segments, perm = task.split(paragraph)
    for k, p in enumerate(perm):
        shown = _show_ids(corpus.tokenizer, segments[p])
        print(f"shown {k + 1}: (original segment {p + 1}) {shown}")
    print(f"label: permutation {perm} -> class {task(paragraph)['labels'].item()} "
          f"of {task.num_classes}")


def sentence_distance(corpus: PretrainingCorpus, *, seed: int) -> None:
    _heading("4. sentence distance (NLU; 3 classes)")
    task = SentenceDistance(corpus.tokenizer, corpus.document_sentences, max_len=128, seed=seed)
    for _ in range(3):
        pair = task.sample_pair()
        example = task.encode(pair)
        print(f"[{DISTANCE_NAMES[pair.label]}] {_show_ids(corpus.tokenizer, example['input_ids'])}")


def knowledge_text_prediction(corpus: PretrainingCorpus, *, seed: int) -> None:
    _heading("5. universal knowledge-text prediction (NLU; triple + aligned sentence)")
    task = KnowledgeTextPrediction(corpus.tokenizer, max_len=128, relation_prob=1.0, seed=seed)
    for pair in corpus.aligned[:2]:
        masked = task.mask(head=pair["head"], relation=pair["relation"], tail=pair["tail"],
                           sentence=corpus.encode(pair["sentence"]))
        print(f"({pair['head']}, {pair['relation']}, {pair['tail']})")
        print("  ", render_masked_example(corpus.tokenizer, masked.original_ids, masked.masked))


def run(data_dir: str | Path = DATA_SAMPLES, *, seed: int = 0) -> None:
    started = time.perf_counter()
    _heading(f"corpus and knowledge-graph statistics: {data_dir}")
    stats(Path(data_dir))
    corpus = PretrainingCorpus(data_dir, split="train")
    knowledge_masked_lm(corpus, seed=seed)
    document_lm(corpus)
    sentence_reordering(corpus, seed=seed)
    sentence_distance(corpus, seed=seed)
    knowledge_text_prediction(corpus, seed=seed)
    print(f"\ndemo finished in {time.perf_counter() - started:.1f} s")
