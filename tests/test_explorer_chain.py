"""The chain explorer of lesson 07, driven the way a student drives it: set a control's ``.value`` or click
a button, and check the chain, the panels and the numbers it shows."""
from __future__ import annotations

import time

import numpy as np
import pytest

import lmsample
from lmsample.explorers.chain import CUT, DEFAULT_STEPS, KEPT, NONE, ChainExplorer

from explorer_checks import assert_refreshes_in_place

P4 = "P = (0.4, 0.3, 0.2, 0.1)"


def png(explorer):
    value = bytes(explorer.live.widget.value)
    assert value[:4] == b"\x89PNG"
    return value


def heights(ex, panel):
    """The bar heights panel ``panel`` draws, read back from its rectangles."""
    verts = ex.bars[panel].get_paths()
    return [float(path.vertices[1, 1]) for path in verts]


def colours(ex, panel):
    rgb = ex.bars[panel].get_facecolors()[:, :3]
    return ["kept" if c == pytest.approx(_rgb(KEPT)) else "cut" if c == pytest.approx(_rgb(CUT)) else "?" for c in rgb]


def _rgb(hex_colour):
    return tuple(int(hex_colour[i:i + 2], 16) / 255 for i in (1, 3, 5))


def test_starts_with_the_default_chain_and_one_panel_per_step():
    ex = ChainExplorer()
    assert ex.steps() == list(DEFAULT_STEPS)
    assert len(ex.axes) == 5 and len(ex.trace()) == 5
    assert ex.titles[1].get_text().startswith("step 1: min-p 0.1")
    assert "min-p 0.1 → top-p 0.9 → typical 0.9 → temperature 1.5" in ex.readout.value
    assert ex.readout.value.count("<tr>") == 5  # a header and one row per step


def test_min_p_and_top_p_in_both_orders_on_p4():
    ex = ChainExplorer()
    ex.distribution.value = P4
    ex.set_steps([("min_p", 0.45), ("top_p", 0.75)])  # 0.45: no token on the threshold
    assert heights(ex, 2)[:2] == pytest.approx([4 / 7, 3 / 7]) and colours(ex, 2) == ["kept", "kept", "cut", "cut"]
    assert heights(ex, 2)[2] == pytest.approx(2 / 9)  # removed by top-p, drawn at its height before the step
    assert ex.titles[3].get_text() == "step 3: — (empty slot)"
    assert heights(ex, 3) == pytest.approx([4 / 7, 3 / 7, 0.0, 0.0]) and ex.panel_kept[3].tolist() == ex.panel_kept[2].tolist()  # no grey
    ex.move_earlier(1)  # top-p first
    assert ex.steps() == [("top_p", 0.75), ("min_p", 0.45)]
    final = ex.trace()[-1]
    assert final.tolist() == pytest.approx([4 / 9, 3 / 9, 2 / 9, 0.0]) and final[3] == 0.0
    assert np.array_equal(final, lmsample.apply_chain(np.log([0.4, 0.3, 0.2, 0.1]), [("top_p", 0.75), ("min_p", 0.45)]))


def test_earlier_rotates_the_first_step_and_remove_empties_a_slot():
    ex = ChainExplorer()
    ex.move_earlier(0)
    assert ex.steps() == [DEFAULT_STEPS[1], DEFAULT_STEPS[2], DEFAULT_STEPS[3], DEFAULT_STEPS[0]]
    ex.remove_step(2)
    assert ex.kinds[2].value == NONE and ex.values[2].disabled
    assert ex.steps() == [DEFAULT_STEPS[1], DEFAULT_STEPS[2], DEFAULT_STEPS[0]]
    ex.reset.click()
    assert ex.steps() == list(DEFAULT_STEPS)


def test_changing_a_step_gives_its_slider_the_right_range():
    ex = ChainExplorer()
    ex.kinds[0].value = "top_k"
    assert (ex.values[0].min, ex.values[0].max, ex.values[0].value) == (1, 30, 5)
    assert ex.steps()[0] == ("top_k", 5) and type(ex.steps()[0][1]) is int
    ex.kinds[0].value = "eta"
    assert ex.steps()[0] == ("eta", 0.02) and ex.values[0].min == 0.001
    ex.kinds[0].value = NONE
    assert len(ex.steps()) == 3


def test_top_n_sigma_panel_keeps_the_same_set_at_any_temperature():
    ex = ChainExplorer()
    ex.distribution.value = "long tail — Zipf, 30 tokens"
    kept = []
    for t in (0.5, 1.0, 2.5):
        ex.set_steps([("temperature", t), ("top_n_sigma", 1.0)])
        kept.append(tuple(np.flatnonzero(ex.trace()[-1])))
    assert kept[0] == kept[1] == kept[2] and 1 < len(kept[0]) < 30


def test_a_real_vocabulary_through_extra():
    z = np.random.default_rng(0).normal(0, 2, 5000)
    ex = ChainExplorer(extra={"model": (lambda i: f"tok{i}", z)})
    assert ex.distribution.value == "model" and ex.labels[0] == f"tok{int(np.argmax(z))}"
    assert ex.titles[0].get_text() == "input: 5,000 of 5,000 tokens" and len(heights(ex, 1)) == 30
    assert np.array_equal(ex.trace()[-1], lmsample.apply_chain(z, list(DEFAULT_STEPS)))


def test_log_scale():
    ex = ChainExplorer()
    ex.log_scale.value = True
    assert all(ax.get_yscale() == "log" for ax in ex.axes)
    ex.log_scale.value = False
    assert all(ax.get_yscale() == "linear" for ax in ex.axes)


def test_redraws_in_place_and_reports_the_redraw_time():
    ex = ChainExplorer()
    assert_refreshes_in_place(ex, lambda v: setattr(ex.values[1], "value", v), [0.5, 0.6, 0.7, 0.95])
    ex.kinds[0].value = "top_k"
    assert_refreshes_in_place(ex, lambda v: setattr(ex.values[0], "value", v), [2, 3, 4])
    z = np.random.default_rng(0).normal(0, 3, 49_152)  # a vocabulary the size of SmolLM2's
    big = ChainExplorer(extra={"model": (lambda i: str(i), z)})
    times = []
    for v in (0.5, 0.6, 0.7, 0.8, 0.9):
        start = time.perf_counter()
        big.values[1].value = v
        times.append(time.perf_counter() - start)
    print(f"\nChainExplorer redraw with a 49,152-token vocabulary: median {1000 * sorted(times)[2]:.1f} ms (budget 100 ms)")
    png(big)
