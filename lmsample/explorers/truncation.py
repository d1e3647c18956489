"""Top-k, top-p (nucleus) and min-p on a next-token distribution, with draws you can watch add up.

Choose a distribution (a peaked "basketball" prompt, a flat "car" prompt, or a long Zipf tail),
then the temperature, k, p and min-p. The bars are the distribution after temperature, most
probable first: blue bars are the kept set, grey bars are cut. The line is the cumulative mass
that top-p looks at (after top-k), the dashed line is p, the dotted line the min-p threshold
(drawn on the bars' own scale: a bar on or above it passes min-p). "log scale" shows the tail.
"Generate the next token" draws from the kept set; the lower panel tallies the draws against the
probabilities they should approach.

The pipeline is Hugging Face's order, temperature -> top-k -> top-p -> min-p -> draw (llama.cpp's
default chain applies temperature last). Min-p compares each probability with the largest, a ratio
no renormalisation changes, so min-p commutes with top-k (both keep a prefix of the same order). It
does not commute with top-p: top-p measures mass on whatever distribution it is given, and after
min-p that is renormalised over fewer tokens (P = (0.4, 0.3, 0.2, 0.1), min-p 0.5, top-p 0.75: min-p
first keeps two tokens, top-p first keeps three). Temperature commutes with top-k but not with top-p
or min-p.
"""
from __future__ import annotations

import html

import ipywidgets as widgets
import numpy as np

from ..sampling import _inverse_cdf, descending_order
from ..temperature import softmax
from ..truncation import min_p_filter, top_k_filter, top_p_filter
from ._blit import BlitFigure


def _zipf(n: int = 30, s: float = 1.1):
    w = 1.0 / np.arange(1, n + 1) ** s
    return tuple(f"w{i + 1}" for i in range(n)), tuple((w / w.sum()).tolist())


#: Illustrative next-token distributions (made up, sorted by probability). The two prompts are adapted
#: from a well-known explainer of nucleus sampling, not quoted from it. The "basketball" prompt is
#: peaked: its top 3 tokens hold 99.6% of the mass; the "car" prompt is flat: its top 3 hold 63%.
DISTRIBUTIONS = {
    "basketball — “He dribbled past the defender and dunked the …”": (
        ("ball", "basketball", "rock", "ball!", "shot", "orange", "thing", "sphere", "game", "hoop",
         "Spalding", "leather"),
        (0.842, 0.131, 0.023, 0.0012, 0.0008, 0.0006, 0.0005, 0.0003, 0.0002, 0.0002, 0.0001, 0.0001),
    ),
    "car — “My favourite car is a …”": (
        ("red", "Toyota", "Honda", "used", "sports", "blue", "Ford", "small", "classic", "BMW",
         "convertible", "Tesla", "hybrid", "black", "white", "Mini", "Jeep", "Porsche"),
        (0.27, 0.2, 0.16, 0.07, 0.05, 0.04, 0.035, 0.032, 0.025, 0.02, 0.02, 0.018, 0.015, 0.013, 0.011,
         0.007, 0.008, 0.006),
    ),
    "long tail — Zipf, 30 tokens": _zipf(),
}

KEPT, CUT, DRAWN = "#3b75af", "#d3d3d3", "#c0392b"
#: y-range of the upper panel on the log scale (probabilities below it are off the chart)
LOG_RANGE = (1e-5, 1.5)


class TruncationExplorer:
    """Temperature, top-k, top-p and min-p on one distribution, with a running tally of draws.

    Controls (attributes): ``distribution`` (dropdown), ``temperature``, ``k``, ``p``, ``min_p``
    (sliders; ``k`` at its maximum is "off"), ``log_scale`` (checkbox), ``generate`` / ``generate_100`` /
    ``reset`` (buttons). ``kept_probs()`` is the distribution draws come from; ``counts`` the tally.
    """

    max_tokens = 30

    def __init__(self, distributions=None, seed: int = 0):
        self.distributions = dict(distributions or DISTRIBUTIONS)
        self.rng = np.random.default_rng(seed)
        names = list(self.distributions)
        self.distribution = widgets.Dropdown(options=names, value=names[0], description="prompt",
                                             style={"description_width": "90px"}, layout=widgets.Layout(width="670px"))
        slider = dict(continuous_update=True, layout=widgets.Layout(width="330px"))
        self.temperature = widgets.FloatSlider(value=1.0, min=0.05, max=3.0, step=0.05, description="temperature",
                                               readout_format=".2f", style={"description_width": "90px"}, **slider)
        self.k = widgets.IntSlider(value=self.max_tokens, min=1, max=self.max_tokens, description="top-k",
                                   style={"description_width": "90px"}, **slider)
        self.p = widgets.FloatSlider(value=1.0, min=0.01, max=1.0, step=0.01, description="top-p",
                                     readout_format=".2f", style={"description_width": "90px"}, **slider)
        self.min_p = widgets.FloatSlider(value=0.0, min=0.0, max=1.0, step=0.01, description="min-p",
                                         readout_format=".2f", style={"description_width": "90px"}, **slider)
        self.generate = widgets.Button(description="generate the next token", button_style="primary",
                                       layout=widgets.Layout(width="200px"))
        self.generate_100 = widgets.Button(description="100 more", layout=widgets.Layout(width="90px"))
        self.reset = widgets.Button(description="reset tally", layout=widgets.Layout(width="100px"))
        self.log_scale = widgets.Checkbox(value=False, description="log scale", indent=False,
                                          layout=widgets.Layout(width="110px"))
        self.k_state = widgets.HTML(layout=widgets.Layout(width="60px"))
        self.readout = widgets.HTML()
        self.live = BlitFigure(figsize=(8.6, 5.0))
        self.figure = self.live.figure
        self.last = None
        self.counts = np.zeros(0, dtype=np.int64)
        self.base = np.ones(1)

        fig = self.figure
        self.ax = fig.add_axes([0.07, 0.47, 0.90, 0.46])
        self.ax_tally = fig.add_axes([0.07, 0.16, 0.90, 0.20], sharex=self.ax)
        x = np.arange(self.max_tokens)
        self.bars = self.ax.bar(x, np.zeros(self.max_tokens), width=0.75, color=KEPT)
        (self.cum_line,) = self.ax.plot(x, np.zeros(self.max_tokens), "-o", color="#444444", ms=3, lw=1.2,
                                        label="cumulative mass seen by top-p")
        self.p_line = self.ax.axhline(1.0, color="#d9822b", ls="--", lw=1.3, label="p")
        self.minp_line = self.ax.axhline(0.0, color="#8e44ad", ls=":", lw=1.5, label="min-p × largest bar")
        self.k_line = self.ax.axvline(self.max_tokens - 0.5, color="#2e9e44", lw=1.3, label="k")
        self.ax.set_ylim(0, 1.05)
        self.ax.set_ylabel("probability")
        # one row in the gap below the axes, where no moving line can run through its text
        self.ax.legend(loc="upper right", bbox_to_anchor=(1.0, -0.02), ncol=4, fontsize=8, frameon=False)
        self.ax.spines[["top", "right"]].set_visible(False)
        self.title = self.ax.set_title("", fontsize=10)
        self.ax.tick_params(axis="x", labelbottom=False)

        self.freq_bars = self.ax_tally.bar(x, np.zeros(self.max_tokens), width=0.75, color="#7f8c8d")
        (self.expect_marks,) = self.ax_tally.plot(x, np.zeros(self.max_tokens), "_", color="black", ms=12, mew=2,
                                                  label="kept probability")
        self.ax_tally.set_ylim(0, 1.05)
        self.ax_tally.set_ylabel("share of draws")
        self.ax_tally.spines[["top", "right"]].set_visible(False)
        self.ax_tally.legend(loc="upper right", fontsize=8, frameon=False)
        self.tally_title = self.ax_tally.set_title("", fontsize=9, loc="left")
        self.live.animate(*self.bars, self.cum_line, self.p_line, self.minp_line, self.k_line, self.title,
                          *self.freq_bars, self.expect_marks, self.tally_title)

        for control in (self.temperature, self.k, self.p, self.min_p):
            control.observe(lambda change: self._settings_changed(), names="value")
        self.distribution.observe(lambda change: self._load(), names="value")
        self.log_scale.observe(lambda change: self._set_scale(), names="value")
        self.generate.on_click(lambda _: self.draw(1))
        self.generate_100.on_click(lambda _: self.draw(100))
        self.reset.on_click(lambda _: self._reset_tally())

        self.widget = widgets.VBox([
            widgets.HBox([self.distribution]),
            widgets.HBox([widgets.VBox([self.temperature, widgets.HBox([self.k, self.k_state])]),
                          widgets.VBox([self.p, self.min_p])]),
            widgets.HBox([self.generate, self.generate_100, self.reset, self.log_scale]),
            self.live.widget,
            self.readout,
        ])
        self._load()

    # -- state
    def _load(self):
        tokens, probs = self.distributions[self.distribution.value]
        probs = np.asarray(probs, dtype=np.float64)
        probs = probs / probs.sum()
        order = descending_order(probs)[: self.max_tokens]
        self.tokens = [tokens[i] for i in order]
        self.base = probs[order] / probs[order].sum()
        self.logits = np.log(self.base)
        n = self.base.size
        self.k.max = n
        self.k.value = n
        self.ax.set_xticks(np.arange(n))
        self.ax_tally.set_xticks(np.arange(n))
        self.ax_tally.set_xticklabels(self.tokens, rotation=45, fontsize=8, ha="right", rotation_mode="anchor")
        self.ax.set_xlim(-0.6, n - 0.4)
        for i, (bar, fbar) in enumerate(zip(self.bars, self.freq_bars)):
            bar.set_visible(i < n)
            fbar.set_visible(i < n)
        self.live.invalidate()
        self._reset_tally()

    def _set_scale(self):
        if self.log_scale.value:
            self.ax.set_yscale("log")
            self.ax.set_ylim(*LOG_RANGE)
        else:
            self.ax.set_yscale("linear")
            self.ax.set_ylim(0, 1.05)
        self.live.invalidate()
        self.update()

    def k_is_off(self) -> bool:
        """``k`` at its maximum keeps every token: top-k is off."""
        return int(self.k.value) >= self.base.size

    def _reset_tally(self):
        self.counts = np.zeros(self.base.size, dtype=np.int64)
        self.last = None
        self.update()

    def _settings_changed(self):
        # draws made under other settings would not estimate the new kept distribution
        self.counts = np.zeros(self.base.size, dtype=np.int64)
        self.last = None
        self.update()

    def pipeline(self):
        """``(after temperature, after top-k, after top-p, after min-p)``: the four stages."""
        p_t = softmax(self.logits, self.temperature.value)
        p_k = top_k_filter(p_t, int(self.k.value))
        p_p = top_p_filter(p_k, float(self.p.value))
        p_m = min_p_filter(p_p, float(self.min_p.value))
        return p_t, p_k, p_p, p_m

    def kept_probs(self) -> np.ndarray:
        return self.pipeline()[-1]

    def draw(self, n: int = 1):
        """Draw ``n`` next tokens from the kept distribution and add them to the tally."""
        idx = _inverse_cdf(self.kept_probs(), self.rng.random(n))
        np.add.at(self.counts, idx, 1)
        self.last = int(idx[-1])
        self.update()
        return self.tokens[self.last]

    # -- drawing
    def update(self):
        p_t, p_k, p_p, p_m = self.pipeline()
        n = self.base.size
        kept = p_m > 0
        for i in range(n):
            bar = self.bars[i]
            bar.set_height(p_t[i])
            bar.set_color(DRAWN if i == self.last else (KEPT if kept[i] else CUT))
        self.cum_line.set_data(np.arange(n), np.cumsum(p_k))
        self.p_line.set_ydata([self.p.value] * 2)
        # min-p keeps p_m > 0 exactly when p_t >= min_p * max(p_t): top-k and top-p keep the largest
        # token and renormalising keeps ratios, so the threshold is drawn on the bars' own scale (p_t)
        self.minp_line.set_ydata([self.min_p.value * p_t.max()] * 2)
        self.minp_line.set_visible(self.min_p.value > 0)
        k_off = self.k_is_off()
        self.k_line.set_xdata([self.k.value - 0.5] * 2)
        self.k_line.set_visible(not k_off)
        self.k_state.value = "<i>off</i>" if k_off else ""
        k_text = "off" if k_off else str(self.k.value)
        n_kept = int(kept.sum())
        mass = float(p_t[kept].sum())
        self.title.set_text(
            f"T = {self.temperature.value:.2f}, k = {k_text}, p = {self.p.value:.2f}, "
            f"min-p = {self.min_p.value:.2f}: {n_kept} of {n} tokens kept, holding {mass:.1%} of the mass"
        )
        total = int(self.counts.sum())
        freqs = self.counts / total if total else np.zeros(n)
        for i in range(n):
            self.freq_bars[i].set_height(freqs[i])
            self.freq_bars[i].set_color(DRAWN if i == self.last else "#7f8c8d")
        self.expect_marks.set_data(np.arange(n), p_m)
        self.tally_title.set_text(f"{total} draws" + ("" if self.last is None else f" — last: “{self.tokens[self.last]}”"))
        self.live.refresh()

        top3 = float(np.sort(self.base)[::-1][:3].sum())
        drawn = "" if self.last is None else f" &nbsp; last draw: <b>{html.escape(self.tokens[self.last])}</b>"
        kept_words = ", ".join(html.escape(t) for t, k in zip(self.tokens, kept) if k)
        self.readout.value = (
            f"top 3 tokens of this prompt hold <b>{top3:.1%}</b> at T = 1. "
            f"Kept set ({n_kept}): <code>{kept_words}</code>{drawn}"
        )

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)
