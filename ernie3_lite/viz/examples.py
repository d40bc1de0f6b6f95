"""Real example sentences for the widgets, picked from the shipped data by fixed rules.

The widgets never show sentences written by us: their defaults come from People's Daily news and
the (triple, sentence) pairs aligned to the knowledge graph in `data_samples/` (see its README).
"""

from __future__ import annotations

from pathlib import Path

from ernie3_lite import DATA_SAMPLES
from ernie3_lite.data.formats import read_jsonl, read_news
from ernie3_lite.data.peoples_daily import split_sentences


def kg_sentence(data_dir: str | Path = DATA_SAMPLES, *, max_chars: int = 60) -> str:
    """The first aligned training sentence (it names a head and a tail of the graph)."""
    pairs = read_jsonl(Path(data_dir) / "kg" / "aligned_train.jsonl", required_keys=("sentence",))
    return next(p["sentence"] for p in pairs if len(p["sentence"]) <= max_chars)


def news_sentences(data_dir: str | Path = DATA_SAMPLES, *, split: str = "train") -> list[str]:
    """Every sentence of the news `split`, in document order (paragraphs cut after 。!?)."""
    out = []
    for doc in read_news(Path(data_dir) / "news" / f"{split}.jsonl"):
        for paragraph in doc.paragraphs:
            out += [paragraph[s:e].strip() for s, e in split_sentences(paragraph)]
    return [s for s in out if s]


def news_sentence(data_dir: str | Path = DATA_SAMPLES, *, min_chars: int = 12,
                  max_chars: int = 24, index: int = 0) -> str:
    """The `index`-th news sentence with min_chars..max_chars characters (short enough to plot)."""
    fitting = [s for s in news_sentences(data_dir) if min_chars <= len(s) <= max_chars]
    return fitting[index]
