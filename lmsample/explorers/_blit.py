"""A figure in an ``ipywidgets.Image`` that redraws only what moves (blitting), for explorers that must feel immediate.

A full Agg draw of a figure with a few axes costs about 100 ms, most of it tick labels and
titles that never change. Here the artists that do change are marked *animated*: the static
rest is drawn once and kept as a background bitmap, and each refresh restores that bitmap,
draws the few animated artists on it and encodes the PNG quickly (about 10-20 ms in all).
Anything that changes the static part (axis limits, tick labels) must call :meth:`invalidate`.

Artists that change now and then but not with every control (the token labels under bars that
change with the position or the prompt, not with the sliders) can be registered with
:meth:`animate_rarely`: they are drawn onto a second cached bitmap, redrawn only after :meth:`touch`,
so neither the whole figure nor the labels are drawn again when only a slider moves.
"""
from __future__ import annotations

import io
import warnings

import ipywidgets as widgets
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image


class BlitFigure:
    """A figure shown as an ``Image`` widget (``figure``, ``widget``, ``renders``, ``refresh``, ``savefig``), with a
    cached background: register the artists that change with :meth:`animate`."""

    def __init__(self, figsize=(7.0, 3.6), dpi: int = 96, **figure_kw):
        self.figure = Figure(figsize=figsize, dpi=dpi, **figure_kw)
        FigureCanvasAgg(self.figure)
        width = int(round(figsize[0] * dpi))
        self.widget = widgets.Image(format="png", layout=widgets.Layout(width=f"{width}px", height="auto"))
        self.renders = 0
        self._animated = []
        self._rare = []
        self._background = None
        self._middle = None  # the background with the rarely changing artists on it

    def animate(self, *artists):
        """Mark artists as changing: they are left out of the background and drawn on each refresh."""
        for artist in artists:
            artist.set_animated(True)
            self._animated.append(artist)
        self._background = None
        return artists

    def animate_rarely(self, *artists):
        """Mark artists as changing now and then: left out of the background, drawn onto a second cached
        bitmap that is redrawn only after :meth:`touch`."""
        for artist in artists:
            artist.set_animated(True)
            self._rare.append(artist)
        self._background = None
        return artists

    def touch(self) -> None:
        """The rarely changing artists changed: redraw them (not the whole background) on the next refresh."""
        self._middle = None

    def invalidate(self) -> None:
        """The static part changed (limits, labels): redraw the background on the next refresh."""
        self._background = None

    def refresh(self) -> None:
        with warnings.catch_warnings():
            # a label in a script the font lacks (a model's token in CJK, an emoji) is drawn as a box, silently
            warnings.filterwarnings("ignore", message=r"Glyph \d+ .*missing from font", category=UserWarning)
            self._draw()

    def _draw(self) -> None:
        canvas = self.figure.canvas
        if self._background is None:
            canvas.draw()
            self._background = canvas.copy_from_bbox(self.figure.bbox)
            self._middle = None
        elif self._middle is None or not self._rare:
            canvas.restore_region(self._background)
        renderer = canvas.get_renderer()
        if self._rare:
            if self._middle is None:
                for artist in self._rare:
                    if artist.get_visible():
                        artist.draw(renderer)
                self._middle = canvas.copy_from_bbox(self.figure.bbox)
            else:
                canvas.restore_region(self._middle)
        for artist in self._animated:
            if artist.get_visible():
                artist.draw(renderer)
        width, height = canvas.get_width_height()
        buf = io.BytesIO()
        Image.frombuffer("RGBA", (width, height), canvas.buffer_rgba(), "raw", "RGBA", 0, 1).save(
            buf, format="png", compress_level=1
        )
        self.widget.value = buf.getvalue()
        self.renders += 1

    def savefig(self, path, **kw) -> None:
        """Save what the widget shows (background plus animated artists) as a PNG file."""
        self.refresh()
        with open(path, "wb") as fh:
            fh.write(self.widget.value)
