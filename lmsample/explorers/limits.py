"""Sweep the temperature from 1e-3 to 1e3 and watch the distribution reach its two limits.

Left: the distribution ``softmax_t(logits, T)`` as bars, with the T -> 0 limit (uniform over the
tied maxima) marked by black ticks and the T -> infinity limit (uniform) by a dashed line.
Right: the entropy against log T, rising from ``log m`` (m tied maxima) to ``log n`` (n tokens),
with the current temperature marked. A checkbox raises the second token to the maximum, creating
a tie, so the T -> 0 limit changes from one-hot to one half each.
"""
from __future__ import annotations

import ipywidgets as widgets
import numpy as np

from ..temperature import _stable_softmax, softmax_t
from ._blit import BlitFigure

#: A small vocabulary and its logits; the second token is the one the tie toggle raises.
TOKENS = ("the", "a", "this", "my", "one", "that")
LOGITS = (2.0, 1.3, 0.7, 0.2, -0.6, -1.5)


def _entropy(probs: np.ndarray) -> np.ndarray:
    """Entropy in nats along the last axis, with 0 log 0 = 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(probs > 0, probs * np.log(np.where(probs > 0, probs, 1.0)), 0.0)
    return -terms.sum(axis=-1)


class LimitsExplorer:
    """Temperature on a log scale from 1e-3 to 1e3, the distribution, its entropy and both limits.

    Controls (attributes, so code and tests can set ``.value``): ``temperature`` (a log slider)
    and ``tie`` (a checkbox that gives the second token the largest logit too).
    """

    grid = np.logspace(-3, 3, 241)

    def __init__(self, logits=LOGITS, tokens=TOKENS):
        self.base_logits = np.asarray(logits, dtype=np.float64)
        self.tokens = tuple(tokens)
        n = self.base_logits.size
        self.temperature = widgets.FloatLogSlider(
            value=1.0, base=10, min=-3, max=3, step=0.01, description="T", readout_format=".3g",
            continuous_update=True, layout=widgets.Layout(width="420px"),
        )
        self.tie = widgets.Checkbox(value=False, description="tie the top two tokens", indent=False)
        self.readout = widgets.HTML()
        self.live = BlitFigure(figsize=(8.4, 3.4))
        self.figure = self.live.figure

        # entropy curves for both logit vectors, computed once
        self._curves = {tie: _entropy(self._probs_grid(tie)) for tie in (False, True)}

        fig = self.figure
        self.ax_p = fig.add_axes([0.07, 0.16, 0.40, 0.72])
        self.ax_h = fig.add_axes([0.58, 0.16, 0.39, 0.72])
        x = np.arange(n)
        self.bars = self.ax_p.bar(x, np.zeros(n), color="#3b75af", width=0.7, label="softmax(z / T)")
        (self.zero_marks,) = self.ax_p.plot(x, np.zeros(n), "_", color="black", markersize=22, mew=2.5, label="limit T → 0")
        self.inf_line = self.ax_p.axhline(1.0 / n, color="#d9822b", ls="--", lw=1.5, label="limit T → ∞ (1/n)")
        self.ax_p.set_xticks(x)
        self.ax_p.set_xticklabels(self.tokens)
        self.ax_p.set_ylim(0, 1.05)
        self.ax_p.set_ylabel("probability")
        self.ax_p.legend(loc="upper right", fontsize=8, frameon=False)
        self.ax_p.spines[["top", "right"]].set_visible(False)
        self.title_p = self.ax_p.set_title("", fontsize=10)

        (self.curve,) = self.ax_h.plot(self.grid, self._curves[False], color="#3b75af", lw=2)
        self.h_low = self.ax_h.axhline(0.0, color="black", ls=":", lw=1.2)
        self.h_high = self.ax_h.axhline(np.log(n), color="#d9822b", ls="--", lw=1.2)
        self.low_label = self.ax_h.text(9e2, 0.0, "", fontsize=8, va="bottom", ha="right")
        self.ax_h.text(1.2e-3, np.log(n), f"T → ∞: log {n} = {np.log(n):.2f}", fontsize=8, va="bottom", color="#d9822b")
        self.now_line = self.ax_h.axvline(1.0, color="#888888", lw=1)
        (self.now_dot,) = self.ax_h.plot([1.0], [0.0], "o", color="#c0392b", markersize=7)
        self.ax_h.set_xscale("log")
        self.ax_h.set_xlim(self.grid[0], self.grid[-1])
        self.ax_h.set_ylim(-0.05, np.log(n) * 1.15)
        self.ax_h.set_xlabel("temperature T (log scale)")
        self.ax_h.set_ylabel("entropy (nats)")
        self.ax_h.spines[["top", "right"]].set_visible(False)
        self.title_h = self.ax_h.set_title("entropy rises from log m to log n", fontsize=10)

        self.live.animate(*self.bars, self.zero_marks, self.title_p, self.curve, self.h_low, self.low_label,
                          self.now_line, self.now_dot)
        self.temperature.observe(lambda change: self.update(), names="value")
        self.tie.observe(lambda change: self.update(), names="value")
        self.widget = widgets.VBox([widgets.HBox([self.temperature, self.tie]), self.live.widget, self.readout])
        self.update()

    def _logits(self, tie: bool) -> np.ndarray:
        z = self.base_logits.copy()
        if tie:
            z[1] = z.max()
        return z

    def _probs_grid(self, tie: bool) -> np.ndarray:
        z = self._logits(tie)
        return np.stack([_stable_softmax(z, t) for t in self.grid])

    def probs(self) -> np.ndarray:
        """The distribution shown now."""
        return softmax_t(self._logits(self.tie.value), self.temperature.value)

    def update(self):
        tie = self.tie.value
        t = float(self.temperature.value)
        z = self._logits(tie)
        p = softmax_t(z, t)
        limit0 = softmax_t(z, 0)
        m = int((limit0 > 0).sum())
        h = float(_entropy(p))
        for bar, height in zip(self.bars, p):
            bar.set_height(height)
        self.zero_marks.set_ydata(limit0)
        self.curve.set_ydata(self._curves[tie])
        self.h_low.set_ydata([np.log(m)] * 2)
        self.low_label.set_position((9e2, np.log(m)))
        self.low_label.set_text(f"T → 0: log {m} = {np.log(m):.2f}")
        self.now_line.set_xdata([t, t])
        self.now_dot.set_data([t], [h])
        self.title_p.set_text(f"T = {t:.3g}: largest probability {p.max():.4f}")
        self.live.refresh()
        self.readout.value = (
            f"<code>T = {t:.3g}</code> &nbsp; probabilities "
            + " ".join(f"<code>{tok}={q:.3f}</code>" for tok, q in zip(self.tokens, p))
            + f" &nbsp; entropy <b>{h:.3f}</b> nats (limits: {np.log(m):.3f} as T → 0, {np.log(z.size):.3f} as T → ∞)"
        )

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)
