"""Interactive explorers for the lessons: small ipywidgets apps on top of ``lmsample``.

Each explorer draws one matplotlib figure once and, when a control changes, only changes the
artists' data and re-renders that figure into an ``ipywidgets.Image`` in place (no ``interact``,
no ``plt.show()``, no pyplot state); :class:`BlitFigure` redraws only the artists that move over a
cached background, so a redraw costs a few tens of milliseconds. That works the same in JupyterLab, on Binder and on Colab
without any front-end extension. An explorer object displays itself when it is the last
expression of a cell; its controls are attributes, so a test can set ``.value`` and look at
``.figure``.

    from lmsample.explorers import BeamExplorer
    BeamExplorer(lm)

Submodules are imported on first use, so ``import lmsample.explorers`` stays cheap.
"""
from __future__ import annotations

from .._lazy import lazy_getattr

_LAZY = {
    "BlitFigure": "_blit",
    "BeamExplorer": "beam",
    "beam_steps": "beam",
    "draw_search_tree": "beam",
    "HistogramExplorer": "sampling",
    "DerailExplorer": "sampling",
    "TemperatureExplorer": "temperature",
    "LimitsExplorer": "limits",
    "TruncationExplorer": "truncation",
    "NextTokenExplorer": "model",
    "GoldenPositionExplorer": "golden",
    "ChainExplorer": "chain",
}


__getattr__ = lazy_getattr(__name__, _LAZY, globals())


__all__ = list(_LAZY)
