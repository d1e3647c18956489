"""Explorer for temperature: a log-scale slider over a peaked and a flat distribution, and a peaked
head followed by a 50,000-token tail (what temperature does to the tail of a real vocabulary)."""
from __future__ import annotations

import math

import ipywidgets as widgets
import numpy as np

from ..sampling import tail_mass
from ..temperature import entropy, softmax
from ._blit import BlitFigure
from ._controls import log_slider

#: Next-token logits of a confident prompt and of an open-ended one (8 tokens each).
PEAKED = ("peaked", list("abcdefgh"), np.array([5.0, 2.5, 1.5, 1.0, 0.5, 0.0, -0.5, -1.0]))
FLAT = ("flat", list("abcdefgh"), np.array([1.0, 0.9, 0.8, 0.6, 0.5, 0.3, 0.2, 0.0]))
#: A peaked head (0.9 on the top token, 0.98 on the first five) followed by a tail of 50,000 tokens that
#: together hold 2% (4e-7 each), as in a real vocabulary: ``(name, head labels, head probabilities,
#: number of tail tokens, tail mass)``.
HEAD_TAIL = ("head + 50,000-token tail", list("abcde"), (0.9, 0.04, 0.02, 0.01, 0.01), 50_000, 0.02)


def head_tail_probs(head, n_tail: int, mass: float) -> np.ndarray:
    """The full distribution: the head probabilities, then ``n_tail`` tokens sharing ``mass`` equally."""
    return np.concatenate([np.asarray(head, dtype=float), np.full(n_tail, mass / n_tail)])


class TemperatureExplorer:
    """Slide the temperature on a log scale; the bars of every distribution, the entropies and the tail mass update.

    Top row, left and middle: ``softmax(logits / T)`` for a peaked and a flat set of logits, with the T = 1
    distribution as black ticks. Top right: entropy against temperature for both, the dots at the chosen T,
    and the maximum ``log n`` (the uniform distribution) as a dashed line. Bottom row: a peaked head followed
    by 50,000 tail tokens (``tail``): the head tokens and the whole tail as one bar, and the tail mass
    against temperature (``tail_mass_now()`` is the current value).
    """

    def __init__(self, distributions=(PEAKED, FLAT), temperature: float = 1.0, t_min: float = 0.05, t_max: float = 20.0,
                 tail=HEAD_TAIL):
        self.distributions = [(name, list(labels), np.asarray(z, dtype=float)) for name, labels, z in distributions]
        self.temperature = log_slider(temperature, math.log10(t_min), math.log10(t_max), step=0.01, description="T",
                                      readout_format=".3g", layout=widgets.Layout(width="480px"))
        self.status = widgets.HTML()
        k = len(self.distributions)
        self.live = BlitFigure(figsize=(3.1 * (k + 1), 6.0))
        self.figure = self.live.figure
        grid = self.figure.add_gridspec(2, k + 1, left=0.06, right=0.98, bottom=0.09, top=0.94, wspace=0.35, hspace=0.55)
        axes = [self.figure.add_subplot(grid[0, j]) for j in range(k + 1)]
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
            ax.set_ylabel("probability")
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

        # bottom row: a peaked head and a long tail; the tail's 50,000 bars are drawn as one
        name, labels, head, n_tail, mass = tail
        self.tail_name, self.n_head = name, len(head)
        self.tail_logits = np.log(head_tail_probs(head, n_tail, mass))
        ax_h = self.figure.add_subplot(grid[1, :k])
        x = np.arange(self.n_head + 1)
        self.tail_bars = ax_h.bar(x, self._grouped(1.0), width=0.7, color=[colors[2]] * self.n_head + ["#c0392b"])
        ax_h.scatter(x, self._grouped(1.0), marker="_", s=250, color="black", linewidths=1.5, zorder=3, label="T = 1")
        ax_h.set_xticks(x)
        ax_h.set_xticklabels(list(labels) + [f"tail\n({n_tail:,} tokens)"])
        ax_h.set_ylim(0, 1)
        ax_h.set_ylabel("probability")
        ax_h.spines[["top", "right"]].set_visible(False)
        ax_h.legend(loc="upper center", fontsize=7, frameon=False)
        self.tail_title = ax_h.set_title("", fontsize=9)
        ax_m = self.figure.add_subplot(grid[1, k])
        ax_m.plot(ts, [self._grouped(t)[-1] for t in ts], color="#c0392b")
        (self.tail_dot,) = ax_m.plot([temperature], [self._grouped(temperature)[-1]], "o", color="#c0392b", markersize=7)
        self.tail_guide = ax_m.axvline(temperature, color="black", linewidth=0.6, linestyle=":")
        ax_m.set_xscale("log")
        ax_m.set_ylim(0, 1.02)
        ax_m.set_xlabel("temperature T")
        ax_m.set_ylabel("tail mass")
        ax_m.spines[["top", "right"]].set_visible(False)
        ax_m.set_title(f"mass of the {n_tail:,}-token tail", fontsize=9)
        self.tail_axes = (ax_h, ax_m)

        # only these change with T: the rest is drawn once and kept as a background (blitting)
        self.live.animate(*[bar for bars in self.bars for bar in bars], *self.ticks, *self.dots, *self.titles, self.guide,
                          *self.tail_bars, self.tail_title, self.tail_dot, self.tail_guide)
        self.temperature.observe(lambda change: self.update(), names="value")
        self.widget = widgets.VBox([self.temperature, self.live.widget, self.status])
        self.update()

    def _grouped(self, t: float) -> np.ndarray:
        """The head probabilities at temperature ``t``, then the tail's total (temperature keeps the ranking,
        so the head tokens stay the most probable)."""
        p = softmax(self.tail_logits, t)
        return np.append(p[: self.n_head], p[self.n_head:].sum())

    def tail_probs(self) -> np.ndarray:
        """The whole head + tail distribution at the current temperature."""
        return softmax(self.tail_logits, float(self.temperature.value))

    def tail_mass_now(self) -> float:
        """The mass outside the head at the current temperature (``lmsample.tail_mass``)."""
        return tail_mass(self.tail_probs(), self.n_head)

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

        full = self.tail_probs()
        mass = tail_mass(full, self.n_head)
        for bar, h in zip(self.tail_bars, np.append(full[: self.n_head], mass)):
            bar.set_height(h)
        h_tail = entropy(full)
        self.tail_title.set_text(f"{self.tail_name}: top token {full[0]:.3f}, tail mass {mass:.3f}, H = {h_tail:.2f}")
        self.tail_dot.set_data([t], [mass])
        self.tail_guide.set_xdata([t, t])
        self.live.refresh()
        self.status.value = (
            f"<table style='font-size:85%'><tr><th>T = {t:.3g}</th>"
            + "".join(f"<th>{lab}</th>" for lab in self.distributions[0][1])
            + "<th>entropy</th></tr>" + "".join(rows) + "</table>"
            + f"<div style='font-size:85%'>{self.tail_name}: tail mass <b>{mass:.3f}</b> "
            f"(at T = 1: {self._grouped(1.0)[-1]:.3f}), top token {full[0]:.3f}, entropy {h_tail:.3f}</div>"
        )

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)
