"""`MaskingExplorer`: type a sentence, pick char / phrase / entity masking, see what is hidden.

ERNIE 1.0 (arXiv 1904.09223 §3.2) masks units of knowledge (phrases, entities) instead of single
characters; ERNIE 3.0 keeps this as knowledge masked LM (arXiv 2107.02137 §3.2.1). The widget is
a thin shell over `masking_view` (pure functions, tested on their own): its whole state lives in
widget traits (`text.value`, `mode.value`, `seed.value`, `html.value`), so tests drive it by
setting values and clicking, with no kernel or browser.
"""

from __future__ import annotations

from pathlib import Path

import ipywidgets as widgets

from ernie3_lite import DATA_SAMPLES
from ernie3_lite.data.segmentation import Segmenter
from ernie3_lite.tokenization import CharTokenizer
from ernie3_lite.viz.examples import kg_sentence
from ernie3_lite.viz.masking_view import (
    MODES,
    MaskingView,
    mask_sentence,
    masking_html,
    masking_summary,
)

MODE_LABELS = {"char": "字 char", "phrase": "短语 phrase", "entity": "实体 entity",
               "mixed": "混合 mixed (pre-training)"}


class MaskingExplorer:
    """Text box, masking-level toggle, seed and a "re-mask" button over an HTML view.

    `text` defaults to a real sentence aligned to the knowledge graph (it names two graph
    entities); `tokenizer` and `segmenter` default to those of `data_dir`. "re-mask" moves to the
    next seed, so every picture can be reproduced from its seed.
    """

    def __init__(self, text: str | None = None, *, mode: str = "entity", seed: int = 0,
                 data_dir: str | Path = DATA_SAMPLES, tokenizer: CharTokenizer | None = None,
                 segmenter: Segmenter | None = None) -> None:
        data_dir = Path(data_dir)
        self.tokenizer = tokenizer or CharTokenizer.from_file(data_dir / "vocab.txt")
        self.segmenter = segmenter or Segmenter.from_triples(data_dir / "kg" / "triples.tsv")
        self.text = widgets.Textarea(
            value=text if text is not None else kg_sentence(data_dir), description="text",
            continuous_update=False, layout=widgets.Layout(width="100%", height="4em"))
        self.mode = widgets.ToggleButtons(
            options=[(MODE_LABELS[m], m) for m in MODES], value=mode, description="masking")
        self.seed = widgets.IntText(value=seed, description="seed",
                                    layout=widgets.Layout(width="12em"))
        self.remask = widgets.Button(description="re-mask 重新遮盖", icon="refresh")
        self.html = widgets.HTML()
        self.view: MaskingView | None = None
        for control in (self.text, self.mode, self.seed):
            control.observe(self.update, names="value")
        self.remask.on_click(self._next_seed)
        self.widget = widgets.VBox([
            self.text, self.mode, widgets.HBox([self.seed, self.remask]), self.html])
        self.update()

    def update(self, change: dict | None = None) -> None:
        """Re-run the masker on the current controls and refresh `html.value`."""
        if not self.text.value.strip():
            self.view, self.html.value = None, "<i>type a sentence</i>"
            return
        self.view = mask_sentence(self.text.value, mode=self.mode.value, seed=self.seed.value,
                                  tokenizer=self.tokenizer, segmenter=self.segmenter)
        self.html.value = masking_html(self.view)

    def _next_seed(self, button: widgets.Button | None = None) -> None:
        self.seed.value += 1  # the observer re-masks

    def summary(self) -> str:
        """The current masking as plain text (for checked notebook cells)."""
        return "(no text)" if self.view is None else masking_summary(self.view)

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)
