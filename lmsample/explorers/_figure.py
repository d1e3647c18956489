"""A matplotlib figure rendered into an ``ipywidgets.Image`` and updated in place."""
from __future__ import annotations

import io

import ipywidgets as widgets
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


class LiveFigure:
    """A figure that lives in an ``Image`` widget.

    Change the artists of ``.figure`` (``set_data``, ``set_width``, ``set_text`` ...), then call
    :meth:`refresh`: it renders with Agg (tens of milliseconds for a small figure) and replaces the
    image's bytes, so the picture changes in place without re-creating any output.
    """

    def __init__(self, figsize=(7.0, 3.6), dpi: int = 96, **figure_kw):
        self.figure = Figure(figsize=figsize, dpi=dpi, **figure_kw)
        FigureCanvasAgg(self.figure)
        width = int(round(figsize[0] * dpi))
        self.widget = widgets.Image(format="png", layout=widgets.Layout(width=f"{width}px", height="auto"))
        self.renders = 0

    def refresh(self) -> None:
        buf = io.BytesIO()
        self.figure.canvas.print_png(buf)
        self.widget.value = buf.getvalue()
        self.renders += 1

    def savefig(self, path, **kw) -> None:
        self.figure.savefig(path, **kw)
