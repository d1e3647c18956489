"""A real model's next-token distribution under temperature, top-k, top-p and min-p, walked token by token.

Type a prompt: the model runs once and its next-token logits are kept. Moving a slider only
re-applies lmsample's filters (temperature -> top-k -> top-p -> min-p) to those logits, so the
picture follows the sliders immediately. Left: the 20 most probable next tokens after temperature;
blue ones survive the filters, grey ones are cut. Right: the cumulative probability of all the
tokens in descending order (log-scaled rank), the threshold top-p compares it with, and the edge of
the kept set (the kept set is always a prefix of that order).

"step" draws one token from the kept set with a seeded generator, appends it to the text and runs
the model once more on it (reusing its key/value cache), so the next distribution appears: walk a
generation token by token and watch the kept set grow and shrink. "undo" takes the last drawn
token back. "Generate" samples a whole continuation of the text so far with :func:`lmsample.generate`.
"""
from __future__ import annotations

import html
import inspect

import ipywidgets as widgets
import numpy as np
from matplotlib.transforms import blended_transform_factory

from ..sampling import inverse_cdf_sample
from ..temperature import softmax
from ..truncation import min_p_filter, top_k_filter, top_p_filter
from ._blit import BlitFigure

KEPT, CUT = "#3b75af", "#d3d3d3"
CURVE, THRESHOLD, EDGE = "#444444", "#d9822b", "#2e9e44"
DRAWN_BG = "#ffe08a"


def show_token(text: str) -> str:
    """A token as the reader should see it: leading spaces as '␣', newlines as '⏎'."""
    return text.replace(" ", "␣").replace("\n", "⏎") or "∅"


def _tokens(n: int) -> str:
    return f"{n:,} token" + ("" if n == 1 else "s")


def curve_ranks(vocab_size: int) -> np.ndarray:
    """The ranks (1-based) at which the cumulative curve is drawn: every rank up to 30, then about 250
    log-spaced ones up to the whole vocabulary (a line through all 50,000 points would cost more to
    draw and look the same on a log axis)."""
    spaced = np.round(np.geomspace(1, vocab_size, 250)).astype(np.int64)
    return np.unique(np.concatenate([np.arange(1, min(30, vocab_size) + 1), spaced, [vocab_size]]))


class NextTokenExplorer:
    """Prompt box, sampling sliders, the next-token distribution and its cumulative mass, a step-by-step
    walk and a "generate" button.

    ``model`` and ``tokenizer`` are a causal language model and its tokenizer (from
    :func:`lmsample.load_model`). Controls are attributes: ``prompt`` (Text, applied on Enter or
    when it loses focus; a new prompt starts a new walk), ``temperature``, ``top_k`` (0 = off),
    ``top_p``, ``min_p``, ``step`` and ``undo`` (Buttons), ``new_tokens``, ``generate`` (Button).
    ``probs()`` gives the distribution after temperature, ``kept()`` the one draws come from,
    ``drawn`` the token ids drawn by "step" so far (``steps`` with what each draw came from) and
    ``rng`` the ``numpy.random.Generator`` the steps draw with (seeded by ``seed``).
    """

    n_bars = 20

    def __init__(self, model, tokenizer, prompt: str = "The best thing about living by the sea is", seed: int = 0):
        import torch  # the real-model half: imported only when an explorer is made

        from ..generation import _cache_argument, end_token_ids

        self._torch = torch
        self.model, self.tokenizer = model, tokenizer
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self.vocab_size = None
        self._ranks = None  # the ranks the cumulative curve is drawn at (curve_ranks of the vocabulary)
        self.steps = []  # one dict per drawn token: id, its probability in the kept set, the kept set's size
        self._history = []  # the next-token logits after the prompt and after each drawn token
        self._past = None  # the model's key/value cache for the text so far
        parameters = inspect.signature(model.forward).parameters
        self._cache_name = _cache_argument(parameters)
        self._forward_kwargs = {"use_cache": True}
        if "logits_to_keep" in parameters:
            self._forward_kwargs["logits_to_keep"] = 1
        self._end_ids = set(end_token_ids(model))

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
        self.step = widgets.Button(description="step", button_style="success", tooltip="draw one token from the kept set",
                                   layout=widgets.Layout(width="90px"))
        self.undo = widgets.Button(description="undo", tooltip="take the last drawn token back",
                                   layout=widgets.Layout(width="90px"))
        self.new_tokens = widgets.IntSlider(value=30, min=5, max=100, step=5, description="new tokens", **slider)
        self.generate = widgets.Button(description="generate", button_style="primary",
                                       layout=widgets.Layout(width="120px"))
        self.readout = widgets.HTML()
        self.walk = widgets.HTML()
        self.output = widgets.HTML()
        self.live = BlitFigure(figsize=(9.6, 3.7))
        self.figure = self.live.figure

        ax = self.ax = self.figure.add_axes([0.07, 0.30, 0.57, 0.58])
        x = np.arange(self.n_bars)
        self.bars = ax.bar(x, np.full(self.n_bars, 1e-6), bottom=1e-6, width=0.75, color=KEPT)
        self.values = [ax.text(i, 1e-5, "", ha="center", va="bottom", fontsize=7) for i in x[:8]]  # the top 8
        self.title = self.figure.text(0.5, 0.955, "", ha="center", va="center", fontsize=10)
        ax.set_xticks(x, [""] * self.n_bars)
        under = blended_transform_factory(ax.transData, ax.transAxes)
        # the tokens under the bars change with the prompt and each step, not with the sliders
        self.labels = [ax.text(i, -0.03, "", transform=under, rotation=45, ha="right", va="top",
                               rotation_mode="anchor", fontsize=8) for i in x]
        ax.set_ylabel("probability (log scale)")
        ax.set_yscale("log")
        ax.set_ylim(1e-5, 1.5)
        ax.set_xlim(-0.6, self.n_bars - 0.4)
        ax.spines[["top", "right"]].set_visible(False)

        cx = self.ax_cum = self.figure.add_axes([0.72, 0.30, 0.26, 0.58])
        (self.cum_line,) = cx.plot([1, 2], [0, 1], "-", color=CURVE, lw=1.4, label="cumulative probability")
        self.p_line = cx.axhline(1.0, color=THRESHOLD, ls="--", lw=1.2, label="top-p threshold")
        self.edge_line = cx.axvline(1.0, color=EDGE, lw=1.2, label="edge of the kept set")
        (self.edge_dot,) = cx.plot([1], [0], "o", color=EDGE, ms=5)
        cx.set_xscale("log")
        cx.set_ylim(0, 1.03)
        cx.set_xlabel("tokens, most probable first", fontsize=8)
        cx.set_ylabel("cumulative probability", fontsize=8)
        cx.tick_params(labelsize=7)
        cx.spines[["top", "right"]].set_visible(False)
        cx.legend(loc="upper left", bbox_to_anchor=(-0.05, -0.2), fontsize=7, frameon=False)
        self.live.animate_rarely(*self.labels)
        self.live.animate(*self.bars, *self.values, self.title, self.cum_line, self.p_line, self.edge_line, self.edge_dot)

        for control in (self.temperature, self.top_k, self.top_p, self.min_p):
            control.observe(lambda change: self.update(), names="value")
        self.prompt.observe(lambda change: self._run_model(), names="value")
        self.step.on_click(lambda _: self.take_step())
        self.undo.on_click(lambda _: self.undo_step())
        self.generate.on_click(lambda _: self.continue_text())
        self.widget = widgets.VBox([
            self.prompt,
            widgets.HBox([widgets.VBox([self.temperature, self.top_k]), widgets.VBox([self.top_p, self.min_p])]),
            widgets.HBox([self.step, self.undo, self.new_tokens, self.generate]),
            self.live.widget,
            self.readout,
            self.walk,
            self.output,
        ])
        self._run_model()

    # -- model
    def _prompt_ids(self):
        ids = self.tokenizer(self.prompt.value, return_tensors="pt", add_special_tokens=False).input_ids
        if ids.shape[1] == 0:  # an empty prompt: start from the beginning-of-text token
            bos = self.tokenizer.bos_token_id if self.tokenizer.bos_token_id is not None else self.tokenizer.eos_token_id
            ids = self._torch.tensor([[bos]])
        return ids

    def _ids(self):
        """The text so far: the prompt's tokens, then the drawn ones; shape (1, length)."""
        drawn = self._torch.tensor([self.drawn], dtype=self._torch.long)
        return self._torch.cat([self._prompt_ids(), drawn], dim=1)

    @property
    def drawn(self) -> list:
        """The token ids drawn by "step" so far."""
        return [s["id"] for s in self.steps]

    def _forward(self) -> np.ndarray:
        """The next-token logits of the text so far: one forward pass, on the last token only when the
        cache holds the earlier ones."""
        torch = self._torch
        ids = self._ids()
        new = ids if self._past is None else ids[:, -1:]
        with torch.inference_mode():
            out = self.model(input_ids=new, **{self._cache_name: self._past}, **self._forward_kwargs)
            self._past = getattr(out, self._cache_name)
            return out.logits[0, -1].to(torch.float64).numpy().copy()

    def _run_model(self):
        """A new prompt: a new walk from it."""
        self.steps, self._past = [], None
        self._history = [self._forward()]
        self._show(self._history[-1])

    def _show(self, logits):
        self.logits = logits
        self.vocab_size = int(logits.shape[-1])
        if self._ranks is None or self._ranks[-1] != self.vocab_size:
            self._ranks = curve_ranks(self.vocab_size)
            self.cum_line.set_xdata(self._ranks)
            self.ax_cum.set_xlim(0.8, self.vocab_size * 1.25)
            self.live.invalidate()
        self._top = np.argsort(-self.logits, kind="stable")[: self.n_bars]  # the same at every temperature
        self.step.disabled = bool(self.steps) and self.steps[-1]["id"] in self._end_ids
        self.update(relabel=True)
        self._show_walk()

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
        return self._stages(self.probs() if probs is None else probs)[-1]

    def _stages(self, probs):
        """``(after top-k, after top-p, after min-p)`` of ``probs`` (a stage that is off changes nothing)."""
        s = self._settings()
        after_k = top_k_filter(probs, s["top_k"]) if s["top_k"] is not None else probs
        after_p = top_p_filter(after_k, s["top_p"]) if s["top_p"] < 1.0 else after_k
        after_min_p = min_p_filter(after_p, s["min_p"]) if s["min_p"] is not None else after_p
        return after_k, after_p, after_min_p

    def cumulative(self, probs=None) -> np.ndarray:
        """The cumulative probability of the tokens in descending order (after temperature): the curve."""
        probs = self.probs() if probs is None else probs
        return np.cumsum(np.sort(probs)[::-1])

    # -- drawing
    def update(self, relabel: bool = False):
        p = self.probs()
        after_k, _, kept = self._stages(p)
        top = self._top
        if relabel:
            for label, i in zip(self.labels, top):
                label.set_text(show_token(self.tokenizer.decode([int(i)])))
            self.live.touch()
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
        # the curve: cumulative mass in descending order, top-p's threshold and the kept set's edge
        cumulative = self.cumulative(p)
        self.cum_line.set_ydata(cumulative[self._ranks - 1])
        # top-p compares p with the mass of the distribution it is given: after top-k, the top-k set
        # renormalised, so on this curve (before renormalising) its threshold is p times the top-k set's mass
        threshold = self.threshold = s["top_p"] * (1.0 if s["top_k"] is None else float(p[after_k > 0].sum()))
        self.p_line.set_ydata([threshold, threshold])
        self.p_line.set_visible(s["top_p"] < 1.0)
        self.edge_line.set_xdata([n_kept, n_kept])
        self.edge_dot.set_data([n_kept], [cumulative[n_kept - 1]])
        self.title.set_text(
            f"T = {s['temperature']:.2f}, top-k = {s['top_k'] or 'off'}, top-p = {s['top_p']:.2f}, "
            f"min-p = {s['min_p'] or 0:.2f}: {n_kept:,} of {self.vocab_size:,} tokens kept ({mass:.1%} of the mass)"
        )
        self.live.refresh()
        self.readout.value = (
            f"The 20 tokens shown hold {1 - rest:.1%} of the mass; the other {self.vocab_size - 20:,} tokens hold "
            f"<b>{rest:.1%}</b>. Blue: kept by the filters; grey: cut. Right: the kept set is the first "
            f"{n_kept:,} tokens (green line), holding {mass:.1%} of the mass"
            + (f"; top-p stops where the curve reaches {threshold:.3f} (dashed)" if s["top_p"] < 1.0 else "")
            + "."
        )

    def _show_walk(self):
        spans = []
        for n, s in enumerate(self.steps, 1):
            text = html.escape(self.tokenizer.decode([s["id"]])).replace("\n", "⏎")
            tip = f"step {n}: probability {s['prob']:.3f} in a kept set of {_tokens(s['n_kept'])}"
            spans.append(f"<span style='background:{DRAWN_BG};border-radius:3px' title='{tip}'>{text}</span>")
        text = (f"<div style='font-family:serif;font-size:110%;max-width:860px'>"
                f"<b>{html.escape(self.prompt.value)}</b>{''.join(spans)}</div>")
        if not self.steps:
            note = "Press <b>step</b> to draw the next token from the kept set (the blue bars)."
        else:
            s = self.steps[-1]
            note = (f"Step {len(self.steps)}: drew “{html.escape(show_token(self.tokenizer.decode([s['id']])))}”, "
                    f"probability {s['prob']:.3f} in a kept set of {_tokens(s['n_kept'])}; the bars now show the "
                    f"distribution of the token after it.")
            if s["id"] in self._end_ids:
                note += " That is the model's end token: the text is finished (undo to go on)."
        self.walk.value = text + f"<div style='font-size:90%;color:#555'>{note}</div>"

    # -- the walk
    def take_step(self):
        """Draw one token from the kept set (``inverse_cdf_sample(kept(), rng.random())``), append it and
        run the model on it; returns the token id (``None`` after the model's end token)."""
        if self.steps and self.steps[-1]["id"] in self._end_ids:
            return None
        kept = self.kept()
        token = inverse_cdf_sample(kept, float(self.rng.random()))
        self.steps.append({"id": token, "prob": float(kept[token]), "n_kept": int((kept > 0).sum())})
        self._history.append(self._forward())
        self._show(self._history[-1])
        return token

    def undo_step(self):
        """Take the last drawn token back (the generator is not rewound: the next step draws afresh)."""
        if not self.steps:
            return
        self.steps.pop()
        self._history.pop()
        self._past = None  # the cache holds the token taken back: the next step runs on the whole text
        self._show(self._history[-1])

    def continue_text(self) -> str:
        """Sample a continuation of the text so far with the current settings (shown below the figure)."""
        from ..generation import generate

        torch = self._torch
        ids = self._ids()
        self.output.value = "<i>generating…</i>"
        out = generate(self.model, ids, int(self.new_tokens.value),
                       generator=torch.Generator().manual_seed(self.seed), **self._settings())
        self.seed += 1
        new = self.tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True)
        drawn = self.tokenizer.decode(self.drawn) if self.steps else ""
        self.output.value = (
            "<div style='font-family:serif;font-size:110%;max-width:860px'>"
            f"<b>{html.escape(self.prompt.value)}</b>"
            + (f"<span style='background:{DRAWN_BG}'>{html.escape(drawn)}</span>" if drawn else "")
            + f"{html.escape(new)}</div>"
        )
        return new

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)
