"""A real model's next-token distribution under temperature, top-k, top-p and min-p, and its continuations.

Type a prompt: the model runs once and its next-token logits are kept. Moving a slider only
re-applies lmsample's processors (temperature -> top-k -> top-p -> min-p) to those logits, so the
picture follows the sliders immediately. The bars are the 20 most probable next tokens after
temperature; blue ones survive the filters, grey ones are cut. "Generate" samples a continuation
with :func:`lmsample.generate` under the same settings.
"""
from __future__ import annotations

import html

import ipywidgets as widgets
import numpy as np

from ..temperature import softmax
from ..truncation import min_p_filter, top_k_filter, top_p_filter
from ._blit import BlitFigure

KEPT, CUT = "#3b75af", "#d3d3d3"


def show_token(text: str) -> str:
    """A token as the reader should see it: leading spaces as '␣', newlines as '⏎'."""
    return text.replace(" ", "␣").replace("\n", "⏎") or "∅"


class NextTokenExplorer:
    """Prompt box, sampling sliders, the next-token distribution and a "generate" button.

    ``model`` and ``tokenizer`` are a causal language model and its tokenizer (from
    :func:`lmsample.load_model`). Controls are attributes: ``prompt`` (Text, applied on Enter or
    when it loses focus), ``temperature``, ``top_k`` (0 = off), ``top_p``, ``min_p``, ``new_tokens``,
    ``generate`` (Button). ``probs()`` gives the distribution after temperature and ``kept()`` the
    one draws come from.
    """

    n_bars = 20

    def __init__(self, model, tokenizer, prompt: str = "The best thing about living by the sea is", seed: int = 0):
        import torch  # the real-model half: imported only when an explorer is made

        self._torch = torch
        self.model, self.tokenizer = model, tokenizer
        self.seed = seed
        self.vocab_size = None
        style = {"description_width": "110px"}  # "top-k (0 = off)" in full
        slider = dict(continuous_update=True, style=style, layout=widgets.Layout(width="340px"))
        self.prompt = widgets.Text(value=prompt, description="prompt", continuous_update=False, style=style,
                                   layout=widgets.Layout(width="690px"))
        self.temperature = widgets.FloatSlider(value=1.0, min=0.05, max=2.0, step=0.05, description="temperature",
                                               readout_format=".2f", **slider)
        self.top_k = widgets.IntSlider(value=0, min=0, max=200, description="top-k (0 = off)", **slider)
        self.top_p = widgets.FloatSlider(value=1.0, min=0.05, max=1.0, step=0.01, description="top-p",
                                         readout_format=".2f", **slider)
        self.min_p = widgets.FloatSlider(value=0.0, min=0.0, max=0.5, step=0.01, description="min-p",
                                         readout_format=".2f", **slider)
        self.new_tokens = widgets.IntSlider(value=30, min=5, max=100, step=5, description="new tokens", **slider)
        self.generate = widgets.Button(description="generate", button_style="primary",
                                       layout=widgets.Layout(width="120px"))
        self.readout = widgets.HTML()
        self.output = widgets.HTML()
        self.live = BlitFigure(figsize=(8.6, 3.6))
        self.figure = self.live.figure

        ax = self.ax = self.figure.add_axes([0.08, 0.30, 0.90, 0.60])
        x = np.arange(self.n_bars)
        self.bars = ax.bar(x, np.full(self.n_bars, 1e-6), bottom=1e-6, width=0.75, color=KEPT)
        self.values = [ax.text(i, 1e-5, "", ha="center", va="bottom", fontsize=7) for i in x[:8]]  # the top 8
        self.title = ax.set_title("", fontsize=10)
        ax.set_xticks(x)
        ax.set_ylabel("probability (log scale)")
        ax.set_yscale("log")
        ax.set_ylim(1e-5, 1.5)
        ax.set_xlim(-0.6, self.n_bars - 0.4)
        ax.spines[["top", "right"]].set_visible(False)
        self.live.animate(*self.bars, *self.values, self.title)

        for control in (self.temperature, self.top_k, self.top_p, self.min_p):
            control.observe(lambda change: self.update(), names="value")
        self.prompt.observe(lambda change: self._run_model(), names="value")
        self.generate.on_click(lambda _: self.continue_text())
        self.widget = widgets.VBox([
            self.prompt,
            widgets.HBox([widgets.VBox([self.temperature, self.top_k]), widgets.VBox([self.top_p, self.min_p])]),
            widgets.HBox([self.new_tokens, self.generate]),
            self.live.widget,
            self.readout,
            self.output,
        ])
        self._run_model()

    # -- model
    def _ids(self):
        ids = self.tokenizer(self.prompt.value, return_tensors="pt", add_special_tokens=False).input_ids
        if ids.shape[1] == 0:  # an empty prompt: start from the beginning-of-text token
            bos = self.tokenizer.bos_token_id if self.tokenizer.bos_token_id is not None else self.tokenizer.eos_token_id
            ids = self._torch.tensor([[bos]])
        return ids

    def _run_model(self):
        torch = self._torch
        with torch.no_grad():
            logits = self.model(self._ids()).logits[0, -1].to(torch.float64)
        self.logits = logits.numpy()
        self.vocab_size = int(logits.shape[-1])
        self._top = np.argsort(-self.logits, kind="stable")[: self.n_bars]  # the same at every temperature
        self.update(relabel=True)

    def _settings(self):
        return dict(
            temperature=float(self.temperature.value),
            top_k=int(self.top_k.value) or None,
            top_p=float(self.top_p.value),
            min_p=float(self.min_p.value) or None,
        )

    def probs(self) -> np.ndarray:
        """The next-token distribution after temperature (before any filter)."""
        return softmax(self.logits, float(self.temperature.value))

    def kept(self, probs=None) -> np.ndarray:
        """The distribution a draw comes from: after temperature, top-k, top-p and min-p.

        The numpy filters of the course, which have the same semantics as the torch processors
        :func:`lmsample.generate` uses (and on one row of logits are quicker here).
        """
        s = self._settings()
        probs = self.probs() if probs is None else probs
        if s["top_k"] is not None:
            probs = top_k_filter(probs, s["top_k"])
        if s["top_p"] < 1.0:
            probs = top_p_filter(probs, s["top_p"])
        if s["min_p"] is not None:
            probs = min_p_filter(probs, s["min_p"])
        return probs

    # -- drawing
    def update(self, relabel: bool = False):
        p = self.probs()
        kept = self.kept(p)
        top = self._top
        if relabel:
            labels = [show_token(self.tokenizer.decode([int(i)])) for i in top]
            self.ax.set_xticklabels(labels, rotation=45, ha="right", rotation_mode="anchor", fontsize=8)
            self.live.invalidate()
        for bar, i in zip(self.bars, top):
            bar.set_height(p[i])
            bar.set_color(KEPT if kept[i] > 0 else CUT)
        for value, i, x in zip(self.values, top, range(self.n_bars)):
            value.set_position((x, max(p[i], 1e-5) * 1.1))  # a bar under the axis floor: its number sits on the floor
            value.set_text(f"{p[i]:.2f}" if p[i] >= 0.005 else f"{p[i]:.0e}")
        n_kept = int((kept > 0).sum())
        mass = float(p[kept > 0].sum())
        rest = float(1.0 - p[top].sum())
        s = self._settings()
        self.title.set_text(
            f"T = {s['temperature']:.2f}, top-k = {s['top_k'] or 'off'}, top-p = {s['top_p']:.2f}, "
            f"min-p = {s['min_p'] or 0:.2f}: {n_kept:,} of {self.vocab_size:,} tokens kept ({mass:.1%} of the mass)"
        )
        self.live.refresh()
        self.readout.value = (
            f"The 20 tokens shown hold {1 - rest:.1%} of the mass; the other {self.vocab_size - 20:,} tokens hold "
            f"<b>{rest:.1%}</b>. Blue: kept by the filters; grey: cut."
        )

    def continue_text(self) -> str:
        """Sample a continuation of the prompt with the current settings (shown below the figure)."""
        from ..generation import generate

        torch = self._torch
        ids = self._ids()
        self.output.value = "<i>generating…</i>"
        out = generate(self.model, ids, int(self.new_tokens.value),
                                generator=torch.Generator().manual_seed(self.seed), **self._settings())
        self.seed += 1
        new = self.tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True)
        self.output.value = (
            "<div style='font-family:serif;font-size:110%;max-width:690px'>"
            f"<b>{html.escape(self.prompt.value)}</b>{html.escape(new)}</div>"
        )
        return new

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)
