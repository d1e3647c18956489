"""Controls shared by the explorers."""
from __future__ import annotations

import math

import ipywidgets as widgets


def log_slider(value: float, min_exp: float, max_exp: float, step: float, **kw) -> widgets.FloatLogSlider:
    """A ``FloatLogSlider`` (base 10) whose step grid passes through ``value``.

    The browser's slider snaps its value to ``min + i * step`` (in exponents) and sends the snapped
    value back, so a value off that grid silently changes as soon as the explorer is displayed
    (``T = 1`` on a grid starting at ``log10(0.05)`` became ``T = 0.998``). Here ``min`` is moved up by
    less than one step so that the grid contains ``log10(value)``.
    """
    exp = math.log10(value)
    lo = exp - step * math.floor((exp - min_exp) / step + 1e-9)
    return widgets.FloatLogSlider(value=value, base=10, min=lo, max=max_exp, step=step, **kw)
