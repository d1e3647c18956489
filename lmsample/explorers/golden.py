"""Choosing k and p from held-out text, one position at a time: where does the real next token fall?

``GoldenPositionExplorer(golden, tokenizer)`` takes the :class:`lmsample.golden.GoldenTokens` of
:func:`lmsample.golden_tokens` (no model: everything it shows was stored when the text was scored).
Pick a position of the held-out text: the text up to it is shown with the token that really comes
next (the golden token) highlighted, and the bars are the model's 20 most probable next tokens there
(log scale), the golden one outlined in red (drawn after a gap, with its rank, when it is not among
them). Blue bars are the tokens top-p keeps at the chosen p; the green line is top-k's edge at the
chosen k. The verdicts say whether top-k and top-p, each alone at temperature 1, keep the golden
token, exactly as :func:`lmsample.top_k_filter` and :func:`lmsample.top_p_filter` would. The right
panel is the golden rank at every position with the chosen k: the dots above the line are the
positions top-k would cut. k and p start at :func:`lmsample.suggest_k_p`'s 95% coverage.

The golden rank and CDF are optimistic under ties: a token tied with the golden one at a lower
index comes first in the descending order, so top-k with k = rank or top-p with p = CDF can drop
it. Without ties the CDF is a p that keeps the golden token, but not the smallest: top-p keeps it
for every p above the mass of the tokens before it (CDF minus its own probability).
"""
from __future__ import annotations

import html
import math

import ipywidgets as widgets
import numpy as np
from matplotlib.transforms import blended_transform_factory

from ..golden import GoldenTokens, suggest_k_p
from ._blit import BlitFigure
from .model import show_token

KEPT, CUT, GOLDEN, EDGE, DOT = "#3b75af", "#d3d3d3", "#c0392b", "#2e9e44", "#9aa5b1"
#: y-range of the bars (log scale): a golden token less probable than this sits on the floor, with its number
FLOOR = 1e-8
#: tokens of context shown before the position, and of text after the golden token
CONTEXT, AFTER = 40, 8


def _p_on_grid(p: float, step: float) -> float:
    """``p`` rounded up to the slider's grid (a larger p keeps at least as many positions)."""
    return min(1.0, round(math.ceil(round(p / step, 6)) * step, 10))


class GoldenPositionExplorer:
    """One held-out position at a time: context, the top next tokens with the golden one, its rank and CDF,
    and whether top-k and top-p keep it.

    ``golden`` is a :class:`~lmsample.golden.GoldenTokens` from :func:`lmsample.golden_tokens` (it must hold
    ``top_ids``, ``top_probs``, ``strict_ranks`` and ``mass_ahead``); ``tokenizer`` decodes its token ids.
    Controls (attributes): ``position``, ``k`` and ``p`` (sliders; k and p start at
    ``suggest_k_p(golden, coverage)``, p rounded up to the slider's step of 0.001). ``verdicts()`` gives
    ``(kept by top-k, kept by top-p)`` at the current position; ``rank``, ``cdf`` the golden rank and CDF there.
    """

    p_step = 0.001

    def __init__(self, golden: GoldenTokens, tokenizer, position: int | None = None, coverage: float = 0.95):
        if not isinstance(golden, GoldenTokens):
            raise ValueError(f"golden must be the GoldenTokens of lmsample.golden_tokens, got {type(golden).__name__}")
        missing = [f for f in ("top_ids", "top_probs", "strict_ranks", "mass_ahead") if getattr(golden, f) is None]
        if missing:
            raise ValueError(f"golden has no {', '.join(missing)}: make it with lmsample.golden_tokens")
        self.golden, self.tokenizer = golden, tokenizer
        self.suggestion = suggest_k_p(golden, coverage)
        n = self.n_positions = int(golden.ranks.size)
        self.n_bars = int(golden.top_ids.shape[1])
        # room above the suggested k, but not beyond the k that keeps the golden token everywhere
        k_max = int(min(max(100, 2 * self.suggestion.k, np.quantile(golden.ranks, 0.99)),
                        max(int(golden.strict_ranks.max()), self.suggestion.k)))
        p0 = _p_on_grid(self.suggestion.p, self.p_step)
        if position is None:  # the first position whose golden token the suggested p cuts: a case worth a look
            dropped = np.flatnonzero(~golden.keeps(p=p0))
            position = int(dropped[0]) if dropped.size else 0
        if isinstance(position, bool) or not isinstance(position, (int, np.integer)) or not 0 <= position < n:
            raise ValueError(f"position must be an integer in [0, {n}), got {position!r}")

        style = {"description_width": "70px"}
        slider = dict(continuous_update=True, style=style, layout=widgets.Layout(width="420px"))
        self.position = widgets.IntSlider(value=int(position), min=0, max=n - 1, description="position",
                                          **dict(slider, layout=widgets.Layout(width="860px")))
        self.k = widgets.IntSlider(value=self.suggestion.k, min=1, max=k_max, description="top-k", **slider)
        self.p = widgets.FloatSlider(value=p0, min=0.01, max=1.0, step=self.p_step, description="top-p",
                                     readout_format=".3f", **slider)
        self.context = widgets.HTML()
        self.readout = widgets.HTML()
        self.live = BlitFigure(figsize=(9.6, 3.6))
        self.figure = self.live.figure

        ax = self.ax = self.figure.add_axes([0.07, 0.30, 0.58, 0.56])
        slots = np.arange(self.n_bars + 2)  # the top tokens, a gap, and the golden token when it is not among them
        self.bars = ax.bar(slots, np.full(slots.size, FLOOR), bottom=FLOOR, width=0.75, color=KEPT)
        self.bars[self.n_bars].set_visible(False)  # the gap
        under = blended_transform_factory(ax.transData, ax.transAxes)
        self.labels = [ax.text(x, -0.03, "", transform=under, rotation=45, ha="right", va="top",
                               rotation_mode="anchor", fontsize=8) for x in slots]
        self.golden_value = ax.text(0, FLOOR, "", ha="center", va="bottom", fontsize=7, color=GOLDEN)
        self.k_line = ax.axvline(0.5, color=EDGE, lw=1.3)
        self.title = self.figure.text(0.5, 0.955, "", ha="center", va="center", fontsize=10)
        ax.set_yscale("log")
        ax.set_ylim(FLOOR, 1.5)
        ax.set_xlim(-0.6, slots.size - 0.4)
        ax.set_xticks([])
        ax.set_ylabel("probability (log scale)")
        ax.spines[["top", "right"]].set_visible(False)

        rx = self.ax_ranks = self.figure.add_axes([0.73, 0.30, 0.25, 0.56])
        rx.scatter(np.arange(n), golden.ranks, s=4, color=DOT, linewidths=0)
        rx.set_yscale("log")
        rx.set_ylim(0.7, max(2.0, float(golden.ranks.max())) * 1.5)
        rx.set_xlim(-0.02 * n, 1.02 * n)
        rx.set_xlabel("position in the text", fontsize=8)
        rx.set_ylabel("golden rank (log scale)", fontsize=8)
        rx.tick_params(labelsize=7)
        rx.spines[["top", "right"]].set_visible(False)
        self.rank_k_line = rx.axhline(1.0, color=EDGE, lw=1.2)
        (self.rank_dot,) = rx.plot([0], [1], "o", ms=7, mfc="none", mec=GOLDEN, mew=1.5)
        self.rank_title = rx.set_title("", fontsize=8)
        self.live.animate_rarely(*self.labels)
        self._labelled = None  # the position the labels show
        self.live.animate(*self.bars, self.golden_value, self.k_line, self.title,
                          self.rank_k_line, self.rank_dot, self.rank_title)

        for control in (self.position, self.k, self.p):
            control.observe(lambda change: self.update(), names="value")
        self.widget = widgets.VBox([
            self.position,
            widgets.HBox([self.k, self.p]),
            self.context,
            self.live.widget,
            self.readout,
        ])
        self.update()

    # -- what the current position holds
    @property
    def rank(self) -> int:
        """The golden token's rank at the current position (:func:`lmsample.golden_rank`)."""
        return int(self.golden.ranks[self.position.value])

    @property
    def cdf(self) -> float:
        """The golden token's CDF at the current position (:func:`lmsample.golden_cdf`)."""
        return float(self.golden.cdfs[self.position.value])

    def verdicts(self) -> tuple:
        """``(top-k keeps it, top-p keeps it)`` for the golden token at the current position, at the sliders' k and p."""
        i, g = self.position.value, self.golden
        k, p = int(self.k.value), float(self.p.value)
        return bool(g.strict_ranks[i] <= k), bool(p >= 1.0 or g.mass_ahead[i] < p)

    def _decode(self, ids) -> str:
        return self.tokenizer.decode([int(t) for t in ids])

    # -- drawing
    def _label(self, ids, target: int, in_top: bool):
        for label, token in zip(self.labels, ids):
            label.set_text(show_token(self._decode([token])))
            label.set_color(GOLDEN if token == target else "black")
        self.labels[self.n_bars].set_text("" if in_top else "…")
        self.labels[self.n_bars + 1].set_text("" if in_top else show_token(self._decode([target])))
        self.labels[self.n_bars + 1].set_color(GOLDEN)
        self.live.touch()

    def update(self):
        g, i = self.golden, int(self.position.value)
        k, p = int(self.k.value), float(self.p.value)
        ids, probs = g.top_ids[i], g.top_probs[i]
        target = int(g.token_ids[i + 1])
        own = float(np.exp(g.logprobs[i]))
        ahead = np.concatenate([[0.0], np.cumsum(probs)[:-1]])  # mass before each bar, summed as top-p sums
        kept_by_p = (ahead < p) | (p >= 1.0)
        in_top = np.flatnonzero(ids == target)
        if i != self._labelled:  # the labels change with the position only: redrawn then, not with k or p
            self._label(ids, target, in_top.size > 0)
            self._labelled = i
        for j, bar in enumerate(self.bars[: self.n_bars]):
            bar.set_height(max(probs[j], FLOOR))
            bar.set_color(KEPT if kept_by_p[j] else CUT)
            is_golden = ids[j] == target
            bar.set_edgecolor(GOLDEN if is_golden else "none")
            bar.set_linewidth(2.0 if is_golden else 0.0)
        outside = self.bars[self.n_bars + 1]
        kept_k, kept_p = self.verdicts()
        if in_top.size:
            x = int(in_top[0])
            outside.set_visible(False)
        else:
            x = self.n_bars + 1
            outside.set_visible(True)
            outside.set_height(max(own, FLOOR))
            outside.set_color(KEPT if kept_p else CUT)
            outside.set_edgecolor(GOLDEN)
            outside.set_linewidth(2.0)
        self.golden_value.set_position((x, max(own, FLOOR) * 1.15))
        self.golden_value.set_text(f"rank {self.rank:,}\n{own:.2g}")
        # top-k keeps the first k tokens of the descending order: its edge falls after bar k (off the bars when k > 20)
        self.k_line.set_xdata([k - 0.5, k - 0.5])
        self.k_line.set_visible(k < self.n_bars)
        self.title.set_text(
            f"position {i:,} of {self.n_positions:,}: golden token rank {self.rank:,}, CDF {self.cdf:.4f}; "
            f"top-k = {k}: {'kept' if kept_k else 'DROPPED'}, top-p = {p:.3f}: {'kept' if kept_p else 'DROPPED'}"
        )
        self.rank_k_line.set_ydata([k, k])
        self.rank_dot.set_data([i], [self.rank])
        covered_k, covered_p = g.keeps(k=k).mean(), g.keeps(p=p).mean()
        self.rank_title.set_text(f"k = {k} keeps {covered_k:.1%} of the golden tokens")
        self.live.refresh()

        before = self._decode(g.token_ids[max(0, i + 1 - CONTEXT): i + 1])
        after = self._decode(g.token_ids[i + 2: i + 2 + AFTER])
        self.context.value = (
            "<div style='font-family:serif;font-size:105%;max-width:860px;line-height:1.5'>"
            + ("… " if i + 1 > CONTEXT else "") + html.escape(before)
            + f"<span style='background:#f5b7b1;border-bottom:2px solid {GOLDEN}'>{html.escape(self._decode([target]))}</span>"
            + f"<span style='color:#999'>{html.escape(after)} …</span></div>"
        )
        ties_ahead = int(g.strict_ranks[i]) - self.rank
        s = self.suggestion
        self.readout.value = (
            f"The text continues with <b>“{html.escape(show_token(self._decode([target])))}”</b>, probability "
            f"{own:.3g}: its <b>rank</b> is {self.rank:,} ({self.rank - 1:,} tokens are more probable) and its "
            f"<b>CDF</b> {self.cdf:.6f}. "
            f"Top-k with k = {k} <b>{'keeps' if kept_k else 'drops'}</b> it (it keeps it for k ≥ {int(g.strict_ranks[i]):,}); "
            f"top-p with p = {p:.3f} <b>{'keeps' if kept_p else 'drops'}</b> it (it keeps it for p &gt; "
            f"{float(g.mass_ahead[i]):.6f}, the mass of the tokens before it in the descending order).<br>"
            f"Rank and CDF are optimistic under ties: a token tied with the golden one at a lower index comes first, "
            f"so top-k with k = rank or top-p with p = CDF can drop it "
            + (f"(here {ties_ahead} tied token{'s' if ties_ahead != 1 else ''} come first). " if ties_ahead > 0
               else "(no tie here). ")
            + "Without ties the CDF is a p that keeps it, not the smallest one.<br>"
            f"Over all {self.n_positions:,} positions, k = {k} keeps the golden token at <b>{covered_k:.1%}</b> of them "
            f"and p = {p:.3f} at <b>{covered_p:.1%}</b> (started at suggest_k_p's {s.coverage:.0%} coverage: "
            f"k = {s.k}, p = {s.p:.4f})."
        )

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)
