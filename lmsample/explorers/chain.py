"""The sampler chain as data: build a chain of steps, reorder it, and see the distribution after every step.

The chain has four slots. Each slot holds a step (temperature, top-k, top-p, min-p, typical, epsilon,
eta, top-n-sigma, or "—" for none) and its parameter. "▲ earlier" swaps a step with the one before it
(the first one moves to the end), "✕ remove" empties its slot, "reset chain" restores the starting
chain. One panel per step shows the distribution after that step: blue bars are the tokens still
kept, grey bars the tokens this step removed (drawn at the height they had before it). The steps are
applied by :func:`lmsample.chain_trace`, exactly as :func:`lmsample.apply_chain` applies them.

A distribution is ``(tokens, logits)``: ``tokens`` a sequence of labels or a function from a token
index to its label (a real model's vocabulary), ``logits`` a 1-D array. The bars show the
``max_bars`` most probable tokens of the input; the panel titles and the table below the figure count
over the whole vocabulary. Each panel's bars are one ``PolyCollection`` (a single draw call), so a
redraw costs about the same with 4 or 30 bars.
"""
from __future__ import annotations

import html

import ipywidgets as widgets
import numpy as np
from matplotlib.collections import PolyCollection
from matplotlib.colors import to_rgba

from ..chain import chain_trace
from ..sampling import descending_order
from ._blit import BlitFigure
from .truncation import DISTRIBUTIONS as TRUNCATION_DISTRIBUTIONS

KEPT, CUT, NONE = "#3b75af", "#b0b0b0", "—"
#: y-range of the panels on the log scale
LOG_RANGE = (1e-6, 1.5)
_KEPT_RGBA, _CUT_RGBA = np.array(to_rgba(KEPT)), np.array(to_rgba(CUT))

#: parameter slider of each step: (min, max, step, starting value, readout format)
SLIDERS = {
    "temperature": (0.0, 3.0, 0.05, 1.0, ".2f"),
    "top_k": (1, 30, 1, 5, ".0f"),
    "top_p": (0.05, 1.0, 0.01, 0.9, ".2f"),
    "min_p": (0.0, 1.0, 0.01, 0.1, ".2f"),
    "typical": (0.05, 1.0, 0.01, 0.9, ".2f"),
    "epsilon": (0.0, 0.3, 0.001, 0.02, ".3f"),
    "eta": (0.001, 0.3, 0.001, 0.02, ".3f"),
    "top_n_sigma": (0.0, 5.0, 0.05, 1.0, ".2f"),
}
#: the chain the explorer starts with: llama.cpp-like, filters first and temperature last
DEFAULT_STEPS = (("min_p", 0.1), ("top_p", 0.9), ("typical", 0.9), ("temperature", 1.5))


def from_probs(distributions) -> dict:
    """``{name: (tokens, probs)}`` -> ``{name: (tokens, log probs)}`` (zeros become -inf)."""
    out = {}
    for name, (tokens, probs) in distributions.items():
        probs = np.asarray(probs, dtype=np.float64)
        with np.errstate(divide="ignore"):
            out[name] = (tuple(tokens), np.log(probs / probs.sum()))
    return out


#: the toy distributions: lesson 05's prompts, and the two the lesson computes by hand
DISTRIBUTIONS = from_probs({
    **TRUNCATION_DISTRIBUTIONS,
    "P = (0.4, 0.3, 0.2, 0.1)": (("a", "b", "c", "d"), (0.4, 0.3, 0.2, 0.1)),
    "typical drops the top token — (0.4, 0.2, 0.2, 0.2)": (("a", "b", "c", "d"), (0.4, 0.2, 0.2, 0.2)),
})


def _label(name: str) -> str:
    return name.replace("_", "-")


class ChainExplorer:
    """A chain of up to ``slots`` steps on a next-token distribution, one panel per step.

    Controls (attributes): ``distribution`` (dropdown), ``kinds[i]`` (dropdown: the step in slot
    ``i``), ``values[i]`` (its parameter), ``earlier[i]`` and ``remove[i]`` (buttons), ``reset``, ``log_scale`` (checkbox).
    ``steps()`` is the chain as :func:`lmsample.apply_chain` takes it; ``trace()`` the distributions
    before and after each step; ``panel_heights[j]`` and ``panel_kept[j]`` what panel ``j`` draws.
    """

    max_bars = 30

    def __init__(self, distributions=None, extra=None, steps=DEFAULT_STEPS, slots: int = 4):
        self.distributions = dict(distributions or DISTRIBUTIONS)
        self.distributions.update(extra or {})
        self.start_steps = tuple(steps)
        self.slots = slots
        self._quiet = False
        names = list(self.distributions)
        wide = {"description_width": "90px"}
        self.distribution = widgets.Dropdown(options=names, value=names[-1] if extra else names[0],
                                             description="distribution", style=wide,
                                             layout=widgets.Layout(width="690px"))
        self.kinds, self.values, self.earlier, self.remove, rows = [], [], [], [], []
        for i in range(slots):
            kind = widgets.Dropdown(options=[(NONE, NONE), *((_label(n), n) for n in SLIDERS)], value=NONE,
                                    description=f"step {i + 1}",
                                    style={"description_width": "50px"}, layout=widgets.Layout(width="190px"))
            value = widgets.FloatSlider(value=1.0, min=0.0, max=3.0, step=0.05, continuous_update=True,
                                        description="value", style={"description_width": "40px"},
                                        layout=widgets.Layout(width="300px"))
            up = widgets.Button(description="▲ earlier", layout=widgets.Layout(width="90px"))
            cut = widgets.Button(description="✕ remove", layout=widgets.Layout(width="90px"))
            kind.observe(lambda change, i=i: self._kind_changed(i), names="value")
            value.observe(lambda change: self._changed(), names="value")
            up.on_click(lambda _, i=i: self.move_earlier(i))
            cut.on_click(lambda _, i=i: self.remove_step(i))
            self.kinds.append(kind), self.values.append(value), self.earlier.append(up), self.remove.append(cut)
            rows.append(widgets.HBox([kind, value, up, cut]))
        self.reset = widgets.Button(description="reset chain", layout=widgets.Layout(width="110px"))
        self.reset.on_click(lambda _: self.set_steps(self.start_steps))
        self.log_scale = widgets.Checkbox(value=False, description="log scale", indent=False,
                                          layout=widgets.Layout(width="110px"))
        self.log_scale.observe(lambda change: self._set_scale(), names="value")
        self.readout = widgets.HTML()

        n_panels = slots + 1
        self.live = BlitFigure(figsize=(8.6, 1.05 * n_panels + 0.9))
        self.figure = self.live.figure
        self.axes, self.bars, self.titles = [], [], []
        top, bottom = 0.96, 0.9 / (1.05 * n_panels + 0.9)
        height = (top - bottom) / n_panels
        for j in range(n_panels):
            ax = self.figure.add_axes([0.07, bottom + (n_panels - 1 - j) * height, 0.91, height * 0.68],
                                      sharex=self.axes[0] if self.axes else None)
            # one collection of rectangles per panel: a single draw call, however many bars
            bars = PolyCollection([], edgecolors="none")
            ax.add_collection(bars)
            ax.set_ylim(0, 1.05)
            ax.set_yticks([0, 0.5, 1])
            ax.tick_params(labelsize=7)
            ax.spines[["top", "right"]].set_visible(False)
            if j < n_panels - 1:
                ax.tick_params(axis="x", labelbottom=False)
            title = ax.set_title("", fontsize=8.5, loc="left", pad=2)
            self.axes.append(ax), self.bars.append(bars), self.titles.append(title)
            self.live.animate(bars, title)
        self.axes[n_panels // 2].set_ylabel("probability", fontsize=8)

        self.distribution.observe(lambda change: self._load(), names="value")
        self.widget = widgets.VBox([self.distribution, *rows, widgets.HBox([self.reset, self.log_scale]),
                                    self.live.widget, self.readout])
        self._load(refresh=False)
        self.set_steps(self.start_steps)

    # -- the chain
    def steps(self) -> list:
        """The chain in order, as ``(name, value)`` pairs (empty slots left out)."""
        out = []
        for kind, value in zip(self.kinds, self.values):
            if kind.value != NONE:
                v = value.value
                out.append((kind.value, int(round(v)) if kind.value == "top_k" else float(v)))
        return out

    def _slots(self) -> list:
        return [(k.value, v.value) for k, v in zip(self.kinds, self.values)]

    def set_steps(self, steps) -> None:
        """Fill the slots with ``steps`` (at most ``slots`` of them), the rest empty; one redraw."""
        steps = list(steps)[: self.slots]
        self._fill(steps + [(NONE, None)] * (self.slots - len(steps)))

    def _fill(self, slots) -> None:
        self._quiet = True
        try:
            for i, (name, value) in enumerate(slots):
                self.kinds[i].value = name
                self._configure(i, value)
        finally:
            self._quiet = False
        self.update()

    def _configure(self, i: int, value=None) -> None:
        """Give slot ``i``'s slider the range of its step (and ``value``, else the step's starting value)."""
        slider, name = self.values[i], self.kinds[i].value
        if name == NONE:
            slider.disabled = True
            slider.description = "—"
            return
        lo, hi, step, start, fmt = SLIDERS[name]
        value = start if value is None else min(max(value, lo), hi)
        # widen first, so that no intermediate state clips the value
        slider.min, slider.max = min(slider.min, lo), max(slider.max, hi)
        slider.step, slider.readout_format = step, fmt
        slider.value = value
        slider.min, slider.max = lo, hi
        slider.disabled = False
        slider.description = {"top_n_sigma": "n", "typical": "mass", "eta": "ε", "epsilon": "ε", "top_k": "k",
                              "top_p": "p", "min_p": "min-p", "temperature": "T"}[name]

    def _kind_changed(self, i: int) -> None:
        if self._quiet:
            return
        self._quiet = True
        try:
            self._configure(i)
        finally:
            self._quiet = False
        self.update()

    def _changed(self) -> None:
        if not self._quiet:
            self.update()

    def move_earlier(self, i: int) -> None:
        """Swap slot ``i`` with the slot before it; the first slot goes to the end."""
        slots = self._slots()
        j = (i - 1) % self.slots
        if i == 0:
            slots = slots[1:] + slots[:1]
        else:
            slots[i], slots[j] = slots[j], slots[i]
        self._fill(slots)

    def remove_step(self, i: int) -> None:
        """Empty slot ``i``."""
        slots = self._slots()
        slots[i] = (NONE, None)
        self._fill(slots)

    def _set_scale(self) -> None:
        for ax in self.axes:
            if self.log_scale.value:
                ax.set_yscale("log")
                ax.set_ylim(*LOG_RANGE)
            else:
                ax.set_yscale("linear")
                ax.set_ylim(0, 1.05)
                ax.set_yticks([0, 0.5, 1])
        self.live.invalidate()
        self.update()

    # -- the distribution
    def _load(self, refresh: bool = True) -> None:
        tokens, logits = self.distributions[self.distribution.value]
        self.logits = np.asarray(logits, dtype=np.float64)
        label = tokens if callable(tokens) else (lambda i, t=tuple(tokens): t[i])
        self.shown = descending_order(self.logits)[: self.max_bars]
        n = self.shown.size
        self.labels = [str(label(int(i))) for i in self.shown]
        for ax in self.axes:
            ax.set_xlim(-0.6, n - 0.4)
        self.axes[-1].set_xticks(np.arange(n))
        self.axes[-1].set_xticklabels(self.labels, rotation=45, fontsize=7, ha="right", rotation_mode="anchor")
        self.live.invalidate()
        if refresh:
            self.update()

    def trace(self) -> list:
        """The distribution before the chain and after each step (:func:`lmsample.chain_trace`)."""
        return chain_trace(self.logits, self.steps())

    # -- drawing
    def _draw_bars(self, j: int, heights: np.ndarray, kept: np.ndarray) -> None:
        x = np.arange(heights.size, dtype=float)
        bottom = LOG_RANGE[0] / 10 if self.log_scale.value else 0.0
        top = np.maximum(heights, bottom)
        left, right = x - 0.375, x + 0.375
        verts = np.stack([np.stack([left, np.full_like(x, bottom)], 1), np.stack([left, top], 1),
                          np.stack([right, top], 1), np.stack([right, np.full_like(x, bottom)], 1)], axis=1)
        self.bars[j].set_verts(verts)
        self.bars[j].set_facecolors(np.where(kept[:, None], _KEPT_RGBA, _CUT_RGBA))

    def update(self) -> None:
        steps = self.steps()
        trace = chain_trace(self.logits, steps)
        vocab = self.logits.size
        panels = [(None, trace[0], None)]
        k = 1
        for kind in self.kinds:
            if kind.value == NONE:
                panels.append((NONE, trace[k - 1], None))
            else:
                panels.append((steps[k - 1], trace[k], trace[k - 1]))
                k += 1
        shown = self.shown
        self.panel_heights, self.panel_kept, rows = [], [], []
        for j, (step, after, before) in enumerate(panels):
            heights = after[shown]
            kept = heights > 0
            if before is not None:
                heights = np.where(kept, heights, before[shown])
            self._draw_bars(j, heights, kept)
            self.panel_heights.append(heights)
            self.panel_kept.append(kept)
            n_kept = int(np.count_nonzero(after))
            if step is None:
                text = f"input: {n_kept:,} of {vocab:,} tokens"
            elif step == NONE:
                text = f"step {j}: — (empty slot)"
            else:
                name, value = step
                shown_value = f"{value}" if name == "top_k" else f"{value:g}"
                text = f"step {j}: {_label(name)} {shown_value} → {n_kept:,} kept"
                removed = int(np.count_nonzero(before)) - n_kept
                mass = float(before[after > 0].sum())
                rows.append(f"<tr><td>{j}</td><td>{html.escape(_label(name))} {shown_value}</td><td>{n_kept:,}</td>"
                            f"<td>{removed:,}</td><td>{mass:.1%}</td><td>{after.max():.3f}</td></tr>")
            self.titles[j].set_text(text)
        self.live.refresh()
        chain = " → ".join(f"{_label(n)} {v:g}" if n != "top_k" else f"top-k {v}" for n, v in steps) or "(empty chain)"
        final = trace[-1]
        kept_labels = [html.escape(self.labels[b]) for b in range(shown.size) if final[shown[b]] > 0]
        table = ("<table style='font-size:90%; border-spacing:12px 0'><tr><th>step</th><th></th><th>kept</th><th>removed</th>"
                 "<th>mass of its input kept</th><th>top probability after</th></tr>" + "".join(rows) + "</table>")
        self.readout.value = (f"chain: <code>{html.escape(chain)}</code> &nbsp; → {int(np.count_nonzero(final)):,} of "
                              f"{vocab:,} tokens kept; shown and kept: <code>{', '.join(kept_labels)}</code>{table}")

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)
