"""What "updates in place" means for an explorer, as a test can check it without a clock.

Each explorer draws into a ``BlitFigure``: the static part of the figure is drawn once and
cached, and a control change redraws only the artists that move. Redraw *speed* is measured by
``benchmarks/bench_explorers.py`` against a full redraw in the same run; tests check the behaviour
that makes it fast: one refresh per change, on the cached background.
"""


def assert_refreshes_in_place(explorer, move, values):
    """``move(value)`` for each value must refresh the picture exactly once, reusing the cached background."""
    live = explorer.live
    live.refresh()  # make sure the background is cached
    for value in values:
        background, renders, picture = live._background, live.renders, live.widget.value
        move(value)
        assert live.renders == renders + 1, f"{type(explorer).__name__}: {live.renders - renders} refreshes for one change to {value!r}"
        assert live._background is background, f"{type(explorer).__name__}: a change to {value!r} redrew the whole figure"
        assert live.widget.value != picture, f"{type(explorer).__name__}: the picture did not change for {value!r}"
