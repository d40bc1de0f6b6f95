"""`GenerationDemo`: an ipywidgets front end to `ernie3_lite.generation` (ERNIE 3.0 §3.2.1).

The widget only renders: the text comes from `generate_stream`, one token at a time, and every
token is drawn as a ``<span class="tok">`` whose background shows the model's probability of it
(red = surprising, green = expected, on a log scale). The top candidates of the last step are
listed beside it. Everything goes into `HTML` widgets, whose ``value`` is a plain string, so
tests (and nbval) can read what the user sees; the rendering is pure functions below.

    demo = GenerationDemo.from_pretrained()   # the shipped nano model
    demo                                      # in a notebook: the controls and the output
    demo.prompt.value = "本报北京"; demo.strategy.value = "greedy"; print(demo.run().text)
"""

from __future__ import annotations

import html
import math
import threading
from collections.abc import Sequence
from pathlib import Path

import ipywidgets as widgets

from ernie3_lite import PRETRAINED_NANO
from ernie3_lite.generation import (
    STRATEGIES,
    Candidate,
    GenerationConfig,
    GenerationResult,
    generate_stream,
)
from ernie3_lite.generation.cli import load_model
from ernie3_lite.model.ernie3 import Ernie3Model
from ernie3_lite.tokenization import CharTokenizer

#: the People's Daily dateline that opens many documents of data_samples/news
DEFAULT_PROMPT = "本报北京"
#: probabilities below this all get the reddest colour (log scale from here to 1)
MIN_PROBABILITY = 1e-3


def probability_colour(probability: float) -> str:
    """CSS colour for a probability: hue 0 (red) at <= MIN_PROBABILITY to 120 (green) at 1,
    linear in log p, so the 1 %..10 % range of a small model stays distinguishable."""
    p = min(max(probability, MIN_PROBABILITY), 1.0)
    share = (math.log10(p) - math.log10(MIN_PROBABILITY)) / -math.log10(MIN_PROBABILITY)
    return f"hsl({120 * share:.0f}, 85%, 82%)"


def render_tokens(pieces: Sequence[str], probs: Sequence[float]) -> str:
    """One ``<span class="tok">`` per generated token, coloured by its probability."""
    if len(pieces) != len(probs):
        raise ValueError(f"{len(pieces)} pieces but {len(probs)} probabilities")
    return "".join(
        f'<span class="tok" title="p = {p:.3f}" style="background:{probability_colour(p)};'
        f'padding:0 1px;border-radius:2px">{html.escape(piece)}</span>'
        for piece, p in zip(pieces, probs, strict=True))


def render_generation(prompt: str, pieces: Sequence[str], probs: Sequence[float], *,
                      status: str = "") -> str:
    """The prompt (grey), the coloured continuation, and a status line."""
    return (f'<div style="font-size:1.15em;line-height:1.9">'
            f'<span style="color:#777">{html.escape(prompt)}</span>'
            f"{render_tokens(pieces, probs)}</div>"
            f'<div style="color:#888;font-size:0.85em">{html.escape(status)}</div>')


def render_candidates(candidates: Sequence[Candidate]) -> str:
    """An ordered list of the last step's top candidates with their probabilities."""
    items = "".join(
        f'<li><span style="background:{probability_colour(c.probability)};padding:0 3px">'
        f"{html.escape(c.text)}</span> {c.probability:.3f}</li>" for c in candidates)
    return f'<b>top candidates, last step</b><ol class="candidates">{items}</ol>'


def _slider(kind, description: str, **kwargs):
    return kind(description=description, continuous_update=False,
                style={"description_width": "initial"}, **kwargs)


class GenerationDemo:
    """Prompt box, strategy and sampling controls, 生成 / Generate and Stop buttons, output.

    background=True runs each generation in a thread, so that the kernel can take the Stop
    click while tokens stream (in a blocking callback the click waits until the end); tests and
    notebook cells that read the result right away use the default, False.
    """

    def __init__(self, model: Ernie3Model, tokenizer: CharTokenizer, *,
                 prompt: str = DEFAULT_PROMPT, background: bool = False) -> None:
        self.model, self.tokenizer, self.background = model, tokenizer, background
        defaults = GenerationConfig()
        self.prompt = widgets.Textarea(value=prompt, placeholder="prompt (empty: a new document)",
                                       layout=widgets.Layout(width="100%"))
        self.strategy = widgets.Dropdown(options=STRATEGIES, value="sample",
                                         description="strategy")
        self.temperature = _slider(widgets.FloatSlider, "temperature", value=defaults.temperature,
                                   min=0.1, max=2.0, step=0.05, readout_format=".2f")
        self.top_k = _slider(widgets.IntSlider, "top_k (0 = off)", value=defaults.top_k,
                             min=0, max=50)
        self.top_p = _slider(widgets.FloatSlider, "top_p", value=0.9, min=0.05, max=1.0,
                             step=0.05, readout_format=".2f")
        self.repetition_penalty = _slider(widgets.FloatSlider, "repetition penalty",
                                          value=defaults.repetition_penalty, min=1.0, max=2.0,
                                          step=0.05, readout_format=".2f")
        self.num_beams = _slider(widgets.IntSlider, "beams", value=defaults.num_beams, min=1,
                                 max=8)
        self.max_new_tokens = _slider(widgets.IntSlider, "max_new_tokens", value=40, min=1,
                                      max=128)
        self.seed = widgets.IntText(value=0, description="seed")
        self.generate_button = widgets.Button(description="生成 / Generate",
                                              button_style="primary")
        self.stop_button = widgets.Button(description="Stop", disabled=True)
        self.html = widgets.HTML(value=render_generation(prompt, [], []))
        self.candidates = widgets.HTML(value="")
        self.last_result: GenerationResult | None = None
        self._stop_requested = False
        self._thread: threading.Thread | None = None
        self.generate_button.on_click(self._on_generate)
        self.stop_button.on_click(self._on_stop)
        self.strategy.observe(lambda _: self._sync_enabled(), names="value")
        self._sync_enabled()
        controls = widgets.VBox([
            self.prompt,
            widgets.HBox([self.strategy, self.max_new_tokens, self.seed]),
            widgets.HBox([self.temperature, self.top_k, self.top_p]),
            widgets.HBox([self.repetition_penalty, self.num_beams]),
            widgets.HBox([self.generate_button, self.stop_button]),
        ])
        self.widget = widgets.VBox([controls, widgets.HBox(
            [widgets.Box([self.html], layout=widgets.Layout(width="70%")), self.candidates])])

    @classmethod
    def from_pretrained(cls, path: str | Path = PRETRAINED_NANO, **kwargs) -> GenerationDemo:
        """The demo on an exported model folder (default: the shipped pre-trained nano)."""
        model, tokenizer = load_model(path)
        return cls(model, tokenizer, **kwargs)

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)

    def _sync_enabled(self) -> None:
        sampling = self.strategy.value == "sample"
        for control in (self.temperature, self.top_k, self.top_p):
            control.disabled = not sampling
        self.num_beams.disabled = self.strategy.value != "beam"

    def config(self) -> GenerationConfig:
        """The `GenerationConfig` the controls describe."""
        return GenerationConfig(
            strategy=self.strategy.value, max_new_tokens=self.max_new_tokens.value,
            temperature=self.temperature.value, top_k=self.top_k.value, top_p=self.top_p.value,
            repetition_penalty=self.repetition_penalty.value, num_beams=self.num_beams.value,
            seed=self.seed.value)

    def run(self) -> GenerationResult:
        """Generate with the current settings, updating `html` after every token."""
        prompt, self._stop_requested = self.prompt.value, False
        self.generate_button.disabled, self.stop_button.disabled = True, False
        pieces: list[str] = []
        probs: list[float] = []
        try:
            stream = generate_stream(self.model, self.tokenizer, prompt, self.config())
            for token in stream:
                pieces.append(token.text)
                probs.append(token.probability)
                self.html.value = render_generation(prompt, pieces, probs,
                                                    status=f"{len(pieces)} tokens ...")
                self.candidates.value = render_candidates(token.candidates)
                if self._stop_requested:
                    stream.stop()
            result = stream.result()
        finally:
            self.generate_button.disabled, self.stop_button.disabled = False, True
        status = f"{len(result.token_ids)} tokens, stop: {result.stop_reason}"
        self.html.value = render_generation(prompt, result.pieces, result.probabilities,
                                            status=status)
        self.last_result = result
        return result

    def summary(self) -> str:
        """Plain text of the last result (for a checked notebook cell)."""
        if self.last_result is None:
            return "(nothing generated yet)"
        r = self.last_result
        return f"{r.full_text}\n[{len(r.token_ids)} tokens, stop: {r.stop_reason}]"

    def wait(self, timeout: float | None = None) -> GenerationResult | None:
        """Wait for a background generation to finish; returns `last_result`."""
        if self._thread is not None:
            self._thread.join(timeout)
        return self.last_result

    def _on_generate(self, _button=None) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        if self.background:
            self._thread = threading.Thread(target=self._run_safely, daemon=True)
            self._thread.start()
        else:
            self._run_safely()

    def _run_safely(self) -> None:
        try:
            self.run()
        except ValueError as error:  # an invalid setting: show it where the text would be
            self.html.value = f'<div style="color:#b00">{html.escape(str(error))}</div>'

    def _on_stop(self, _button=None) -> None:
        self._stop_requested = True
