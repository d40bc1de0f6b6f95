"""`AttentionExplorer`: the shipped pre-trained model's attention, layer by layer, head by head.

Type a sentence, choose the NLU (bidirectional) or NLG (causal) paradigm, the universal module or
the task module on top (ERNIE 3.0 arXiv 2107.02137 §3.1), and a layer and head; the widget shows
that head's attention probabilities next to the relative distances i - j that Transformer-XL's
attention scores by (arXiv 1901.02860 §3.3). A thin shell over `attention_maps` (pure functions):
the figure goes into an `Image` widget as PNG bytes (a trait, testable without a kernel) and the
last `Figure` stays on `self.figure` for inspection.
"""

from __future__ import annotations

import io

import ipywidgets as widgets
import torch

from ernie3_lite import PRETRAINED_NANO
from ernie3_lite.viz.attention_maps import AttentionMaps, attention_maps, plot_attention
from ernie3_lite.viz.examples import news_sentence


class AttentionExplorer:
    """Text, paradigm, stack, layer and head controls over an image of one attention head.

    `model` and `tokenizer` default to the shipped pre-trained `nano`
    (`ernie3_lite.PRETRAINED_NANO`); `text` to a short real People's Daily sentence. The forward
    pass runs once per text and paradigm; sliders only pick from its stored probabilities.
    """

    def __init__(self, text: str | None = None, *, model=None, tokenizer=None,
                 paradigm: str = "nlu", stack: str = "universal", layer: int = 0,
                 head: int = 0, dpi: int = 72) -> None:
        if model is None:
            from ernie3_lite.model.ernie3 import Ernie3Model

            model = Ernie3Model.from_pretrained(PRETRAINED_NANO)
        if tokenizer is None:
            from ernie3_lite.tokenization import CharTokenizer

            tokenizer = CharTokenizer.from_file(PRETRAINED_NANO / "vocab.txt")
        self.model, self.tokenizer, self.dpi = model.eval(), tokenizer, dpi
        self.text = widgets.Text(value=text if text is not None else news_sentence(),
                                 description="text", continuous_update=False,
                                 layout=widgets.Layout(width="100%"))
        self.paradigm = widgets.ToggleButtons(
            options=[("NLU (bidirectional)", "nlu"), ("NLG (causal)", "nlg")], value=paradigm,
            description="paradigm")
        self.stack = widgets.ToggleButtons(
            options=[("universal module", "universal"), ("task module", "task")], value=stack,
            description="stack")
        self.layer = widgets.IntSlider(value=0, min=0, max=0, description="layer")
        self.head = widgets.IntSlider(value=0, min=0, max=0, description="head")
        self.caption = widgets.HTML()
        self.image = widgets.Image(format="png")
        self.maps: AttentionMaps | None = None
        self.figure = None
        self._quiet = False  # set while several controls change at once: draw once at the end
        self._run_model()
        self._set_ranges(layer=layer, head=head)
        self.text.observe(self._on_input, names="value")
        self.paradigm.observe(self._on_input, names="value")
        self.stack.observe(self._on_stack, names="value")
        self.layer.observe(self._on_slider, names="value")
        self.head.observe(self._on_slider, names="value")
        self.widget = widgets.VBox([self.text, self.paradigm, self.stack,
                                    widgets.HBox([self.layer, self.head]), self.caption,
                                    self.image])
        self.redraw()

    # ---- state changes ---------------------------------------------------------------------
    def _run_model(self) -> None:
        self.maps = attention_maps(self.model, self.tokenizer, self.text.value,
                                   paradigm=self.paradigm.value)

    def _set_ranges(self, *, layer: int, head: int) -> None:
        """Fit the sliders to the chosen stack's layers and heads without redrawing twice."""
        n_layer, n_head = self.maps.weights[self.stack.value].shape[:2]
        self._quiet = True
        try:
            self.layer.max, self.head.max = n_layer - 1, n_head - 1
            self.layer.value, self.head.value = min(layer, n_layer - 1), min(head, n_head - 1)
        finally:
            self._quiet = False

    def _on_input(self, change: dict) -> None:
        if not self.tokenizer.encode(self.text.value):
            self.caption.value = "<i>type a sentence</i> (the picture is of the last one)"
            return
        self._run_model()
        self._set_ranges(layer=self.layer.value, head=self.head.value)
        self.redraw()

    def _on_stack(self, change: dict) -> None:
        self._set_ranges(layer=self.layer.value, head=self.head.value)
        self.redraw()

    def _on_slider(self, change: dict) -> None:
        if not self._quiet:
            self.redraw()

    # ---- output ----------------------------------------------------------------------------
    def probs(self) -> torch.Tensor:
        """(T, T) probabilities of the selected head."""
        return self.maps.probs(stack=self.stack.value, layer=self.layer.value,
                               head=self.head.value)

    def title(self) -> str:
        module = "universal" if self.stack.value == "universal" else self.paradigm.value.upper()
        return (f"{self.paradigm.value.upper()} input, {module} module, "
                f"layer {self.layer.value}, head {self.head.value}")

    def redraw(self) -> None:
        """Draw the selected head into `self.figure` and `image.value` (PNG bytes)."""
        causal = self.paradigm.value == "nlg"
        self.figure = plot_attention(self.maps.tokens, self.probs(), causal=causal,
                                     title=self.title())
        buffer = io.BytesIO()
        self.figure.savefig(buffer, format="png", dpi=self.dpi)
        self.image.value = buffer.getvalue()
        self.caption.value = (f"<b>{self.title()}</b>: {len(self.maps.tokens)} tokens; row i is "
                              "how query i spreads its attention over the keys j (rows sum "
                              "to 1)" + ("; NLG queries cannot see later keys" if causal else ""))

    def summary(self) -> str:
        """Facts about the selected head that do not depend on the trained weights."""
        probs = self.probs()
        rows_sum_to_one = bool(torch.allclose(probs.sum(-1), torch.ones(len(probs)), atol=1e-5))
        lines = [self.title(), f"tokens ({len(self.maps.tokens)}): {' '.join(self.maps.tokens)}",
                 f"probs {tuple(probs.shape)}, rows sum to 1: {rows_sum_to_one}"]
        if self.paradigm.value == "nlg":  # exact: the causal mask gives later keys 0
            lines.append(f"attention to later keys: {float(probs.triu(1).sum())}")
        return "\n".join(lines)

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)
