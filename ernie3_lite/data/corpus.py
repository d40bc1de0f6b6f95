"""One data folder (`data_samples/` or a full build) as the five pre-training tasks read it.

`PretrainingCorpus` ties the readers, the tokenizer and the segmenter together: it knows where
the news documents, the aligned (triple, sentence) pairs and the vocabulary live in the layout of
`data_samples/README.md`, splits paragraphs into sentences, and segments + tokenizes a text once
(`encode`), which is the slow step every masked task needs (ERNIE 3.0 arXiv 2107.02137 §3.2).

``unit_spans=False`` gives every text no word / phrase / entity unit, so the masker can only pick
single characters: BERT's character-level masking, the baseline ERNIE 1.0 (arXiv 1904.09223
§4) compares knowledge masking with.

``poetry_share`` > 0 adds classical poems (`poetry/<split>.jsonl`, the second register) to the
text of the document LM and the knowledge masked LM, about that many poem characters per news
character (the first poems of the split file, which is in hash order, so the genres mix), spread
evenly between the news documents. Sentence reordering and distance stay on news: across
registers "another document" would be told apart by style alone. 0, the default, is news only.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from ernie3_lite.data.formats import (
    ALIGNED_KEYS,
    DataFormatError,
    NewsDocument,
    numbered_lines,
    read_aligned,
    read_news,
)
from ernie3_lite.data.masking import EncodedText, encode_segmented
from ernie3_lite.data.peoples_daily import split_sentences
from ernie3_lite.data.poetry import read_poems
from ernie3_lite.data.segmentation import Segmenter
from ernie3_lite.tokenization import CharTokenizer

__all__ = ["ALIGNED_KEYS", "NEWS_TASKS", "PretrainingCorpus", "check_splits_have_records"]
NEWS_TASKS = ("kmlm", "dlm", "sr", "sd")  # the tasks built from the news documents; UKTP is not


def split_files(data_dir: str | Path, split: str) -> dict[str, Path]:
    """The two files of a split: news documents and aligned (triple, sentence) pairs."""
    data_dir = Path(data_dir)
    return {"news": data_dir / "news" / f"{split}.jsonl",
            "aligned": data_dir / "kg" / f"aligned_{split}.jsonl"}


def check_splits_have_records(data_dir: str | Path, tasks: tuple[str, ...],
                              splits: tuple[str, ...] = ("train", "valid")) -> None:
    """Refuse an empty news or aligned file that `tasks` need, by name, before anything is
    segmented (an empty news split used to fail deep in the document LM with "0 tokens cannot
    fill 2 rows"). Only the first record is looked for, so this costs nothing on a big file;
    a missing file is left to the reader, which names it."""
    for split in splits:
        for kind, path in split_files(data_dir, split).items():
            needed = set(tasks) & set(NEWS_TASKS if kind == "news" else ("uktp",))
            if needed and path.is_file() and not any(line.strip() for _, line in
                                                     numbered_lines(path)):
                raise DataFormatError(f"no records: the {split} split is empty, and "
                                      f"{sorted(needed)} need it", path=path)


class PretrainingCorpus:
    """The `split` of a data folder: documents, sentences, aligned pairs, tokenizer, segmenter.

    The segmenter (jieba + the graph's entity names) is built on first use, so a corpus that only
    feeds the document LM never loads jieba.
    """

    def __init__(
        self,
        data_dir: str | Path,
        *,
        split: str = "train",
        tokenizer: CharTokenizer | None = None,
        segmenter: Segmenter | None = None,
        unit_spans: bool = True,
        poetry_share: float = 0.0,
    ):
        if not poetry_share >= 0:
            raise ValueError(f"poetry_share={poetry_share!r} must be >= 0")
        self.data_dir, self.split = Path(data_dir), split
        self.unit_spans, self.poetry_share = unit_spans, poetry_share
        self.tokenizer = tokenizer or CharTokenizer.from_file(self.data_dir / "vocab.txt")
        self._segmenter = segmenter
        self._encoded: dict[str, EncodedText] = {}

    @property
    def files(self) -> dict[str, Path]:
        """{"news": ..., "aligned": ...}: the files this split is read from."""
        return split_files(self.data_dir, self.split)

    @cached_property
    def documents(self) -> list[NewsDocument]:
        return read_news(self.files["news"])

    @cached_property
    def aligned(self) -> list[dict]:
        """(triple, sentence) pairs found by distant supervision, for UKTP (§3.2.3)."""
        return read_aligned(self.files["aligned"])

    @property
    def segmenter(self) -> Segmenter:
        if self._segmenter is None:
            self._segmenter = Segmenter.from_triples(self.data_dir / "kg" / "triples.tsv")
        return self._segmenter

    @cached_property
    def paragraph_sentences(self) -> list[list[str]]:
        """Every paragraph of every document as its list of sentences (sentence reordering)."""
        return [
            [paragraph[start:end].strip() for start, end in split_sentences(paragraph)]
            for doc in self.documents
            for paragraph in doc.paragraphs
        ]

    @cached_property
    def document_sentences(self) -> list[list[str]]:
        """Each document as one list of sentences, headline first (sentence distance)."""
        out = []
        for doc in self.documents:
            sentences = [doc.headline] if doc.headline else []
            for paragraph in doc.paragraphs:
                sentences += [paragraph[s:e].strip() for s, e in split_sentences(paragraph)]
            out.append([s for s in sentences if s])
        return out

    @cached_property
    def poem_sentences(self) -> list[list[str]]:
        """The poems `poetry_share` asks for, each as its list of sentences (couplets, mostly)."""
        if not self.poetry_share:
            return []
        budget = self.poetry_share * sum(len("".join(d)) for d in self.document_sentences)
        out: list[list[str]] = []
        for poem in read_poems(self.data_dir / "poetry" / f"{self.split}.jsonl"):
            if budget <= 0:
                break
            out.append([p[s:e].strip() for p in poem.paragraphs for s, e in split_sentences(p)])
            budget -= len(poem.text())
        return [sentences for sentences in out if any(sentences)]

    @cached_property
    def lm_documents(self) -> list[list[str]]:
        """The documents of the two LM tasks: news, with the poems spread evenly between them
        (a poem j of n sits at (j + 0.5) / n of the way through the news)."""
        news, poems = self.document_sentences, self.poem_sentences
        if not poems:
            return news
        slots = [(i / len(news), 0, i) for i in range(len(news))]
        slots += [((j + 0.5) / len(poems), 1, j) for j in range(len(poems))]
        return [(news if kind == 0 else poems)[k] for _, kind, k in sorted(slots)]

    def sentences(self) -> list[str]:
        """All sentences in document order (knowledge masked LM packs them per document)."""
        return [s for doc in self.lm_documents for s in doc]

    def document_tokens(self) -> list[list[int]]:
        """Each document as one token list, headline and paragraphs joined (document LM)."""
        return [self.tokenizer.encode("".join(sentences)) for sentences in self.lm_documents]

    def encode(self, text: str) -> EncodedText:
        """Token ids plus word / phrase / entity units of `text`, computed once per text
        (no units, and no segmenting, with ``unit_spans=False``)."""
        if text not in self._encoded:
            if self.unit_spans:
                analysed = self.segmenter.analyse(text)
                self._encoded[text] = encode_segmented(self.tokenizer, analysed)
            else:  # the same ids `encode_segmented` gives, from the same tokenizer call
                ids, _ = self.tokenizer.encode_with_offsets(text)
                self._encoded[text] = EncodedText(tuple(ids))
        return self._encoded[text]
