"""Explorer for temperature: a log-scale slider over a peaked and a flat distribution."""
from __future__ import annotations

import math

import ipywidgets as widgets
import numpy as np

from ..temperature import entropy, softmax
from ._blit import BlitFigure
from ._controls import log_slider

#: Next-token logits of a confident prompt and of an open-ended one (8 tokens each).
PEAKED = ("peaked", list("abcdefgh"), np.array([5.0, 2.5, 1.5, 1.0, 0.5, 0.0, -0.5, -1.0]))
FLAT = ("flat", list("abcdefgh"), np.array([1.0, 0.9, 0.8, 0.6, 0.5, 0.3, 0.2, 0.0]))


class TemperatureExplorer:
    """Slide the temperature on a log scale; the bars of both distributions and their entropies update.

    Left and middle: ``softmax(logits / T)`` for a peaked and a flat set of logits, with the T = 1
    distribution as black ticks. Right: entropy against temperature for both, the dots at the chosen T,
    and the maximum ``log n`` (the uniform distribution) as a dashed line.
    """

    def __init__(self, distributions=(PEAKED, FLAT), temperature: float = 1.0, t_min: float = 0.05, t_max: float = 20.0):
        self.distributions = [(name, list(labels), np.asarray(z, dtype=float)) for name, labels, z in distributions]
        self.temperature = log_slider(temperature, math.log10(t_min), math.log10(t_max), step=0.01, description="T",
                                      readout_format=".3g", layout=widgets.Layout(width="480px"))
        self.status = widgets.HTML()
        k = len(self.distributions)
        self.live = BlitFigure(figsize=(3.1 * (k + 1), 3.2))
        self.figure = self.live.figure
        axes = self.figure.subplots(1, k + 1, gridspec_kw={"left": 0.06, "right": 0.98, "bottom": 0.17, "top": 0.86, "wspace": 0.35})
        self.bars, self.dots, self.titles, self.ticks = [], [], [], []
        colors = ["#3b75af", "#e07b39", "#2e9e44", "#8e44ad"]
        ts = np.geomspace(t_min, t_max, 200)
        for ax, (name, labels, z), color in zip(axes[:-1], self.distributions, colors):
            x = np.arange(len(z))
            self.bars.append(ax.bar(x, softmax(z, temperature), color=color, width=0.7))
            ticks = ax.scatter(x, softmax(z, 1.0), marker="_", s=250, color="black", linewidths=1.5, zorder=3, label="T = 1")
            self.ticks.append(ticks)
            ax.set_xticks(x)
            ax.set_xticklabels(labels)
            ax.set_ylim(0, 1)
            ax.spines[["top", "right"]].set_visible(False)
            ax.legend(loc="upper right", fontsize=7, frameon=False)
            self.titles.append(ax.set_title("", fontsize=9))
        ent = axes[-1]
        for (name, labels, z), color in zip(self.distributions, colors):
            ent.plot(ts, [entropy(softmax(z, t)) for t in ts], color=color, label=name)
            (dot,) = ent.plot([temperature], [entropy(softmax(z, temperature))], "o", color=color, markersize=7)
            self.dots.append(dot)
        n_max = max(len(z) for _, _, z in self.distributions)
        ent.axhline(math.log(n_max), color="grey", linestyle="--", linewidth=0.8)
        ent.text(t_min * 1.1, math.log(n_max) * 0.97, f"log {n_max} (uniform)", fontsize=7, va="top", color="grey")
        self.guide = ent.axvline(temperature, color="black", linewidth=0.6, linestyle=":")
        ent.set_xscale("log")
        ent.set_xlabel("temperature T")
        ent.set_ylabel("entropy (nats)")
        ent.set_ylim(0, math.log(n_max) * 1.08)
        ent.spines[["top", "right"]].set_visible(False)
        ent.legend(loc="lower right", fontsize=7, frameon=False)
        ent.set_title("entropy", fontsize=9)
        self.axes = axes
        # only these change with T: the rest is drawn once and kept as a background (blitting)
        self.live.animate(*[bar for bars in self.bars for bar in bars], *self.ticks, *self.dots, *self.titles, self.guide)
        self.temperature.observe(lambda change: self.update(), names="value")
        self.widget = widgets.VBox([self.temperature, self.live.widget, self.status])
        self.update()

    def update(self):
        t = float(self.temperature.value)
        rows = []
        for (name, labels, z), bars, dot, title in zip(self.distributions, self.bars, self.dots, self.titles):
            p = softmax(z, t)
            for bar, h in zip(bars, p):
                bar.set_height(h)
            h = entropy(p)
            dot.set_data([t], [h])
            title.set_text(f"{name}: max p = {p.max():.3f}, H = {h:.2f}")
            rows.append(f"<tr><td>{name}</td>" + "".join(f"<td>{v:.3f}</td>" for v in p) + f"<td><b>{h:.3f}</b></td></tr>")
        self.guide.set_xdata([t, t])
        self.live.refresh()
        self.status.value = (
            f"<table style='font-size:85%'><tr><th>T = {t:.3g}</th>"
            + "".join(f"<th>{lab}</th>" for lab in self.distributions[0][1])
            + "<th>entropy</th></tr>" + "".join(rows) + "</table>"
        )

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)
