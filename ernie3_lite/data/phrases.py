"""Phrases from POS-tagged words: the phrase level of knowledge masking (ERNIE 1.0 arXiv
1904.09223 §3.2 masks phrases as whole units; ERNIE 3.0 arXiv 2107.02137 §3.2.1 keeps it).

ERNIE 1.0 finds English phrases with a chunker and Chinese ones with language-dependent
segmentation tools; here a small rule chunker over jieba's POS flags does it (`chunk_phrases`).
A change to these rules must bump `segmentation.RULES_VERSION`: segmentations cached on disk
hold the phrases of the old rules.
"""

from __future__ import annotations

from ernie3_lite.data.spans import Span

NOUNS = {"n", "nr", "ns", "nt", "nz", "nx", "ng", "vn", "an", "j", "nrt", "nrfg"}
MODIFIERS = NOUNS | {"a", "b", "ag"}
ADVERBS = {"d"}
VERBS = {"v", "vd", "vi"}
MAX_PHRASE_WORDS = 4  # a longer noun run is cut: masking a whole sentence teaches nothing


def chunk_phrases(words: list[Span]) -> list[Span]:
    """Multi-word phrases by POS, left to right; at each word the first rule that matches wins.

    QP     numeral + measure: one or more m words, then an optional q word (一/m 年/q)
    TP     time: two or more t words (12月/t 31日/t)
    NP     modifiers (a, b, nouns) ending in a noun, 2..MAX_PHRASE_WORDS words
           (中央/n 人民/n 广播/vn 电台/n; 特别/a 行政区/n)
    VP     one or more adverbs, then a verb (决心/d 继承/v)
    IDIOM  an idiom or fixed expression jieba keeps as one word (flags i, l)
    Every phrase except IDIOM has at least two words. Phrases never overlap and never span a gap
    between words (whitespace, dropped by `Segmenter.words`).
    """
    phrases, i = [], 0
    while i < len(words):
        end, label = _match_phrase(words, i)
        if end > i:
            phrases.append(Span(words[i].start, words[end - 1].end, label))
            i = end
        else:
            i += 1
    return phrases


def _match_phrase(words: list[Span], i: int) -> tuple[int, str]:
    """(end word index, label) of the phrase starting at words[i]; end == i when none does."""

    def run(start: int, flags: set[str]) -> int:  # end of the adjacent run with these flags
        j = start
        while j < len(words) and words[j].label in flags and (
                j == start or words[j - 1].end == words[j].start):
            j += 1
        return j

    def next_is(j: int, flags: set[str]) -> bool:
        return j < len(words) and words[j].label in flags and words[j - 1].end == words[j].start

    j = run(i, {"m"})
    if j > i and next_is(j, {"q"}):
        j += 1
    if j - i >= 2:
        return j, "QP"
    if run(i, {"t"}) - i >= 2:
        return run(i, {"t"}), "TP"
    j = min(run(i, MODIFIERS), i + MAX_PHRASE_WORDS)
    while j > i and words[j - 1].label not in NOUNS:
        j -= 1
    if j - i >= 2:
        return j, "NP"
    j = run(i, ADVERBS)
    if j > i and next_is(j, VERBS):
        return j + 1, "VP"
    if words[i].label in ("i", "l"):
        return i + 1, "IDIOM"
    return i, ""
