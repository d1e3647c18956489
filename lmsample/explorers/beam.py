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


UNFINISHED = "unfinished: no <eos> within max_len"


def _result(tokens, prob, digits: int = 4) -> str:
    """A search result as HTML: the sequence, its probability to ``digits`` significant figures, and a
    red mark when the sequence never ended (the search fell back to the best sequence of length max_len)."""
    text = f"<code>{_html(tokens)}</code> — {prob:.{digits}g}"
    if not tokens or tokens[-1] != EOS:
        text += f" <span style='color:#c0392b'><b>({html.escape(UNFINISHED)})</b></span>"
    return text


class BeamExplorer:
    """Choose the model and the beam width, step through the search, see which partial sequences survive.

    ``lm`` is a language model or a dict ``{name: language model}`` (a dropdown chooses among them).
    The bars are the candidates of the current step, most probable first: blue ones are kept as
    beams, green ones ended with ``<eos>`` and are set aside as finished, grey ones are pruned.
    Below, the sequence the search returns, next to greedy decoding and exhaustive search; a result
    that never reached ``<eos>`` (cut off at ``max_len``) is marked *unfinished*. Probabilities are
    shown to three significant figures, so the tiny probabilities of long sequences stay readable.
    """

    max_rows = 12

    def __init__(self, lm, max_width: int = 5, max_len: int = 8):
        self.models = dict(lm) if isinstance(lm, dict) else {"model": lm}
        self.max_width = max_width
        self.max_len = max_len
        self._computed = {}
        self.model = widgets.Dropdown(options=list(self.models), description="model")
        self.width = widgets.IntSlider(value=1, min=1, max=max_width, description="beam width", continuous_update=True)
        self.step = widgets.IntSlider(value=1, min=1, max=len(self._searches()["steps"][1]), description="step",
                                      continuous_update=True)
        self.back = widgets.Button(description="◀ step", layout=widgets.Layout(width="80px"))
        self.forward = widgets.Button(description="step ▶", layout=widgets.Layout(width="80px"))
        self.summary = widgets.HTML()
        self.live = BlitFigure(figsize=(7.2, 3.8))
        self.figure = self.live.figure
        self._build_axes()

        self.model.observe(self._on_width, names="value")
        self.width.observe(self._on_width, names="value")
        self.step.observe(lambda change: self.update(), names="value")
        self.back.on_click(lambda _: self._nudge(-1))
        self.forward.on_click(lambda _: self._nudge(+1))
        controls = [self.width, self.step, self.back, self.forward]
        rows = [widgets.HBox([self.model])] if len(self.models) > 1 else []
        self.widget = widgets.VBox([*rows, widgets.HBox(controls), self.live.widget, self.summary])
        self.update()

    def _searches(self) -> dict:
        """Every search of the chosen model, computed once per model (a redraw only reads them)."""
        name = self.model.value
        if name not in self._computed:
            lm, widths = self.models[name], range(1, self.max_width + 1)
            greedy = greedy_decode(lm, self.max_len)
            self._computed[name] = {
                "steps": {w: beam_steps(lm, w, self.max_len) for w in widths},
                "results": {w: beam_search(lm, w, self.max_len) for w in widths},
                "greedy": (greedy, sequence_prob(lm, greedy)),
                "exhaustive": exhaustive_best(lm, self.max_len),
            }
        return self._computed[name]

    @property
    def lm(self):
        return self.models[self.model.value]

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
        # the candidates' labels stand where tick labels would, so the axis label goes to the figure's edge
        self.figure.text(0.012, 0.54, "candidates, most probable first", rotation=90, va="center", fontsize=9)
        ax.set_xlim(0, 1.18)
        ax.set_ylim(self.max_rows - 0.5, -0.5)
        ax.spines[["top", "right"]].set_visible(False)
        handles = [Patch(color=COLORS[s], label=s) for s in (KEPT, FINISHED, PRUNED)]
        ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.45, -0.02), ncol=3, fontsize=8, frameon=False,
                  title="bar length and number: probability of the partial sequence", title_fontsize=8)
        self.title = ax.set_title("", fontsize=10)
        self.live.animate(*self.bars, *self.values, *self.labels, self.title)

    def _on_width(self, change):
        n_steps = len(self._searches()["steps"][self.width.value])
        self.step.max = n_steps  # may clamp step.value, which triggers update() itself
        self.update()

    def _nudge(self, delta):
        self.step.value = min(max(self.step.value + delta, self.step.min), self.step.max)

    def update(self):
        width = self.width.value
        searches = self._searches()
        steps = searches["steps"][width]
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
                value.set_text(f"{c.prob:.3g}")
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
        cut = " — max_len reached" if s == len(steps) and n_kept else ""
        self.title.set_text(
            f"width {width}, step {s} of {len(steps)}: {len(cands)} candidates, {n_kept} kept, {n_fin} finished{cut}"
        )
        self.live.refresh()

        finished_so_far = [c for st in steps[:s] for c in st if c.status == FINISHED]
        best_so_far = min(((c.tokens, c.prob) for c in finished_so_far), key=_rank_key, default=None)
        so_far = "none yet" if best_so_far is None else _result(*best_so_far, digits=4)
        self.summary.value = (
            "<table style='font-size:90%'>"
            f"<tr><td>best finished so far</td><td>{so_far}</td></tr>"
            f"<tr><td><b>beam search, width {width}</b></td><td><b>{_result(*searches['results'][width])}</b></td></tr>"
            f"<tr><td>greedy decoding</td><td>{_result(*searches['greedy'])}</td></tr>"
            f"<tr><td>exhaustive search</td><td>{_result(*searches['exhaustive'])}</td></tr>"
            "</table>"
        )

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)


def draw_search_tree(ax, lm, depth: int = 3, beam_width: int | None = None, show_greedy: bool = True):
    """Draw the search tree of ``lm`` on a matplotlib ``ax``: every sequence of nonzero probability with
    at most ``depth`` tokens, as in d2l's beam-search figure.

    Columns are time steps; each edge carries the conditional probability of its token and each leaf
    the probability of its whole path. Children are ordered most probable first. With ``beam_width``
    the nodes are coloured by what :func:`beam_steps` did with them (kept, finished, pruned; white:
    never a candidate because its parent was pruned); ``show_greedy`` draws greedy decoding's path in red.
    Returns ``ax``.
    """
    from matplotlib.lines import Line2D

    depth = int(depth)
    status = {}
    if beam_width is not None:
        status = {c.tokens: c.status for step in beam_steps(lm, beam_width, depth) for c in step}
    greedy = greedy_decode(lm, depth) if show_greedy else ()
    greedy_prefixes = {greedy[:i] for i in range(1, len(greedy) + 1)}

    pos, leaves = {}, []

    def place(seq, prob):  # depth first, children most probable first; returns the node's y
        children = [] if (seq and seq[-1] == EOS) or len(seq) >= depth else sorted(_extensions(lm, seq, prob), key=_rank_key)
        if not children:
            y = float(len(leaves))
            leaves.append((seq, prob))
        else:
            ys = [place(child, p) for child, p in children]
            y = (ys[0] + ys[-1]) / 2
        pos[seq] = (len(seq), y, prob)
        return y

    place((), 1.0)
    for seq, (x, y, prob) in pos.items():
        if not seq:
            continue
        px, py, pprob = pos[seq[:-1]]
        on_greedy = seq in greedy_prefixes
        ax.plot([px + 0.18, x - 0.18], [py, y], color="#c0392b" if on_greedy else "#9a9a9a",
                linewidth=2.2 if on_greedy else 0.8, zorder=1)
        ax.text((px + x) / 2, py + 0.62 * (y - py), f"{prob / pprob:.3g}", fontsize=6.5, ha="center", va="bottom",
                color="#444444", zorder=3)
    for seq, (x, y, prob) in pos.items():
        face = "white" if seq and beam_width is not None and seq not in status else COLORS.get(status.get(seq), "#eeeeee")
        text_color = "white" if status.get(seq) in (KEPT, FINISHED) else "black"
        ax.text(x, y, seq[-1] if seq else "start", ha="center", va="center", fontsize=7.5, color=text_color, zorder=4,
                bbox=dict(boxstyle="round,pad=0.25", facecolor=face, edgecolor="#777777", linewidth=0.6))
    for seq, prob in leaves:
        x, y, _ = pos[seq]
        ax.text(x + 0.25, y, f"P = {prob:.3g}", va="center", fontsize=7, zorder=4)
    ax.set_xlim(-0.4, depth + 0.75)
    ax.set_ylim(len(leaves) - 0.4, -0.6)
    ax.set_xticks(range(depth + 1), ["start"] + [f"step {t}" for t in range(1, depth + 1)], fontsize=8)
    ax.set_yticks([])
    ax.set_ylabel("sequences (children most probable first)", fontsize=8)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    handles = []
    if show_greedy:
        handles.append(Line2D([], [], color="#c0392b", linewidth=2.2, label="greedy path"))
    if beam_width is not None:
        handles += [Patch(facecolor=COLORS[s], edgecolor="#777777", label=f"{s} (width {beam_width})") for s in (KEPT, FINISHED, PRUNED)]
        handles.append(Patch(facecolor="white", edgecolor="#777777", label="never a candidate"))
    if handles:
        ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.06), ncol=len(handles), fontsize=7,
                  frameon=False)
    return ax
