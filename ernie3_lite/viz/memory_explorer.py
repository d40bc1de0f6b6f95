"""`RecurrenceExplorer`: two sliders (layer, segment) over `memory_plots.plot_segment_reach`.

A thin ipywidgets layer for notebook 04: all logic lives in the pure functions of `memory_plots`;
the widget keeps its state in traits (slider values, the PNG in ``image.value``, the summary in
``text.value``), so it can be driven and checked without a browser:
``explorer.layer.value = 2; print(explorer.summary())``.
"""

from __future__ import annotations

import io

import ipywidgets as widgets

from ernie3_lite.config import RECURRENCE_KINDS
from ernie3_lite.viz.memory_plots import context_lengths, plot_segment_reach, receptive_field


class RecurrenceExplorer:
    """Pick a layer and a segment; see which tokens each query of that segment depends on,
    for Transformer-XL (``xl``) and ERNIE-Doc (``same_layer``) recurrence side by side."""

    def __init__(self, *, n_layer: int = 6, seg_len: int = 4, mem_len: int = 2,
                 n_segments: int = 5, dpi: int = 72) -> None:
        self.sizes = dict(n_layer=n_layer, seg_len=seg_len, mem_len=mem_len,
                          n_segments=n_segments)
        self.dpi = dpi
        self.reach = {kind: receptive_field(recurrence=kind, **self.sizes)
                      for kind in RECURRENCE_KINDS}  # (L+1, T, T) each
        self.layer = widgets.IntSlider(value=n_layer, min=0, max=n_layer, description="layer")
        self.segment = widgets.IntSlider(value=n_segments - 1, min=0, max=n_segments - 1,
                                         description="segment")
        self.text = widgets.HTML()
        self.image = widgets.Image(format="png")
        for slider in (self.layer, self.segment):
            slider.observe(self._update, names="value")
        self.widget = widgets.VBox([widgets.HBox([self.layer, self.segment]), self.text,
                                    self.image])
        self._update()

    def summary(self) -> str:
        """How far back the last query of the chosen segment reaches, per recurrence kind."""
        seg_len = self.sizes["seg_len"]
        last = (self.segment.value + 1) * seg_len - 1
        parts = [f"layer {self.layer.value}, segment {self.segment.value} "
                 f"(positions {last - seg_len + 1}-{last}); its last query depends on"]
        for kind in RECURRENCE_KINDS:
            length = int(context_lengths(self.reach[kind])[self.layer.value, last])
            parts.append(f"{kind}: positions {last - length + 1}-{last} ({length} tokens)")
        return parts[0] + " " + "; ".join(parts[1:])

    def _update(self, change=None) -> None:
        fig = plot_segment_reach(layer=self.layer.value, segment=self.segment.value,
                                 **self.sizes)
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=self.dpi)
        self.image.value = buffer.getvalue()
        self.text.value = f"<code>{self.summary()}</code>"

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)
