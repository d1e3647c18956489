"""Explorers for ancestral sampling: a histogram that converges, and the derailing probability."""
from __future__ import annotations

import math

import ipywidgets as widgets
import numpy as np

from ..sampling import derail_probability, draw
from ._blit import BlitFigure
from ._controls import log_slider


def hoeffding_halfwidth(n: int, k: int, alpha: float = 1e-6) -> float:
    """Half-width ``t`` such that all ``k`` frequencies of ``n`` correct draws lie within ``t`` of their
    probabilities except with probability at most ``alpha`` (Hoeffding plus a union bound)."""
    return math.sqrt(math.log(2 * k / alpha) / (2 * n)) if n else math.inf


class HistogramExplorer:
    """Draw samples and watch their frequencies converge to the distribution.

    ``distributions`` maps a name to ``(token labels, probabilities)``. The bars are the observed
    frequencies, the black ticks the true probabilities, the shaded band around each tick the
    Hoeffding tolerance for the current number of draws (a correct sampler stays inside the band
    except with probability 1e-6). Each distribution has its own axes, drawn once; switching shows
    another one, and a draw only moves the bars, the bands and the title (blitting).
    """

    def __init__(self, distributions: dict, seed: int = 0):
        self.distributions = {name: (list(labels), np.asarray(p, dtype=float)) for name, (labels, p) in distributions.items()}
        self.rng = np.random.default_rng(seed)
        self.choice = widgets.Dropdown(options=list(self.distributions), description="distribution")
        sizes = (1, 10, 100, 1000, 10000)
        self.buttons = [widgets.Button(description=f"draw {m:,}", layout=widgets.Layout(width="110px")) for m in sizes]
        for button, m in zip(self.buttons, sizes):
            button.on_click(lambda _, m=m: self.draw(m))
        self.reset_button = widgets.Button(description="reset", layout=widgets.Layout(width="70px"))
        self.reset_button.on_click(lambda _: self.reset())
        self.status = widgets.HTML()
        self.live = BlitFigure(figsize=(7.2, 3.4))
        self.figure = self.live.figure
        self.panels = {name: self._panel(labels, probs) for name, (labels, probs) in self.distributions.items()}
        self.choice.observe(lambda change: self._show(), names="value")
        self.widget = widgets.VBox([widgets.HBox([self.choice, self.reset_button]), widgets.HBox(self.buttons), self.live.widget, self.status])
        self._show()

    def _panel(self, labels, probs):
        ax = self.figure.add_axes([0.09, 0.16, 0.64, 0.72])  # the legend sits to the right, off the bands
        x = np.arange(len(probs))
        bars = ax.bar(x, np.zeros(len(probs)), width=0.6, color="#3b75af", label="observed frequency", zorder=2)
        bands = [ax.fill_between([i - 0.4, i + 0.4], [p, p], [p, p], color="#f2a93b", alpha=0.45, linewidth=0, zorder=1,
                                 label="tolerance: a correct\nsampler leaves it\nwith probability 1e-6" if i == 0 else None)
                 for i, p in zip(x, probs)]
        ticks = ax.scatter(x, probs, marker="_", s=min(900.0, 6000.0 / len(probs)), color="black", linewidths=2,
                           label="probability", zorder=3)
        ax.set_xticks(x)
        ax.set_xticklabels(labels)
        ax.set_ylim(0, min(1.0, probs.max() * 1.35 + 0.05))
        ax.set_ylabel("frequency")
        ax.spines[["top", "right"]].set_visible(False)
        ax.legend(loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize=8, frameon=False, labelspacing=1.0,
                  markerscale=0.5, handlelength=2.0)
        title = ax.set_title("", fontsize=10)
        moving = [*bands, *bars, ticks, title]  # drawn in this order over the background
        self.live.animate(*moving)
        return {"ax": ax, "bars": bars, "bands": bands, "title": title, "moving": moving,
                "counts": np.zeros(len(probs), dtype=np.int64)}

    @property
    def panel(self):
        return self.panels[self.choice.value]

    @property
    def counts(self) -> np.ndarray:
        """Draws so far of each token of the distribution shown."""
        return self.panel["counts"]

    @property
    def bars(self):
        return self.panel["bars"]

    @property
    def ax(self):
        return self.panel["ax"]

    def _show(self):
        for name, panel in self.panels.items():
            shown = name == self.choice.value
            panel["ax"].set_visible(shown)
            for artist in panel["moving"]:
                artist.set_visible(shown)
        self.live.invalidate()
        self.update()

    def draw(self, m: int):
        """Draw ``m`` more samples with :func:`lmsample.draw` and update the picture."""
        _, probs = self.distributions[self.choice.value]
        self.counts[:] += np.bincount(draw(probs, m, self.rng), minlength=len(probs))
        self.update()

    def reset(self):
        self.counts[:] = 0
        self.update()

    def update(self):
        _, probs = self.distributions[self.choice.value]
        panel = self.panel
        counts = panel["counts"]
        n = int(counts.sum())
        freq = counts / n if n else np.zeros_like(probs)
        for bar, f in zip(panel["bars"], freq):
            bar.set_height(f)
        t = hoeffding_halfwidth(n, len(probs))
        for i, (band, p) in enumerate(zip(panel["bands"], probs)):
            # no draws, no tolerance to show (it would be infinite and hide the picture)
            lo, hi = (p, p) if n == 0 else (max(p - t, 0.0), min(p + t, 1.0))
            band.set_verts([[(i - 0.4, lo), (i + 0.4, lo), (i + 0.4, hi), (i - 0.4, hi)]])
        worst = float(np.abs(freq - probs).max()) if n else float("nan")
        panel["title"].set_text(f"{n:,} draws" + (f": largest gap {worst:.4f}, tolerance {t:.4f}" if n else ""))
        self.live.refresh()
        self.status.value = "<span style='font-size:90%'>counts: " + ", ".join(f"{c:,}" for c in counts) + "</span>"

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)


class DerailExplorer:
    """How likely a sequence is to leave the head of the distribution at least once.

    Sliders: the tail mass ``m`` (the probability of drawing a token outside the head at each step,
    the same at every step) and the sequence length ``n``. The curve is ``1 - (1 - m)^n`` against
    ``n``; the dot marks the chosen length, the dashed line even odds (0.5). Whether a tail token
    derails the text depends on the token: the curve counts tail tokens, not mistakes.
    """

    def __init__(self, tail_mass: float = 0.3, n_steps: int = 20, max_steps: int = 100):
        self.tail = log_slider(tail_mass, -4, 0, step=0.05, description="tail mass", readout_format=".4f")
        self.steps = widgets.IntSlider(value=n_steps, min=1, max=max_steps, description="length n")
        self.status = widgets.HTML()
        self.live = BlitFigure(figsize=(7.2, 3.2))
        self.figure = self.live.figure
        ax = self.ax = self.figure.add_axes([0.09, 0.17, 0.88, 0.7])
        self.ns = np.arange(1, max_steps + 1)
        (self.curve,) = ax.plot(self.ns, np.zeros_like(self.ns, dtype=float), color="#3b75af")
        (self.dot,) = ax.plot([n_steps], [0.0], "o", color="#c0392b", markersize=8)
        self.guide = ax.axvline(n_steps, color="#c0392b", linewidth=0.8, linestyle=":")
        ax.axhline(0.5, color="#777777", linewidth=0.8, linestyle="--")
        ax.text(max_steps + 1, 0.5, "even odds ", ha="right", va="bottom", fontsize=8, color="#555555")
        ax.set_xlim(0, max_steps + 1)
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("sequence length n (tokens)")
        ax.set_ylabel("P(at least one tail token)")
        ax.spines[["top", "right"]].set_visible(False)
        self.title = ax.set_title("", fontsize=10)
        self.live.animate(self.curve, self.dot, self.guide, self.title)  # the rest is a cached background
        for w in (self.tail, self.steps):
            w.observe(lambda change: self.update(), names="value")
        self.widget = widgets.VBox([widgets.HBox([self.tail, self.steps]), self.live.widget, self.status])
        self.update()

    def update(self):
        m, n = float(self.tail.value), int(self.steps.value)
        m = min(m, 1.0)
        self.curve.set_ydata([derail_probability(m, int(k)) for k in self.ns])
        p = derail_probability(m, n)
        self.dot.set_data([n], [p])
        self.guide.set_xdata([n, n])
        self.title.set_text(f"tail mass {m:.4f}: P(a tail token within {n} tokens) = {p:.4f}")
        self.live.refresh()
        half = math.log(0.5) / math.log1p(-m) if 0 < m < 1 else float("inf")
        self.status.value = (
            f"<span style='font-size:90%'>Even odds of at least one tail token after about <b>{half:.1f}</b> tokens; "
            f"expected number of tail tokens in {n} tokens: <b>{m * n:.2f}</b>.</span>"
        )

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)
