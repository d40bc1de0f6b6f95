"""Knowledge masking of one sentence, as data, HTML and text (ERNIE 1.0 arXiv 1904.09223 §3.2).

The pure layer under `MaskingExplorer`: `mask_sentence` runs the package's own pipeline
(segmentation -> `encode_segmented` -> `KnowledgeMasker`) in one of ERNIE 1.0's three masking
levels, or in the mixture ERNIE 3.0 pre-training uses (§3.2.1); `masking_html` and
`masking_summary` show which characters are hidden, in which units.
"""

from __future__ import annotations

import html
import random
from dataclasses import dataclass

from ernie3_lite.data.masking import (
    LEVEL_NAMES_ZH,
    EncodedText,
    KnowledgeMasker,
    MaskedExample,
    MaskingConfig,
    encode_segmented,
    masked_units_table,
    render_masked_example,
)
from ernie3_lite.data.spans import SegmentedText

#: ERNIE 1.0's learning stages (basic / phrase / entity level), plus the pre-training mixture
MODES = {
    "char": MaskingConfig(char_prob=1.0, phrase_prob=0.0, entity_prob=0.0),
    "phrase": MaskingConfig(char_prob=0.0, phrase_prob=1.0, entity_prob=0.0),
    "entity": MaskingConfig(char_prob=0.0, phrase_prob=0.0, entity_prob=1.0),
    "mixed": MaskingConfig(),
}
LEVEL_COLOURS = {"char": "#ffe082", "word": "#ffcc80", "phrase": "#90caf9", "entity": "#a5d6a7"}


@dataclass
class MaskingView:
    """One masked sentence: the text, its tokens and units, and the masker's output."""

    text: str
    mode: str
    seed: int
    offsets: list[tuple[int, int]]  # (start, end) in `text` for each token
    segmented: SegmentedText  # words, phrases, entities as character spans with labels
    encoded: EncodedText
    masked: MaskedExample
    rows: list[dict]  # `masked_units_table`: level, start, end, original, shown
    rendered: str  # `render_masked_example`: the text with [实体:...] brackets

    def char_span(self, start: int, end: int) -> tuple[int, int]:
        """Token span [start, end) -> the character span it covers in `text`."""
        return self.offsets[start][0], self.offsets[end - 1][1]

    def candidates(self, level: str) -> list[str]:
        """The units of `level` ("words", "phrases", "entities") as "text (label)"."""
        return [f"{self.text[s.start:s.end]} ({s.label})" for s in getattr(self.segmented, level)]


def mask_sentence(text: str, *, mode: str, seed: int, tokenizer, segmenter) -> MaskingView:
    """Segment, tokenize and knowledge-mask `text` with the `MODES[mode]` config and `seed`.

    No [CLS]/[SEP] around the text, so token indices are the text's own tokens.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {tuple(MODES)}, got {mode!r}")
    segmented = segmenter.analyse(text)
    encoded = encode_segmented(tokenizer, segmented)
    _, offsets = tokenizer.encode_with_offsets(text)
    masker = KnowledgeMasker.from_tokenizer(tokenizer, MODES[mode])
    masked = masker(list(encoded.ids), encoded.spans, rng=random.Random(seed))
    return MaskingView(
        text=text, mode=mode, seed=seed, offsets=offsets, segmented=segmented, encoded=encoded,
        masked=masked,
        rows=masked_units_table(tokenizer, encoded.ids, masked),
        rendered=render_masked_example(tokenizer, encoded.ids, masked),
    )


def _span(text: str, level: str, title: str) -> str:
    style = f"background:{LEVEL_COLOURS[level]};border-radius:3px;padding:0 1px"
    return (f'<span class="unit unit-{level}" title="{html.escape(title)}" style="{style}">'
            f"{html.escape(text)}</span>")


def masking_html(view: MaskingView) -> str:
    """The sentence with masked units highlighted, what the model sees, and a table of units."""
    parts, pos = [], 0
    for row in view.rows:
        start, end = view.char_span(row["start"], row["end"])
        parts.append(html.escape(view.text[pos:start]))
        title = f"{LEVEL_NAMES_ZH[row['level']]} {row['level']}: {row['original']}"
        parts.append(_span(view.text[start:end], row["level"], title))
        pos = end
    parts.append(html.escape(view.text[pos:]))
    n_hidden = sum(r["end"] - r["start"] for r in view.rows)
    legend = " ".join(_span(f"{LEVEL_NAMES_ZH[lv]} {lv}", lv, lv)
                      for lv in ("char", "phrase", "entity"))
    table_rows = "".join(
        f"<tr><td>{i + 1}</td><td>{LEVEL_NAMES_ZH[r['level']]} {r['level']}</td>"
        f"<td>{r['start']}–{r['end']}</td><td>{html.escape(r['original'])}</td>"
        f"<td>{html.escape(r['shown'])}</td></tr>"
        for i, r in enumerate(view.rows))
    entities = "、".join(view.candidates("entities")) or "—"
    phrases = "、".join(view.candidates("phrases")) or "—"
    return (
        f'<div class="masking-view" style="line-height:1.8">'
        f'<div class="masked-text" style="font-size:1.2em">{"".join(parts)}</div>'
        f"<div><b>mode</b> {view.mode}, <b>seed</b> {view.seed}: {n_hidden} of "
        f"{len(view.encoded)} tokens selected in {len(view.rows)} units. {legend}</div>"
        f"<div><b>model input</b>: <code>{html.escape(_model_input(view))}</code></div>"
        f"<div><b>entities</b> (KG = knowledge-graph name, else jieba's tag): "
        f"{html.escape(entities)}<br><b>phrases</b>: {html.escape(phrases)}</div>"
        '<table class="masked-units"><tr><th>#</th><th>unit</th><th>tokens</th>'
        f"<th>original</th><th>model sees</th></tr>{table_rows}</table></div>"
    )


def _model_input(view: MaskingView) -> str:
    """The text as the model gets it: each unit replaced by what `masked_units_table` shows
    ([MASK], a random token or the unchanged one, BERT's 80/10/10)."""
    out, pos = [], 0
    for row in view.rows:
        start, end = view.char_span(row["start"], row["end"])
        out.append(view.text[pos:start])
        out.append(row["shown"])
        pos = end
    out.append(view.text[pos:])
    return "".join(out)


def masking_summary(view: MaskingView) -> str:
    """Plain text for a checked notebook cell: the bracketed text and one line per unit."""
    n_hidden = sum(r["end"] - r["start"] for r in view.rows)
    lines = [f"mode={view.mode} seed={view.seed}: {n_hidden}/{len(view.encoded)} tokens, "
             f"{len(view.rows)} units", view.rendered]
    lines += [f"  {r['level']:<6} tokens {r['start']:>2}-{r['end']:<2} {r['original']} -> "
              f"{r['shown']}" for r in view.rows]
    return "\n".join(lines)
