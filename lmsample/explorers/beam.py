"""Step through beam search on a toy language model and compare it with greedy and exhaustive search."""
from __future__ import annotations

import html
from dataclasses import dataclass

import ipywidgets as widgets
from matplotlib.patches import Patch

from ..decoding import EOS, _extensions, _rank_key, beam_search, exhaustive_best, greedy_decode, sequence_prob
from ._blit import BlitFigure

KEPT, FINISHED, PRUNED = "kept", "finished", "pruned"
COLORS = {KEPT: "#3b75af", FINISHED: "#2e9e44", PRUNED: "#c8c8c8"}


@dataclass(frozen=True)
class Candidate:
    tokens: tuple
    prob: float
    status: str  # KEPT (a beam for the next step), FINISHED (ended in <eos>, set aside) or PRUNED


def beam_steps(lm, beam_width: int, max_len: int = 20) -> list[list[Candidate]]:
    """Every step of :func:`lmsample.beam_search`: the ranked candidates and what became of each.

    It follows ``beam_search`` exactly (same extensions, order and tie-breaking): the ``beam_width``
    best candidates are kept, and a kept candidate ending in ``"<eos>"`` is finished and set aside.
    """
    beams = [((), 1.0)]
    steps = []
    for _ in range(max_len):
        candidates = sorted((ext for seq, prob in beams for ext in _extensions(lm, seq, prob)), key=_rank_key)
        step = []
        for rank, (seq, prob) in enumerate(candidates):
            status = PRUNED if rank >= beam_width else FINISHED if seq[-1] == EOS else KEPT
            step.append(Candidate(seq, prob, status))
        steps.append(step)
        beams = [(c.tokens, c.prob) for c in step if c.status == KEPT]
        if not beams:
            break
    return steps


def _label(tokens) -> str:
    return " ".join(tokens)


def _html(tokens) -> str:
    return html.escape(_label(tokens))


class BeamExplorer:
    """Choose the beam width, step through the search, see which partial sequences survive.

    The bars are the candidates of the current step, most probable first: blue ones are kept as
    beams, green ones ended with ``<eos>`` and are set aside as finished, grey ones are pruned.
    Below, the finished sequence the search returns, next to greedy decoding and exhaustive search.
    """

    max_rows = 12

    def __init__(self, lm, max_width: int = 5, max_len: int = 8):
        self.lm = lm
        self.max_len = max_len
        self._steps = {w: beam_steps(lm, w, max_len) for w in range(1, max_width + 1)}
        self._results = {w: beam_search(lm, w, max_len) for w in range(1, max_width + 1)}
        greedy = greedy_decode(lm, max_len)
        self._greedy = (greedy, sequence_prob(lm, greedy))
        self._exhaustive = exhaustive_best(lm, max_len)

        self.width = widgets.IntSlider(value=1, min=1, max=max_width, description="beam width", continuous_update=True)
        self.step = widgets.IntSlider(value=1, min=1, max=len(self._steps[1]), description="step", continuous_update=True)
        self.back = widgets.Button(description="◀ step", layout=widgets.Layout(width="80px"))
        self.forward = widgets.Button(description="step ▶", layout=widgets.Layout(width="80px"))
        self.summary = widgets.HTML()
        self.live = BlitFigure(figsize=(7.2, 3.8))
        self.figure = self.live.figure
        self._build_axes()

        self.width.observe(self._on_width, names="value")
        self.step.observe(lambda change: self.update(), names="value")
        self.back.on_click(lambda _: self._nudge(-1))
        self.forward.on_click(lambda _: self._nudge(+1))
        self.widget = widgets.VBox(
            [widgets.HBox([self.width, self.step, self.back, self.forward]), self.live.widget, self.summary]
        )
        self.update()

    # -- drawing
    def _build_axes(self):
        # Bars are drawn relative to the step's most probable candidate (the x axis runs from 0 to
        # 1.18 times it), so nothing static changes between steps: labels, bars, values and title
        # are animated artists over a cached background.
        ax = self.ax = self.figure.add_axes([0.30, 0.17, 0.62, 0.74])
        rows = list(range(self.max_rows))
        self.bars = ax.barh(rows, [0.0] * self.max_rows, color=COLORS[PRUNED], height=0.7)
        self.values = [ax.text(0, r, "", va="center", fontsize=8) for r in rows]
        self.labels = [ax.text(-0.02, r, "", va="center", ha="right", fontsize=8, transform=ax.get_yaxis_transform())
                       for r in rows]
        ax.set_yticks([])
        ax.set_xticks([])
        ax.set_xlim(0, 1.18)
        ax.set_ylim(self.max_rows - 0.5, -0.5)
        ax.spines[["top", "right"]].set_visible(False)
        handles = [Patch(color=COLORS[s], label=s) for s in (KEPT, FINISHED, PRUNED)]
        ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.45, -0.02), ncol=3, fontsize=8, frameon=False,
                  title="bar length and number: probability of the partial sequence", title_fontsize=8)
        self.title = ax.set_title("", fontsize=10)
        self.live.animate(*self.bars, *self.values, *self.labels, self.title)

    def _on_width(self, change):
        n_steps = len(self._steps[self.width.value])
        self.step.max = n_steps  # may clamp step.value, which triggers update() itself
        self.update()

    def _nudge(self, delta):
        self.step.value = min(max(self.step.value + delta, self.step.min), self.step.max)

    def update(self):
        width = self.width.value
        steps = self._steps[width]
        s = min(self.step.value, len(steps))
        cands = steps[s - 1]
        shown = cands[: self.max_rows]
        top = max(c.prob for c in cands)
        for r in range(self.max_rows):
            bar, value, label = self.bars[r], self.values[r], self.labels[r]
            if r < len(shown):
                c = shown[r]
                bar.set_visible(True)
                bar.set_width(c.prob / top)
                bar.set_color(COLORS[c.status])
                value.set_text(f"{c.prob:.3f}")
                value.set_x(c.prob / top + 0.01)
                label.set_text(_label(c.tokens))
            else:
                bar.set_visible(False)
                value.set_text("")
                label.set_text("")
        if len(cands) > self.max_rows:
            self.labels[-1].set_text(f"… {len(cands) - self.max_rows + 1} more (pruned)")
            self.bars[-1].set_visible(False)
            self.values[-1].set_text("")
        n_kept = sum(c.status == KEPT for c in cands)
        n_fin = sum(c.status == FINISHED for c in cands)
        self.title.set_text(
            f"width {width}, step {s} of {len(steps)}: {len(cands)} candidates, {n_kept} kept, {n_fin} finished"
        )
        self.live.refresh()

        finished_so_far = [c for st in steps[:s] for c in st if c.status == FINISHED]
        best_so_far = min(((c.tokens, c.prob) for c in finished_so_far), key=_rank_key, default=None)
        seq, prob = self._results[width]
        g_seq, g_prob = self._greedy
        e_seq, e_prob = self._exhaustive
        so_far = "none yet" if best_so_far is None else f"<code>{_html(best_so_far[0])}</code> ({best_so_far[1]:.4f})"
        self.summary.value = (
            "<table style='font-size:90%'>"
            f"<tr><td>best finished so far</td><td>{so_far}</td></tr>"
            f"<tr><td><b>beam search, width {width}</b></td><td><code>{_html(seq)}</code> — <b>{prob:.4f}</b></td></tr>"
            f"<tr><td>greedy decoding</td><td><code>{_html(g_seq)}</code> — {g_prob:.4f}</td></tr>"
            f"<tr><td>exhaustive search</td><td><code>{_html(e_seq)}</code> — {e_prob:.4f}</td></tr>"
            "</table>"
        )

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)
