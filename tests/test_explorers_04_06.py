"""The explorers of lessons 04-06, driven the way a student drives them: set a control's ``.value``
(or click a button) and check that the picture and the numbers changed accordingly, in place."""
from __future__ import annotations

import numpy as np
import pytest

import lmsample
from lmsample.explorers.limits import LimitsExplorer
from lmsample.explorers.truncation import DISTRIBUTIONS, TruncationExplorer

from explorer_checks import assert_refreshes_in_place


def png(explorer):
    value = bytes(explorer.live.widget.value)
    assert value[:4] == b"\x89PNG"
    return value


# ------------------------------------------------------------------------------------ 04-limits
def test_limits_explorer_follows_the_temperature_and_the_tie():
    ex = LimitsExplorer()
    first, renders = png(ex), ex.live.renders
    ex.temperature.value = 1e-3
    assert png(ex) != first and ex.live.renders == renders + 1  # redrawn in place, once
    heights = [bar.get_height() for bar in ex.bars]
    assert heights[0] == pytest.approx(1.0) and sum(heights[1:]) == pytest.approx(0.0, abs=1e-12)
    assert list(ex.zero_marks.get_ydata()) == [1.0, 0, 0, 0, 0, 0]
    ex.tie.value = True  # the second token joins the maximum: the T -> 0 limit is one half each
    heights = [bar.get_height() for bar in ex.bars]
    assert heights[:2] == pytest.approx([0.5, 0.5])
    assert list(ex.zero_marks.get_ydata()[:2]) == [0.5, 0.5]
    assert "log 2" in ex.low_label.get_text()
    ex.temperature.value = 1e3  # hot: nearly uniform, entropy near log 6
    heights = [bar.get_height() for bar in ex.bars]
    assert max(heights) - min(heights) < 0.01
    assert ex.now_dot.get_ydata()[0] == pytest.approx(np.log(6), abs=1e-3)
    assert "T = 1e+03" in ex.readout.value


def test_limits_explorer_matches_softmax_t():
    ex = LimitsExplorer()
    for t in [0.01, 0.3, 1.0, 7.0]:
        ex.temperature.value = t
        expected = lmsample.softmax_t(np.array(ex.base_logits), t)
        assert [bar.get_height() for bar in ex.bars] == pytest.approx(expected.tolist())


def test_limits_explorer_redraws_in_place():
    ex = LimitsExplorer()
    assert_refreshes_in_place(ex, lambda v: setattr(ex.temperature, "value", v), [1e-3, 0.1, 10.0, 1e3])


def test_limits_explorer_saves_a_figure(tmp_path):
    ex = LimitsExplorer()
    ex.tie.value = True
    ex.live.savefig(tmp_path / "limits.png")
    assert (tmp_path / "limits.png").read_bytes()[:4] == b"\x89PNG"


# ------------------------------------------------------------------------------------ 05-top-k-top-p
def test_truncation_explorer_top_p_top_k_min_p():
    ex = TruncationExplorer()
    basketball, car = list(DISTRIBUTIONS)[:2]
    assert "99.6%" in ex.readout.value
    first = png(ex)
    ex.p.value = 0.9
    assert png(ex) != first
    assert (ex.kept_probs() > 0).sum() == 2 and "Kept set (2)" in ex.readout.value
    assert ex.p_line.get_ydata()[0] == pytest.approx(0.9)
    ex.distribution.value = car
    assert "63.0%" in ex.readout.value
    assert (ex.kept_probs() > 0).sum() == lmsample.nucleus_size(ex.base, 0.9) == 10
    ex.k.value = 3
    assert (ex.kept_probs() > 0).sum() == 3
    assert ex.k_line.get_xdata()[0] == pytest.approx(2.5)
    ex.k.value = ex.k.max
    ex.p.value = 1.0
    ex.min_p.value = 0.1
    assert (ex.kept_probs() > 0).sum() == 8
    assert ex.minp_line.get_ydata()[0] == pytest.approx(0.1 * ex.base.max())


def test_truncation_explorer_min_p_line_on_the_bars_scale():
    # the threshold is drawn over bars that are not renormalised: kept bars sit on or above it
    ex = TruncationExplorer()
    for name in DISTRIBUTIONS:
        ex.distribution.value = name
        for t, k, p, m in [(1.5, 10, 0.8, 0.3), (0.7, 5, 0.6, 0.1), (1.0, 30, 0.9, 0.05), (2.5, 3, 1.0, 0.6)]:
            ex.temperature.value, ex.k.value, ex.p.value, ex.min_p.value = t, min(k, ex.k.max), p, m
            p_t, p_k, p_p, p_m = ex.pipeline()
            line = ex.minp_line.get_ydata()[0]
            heights = np.array([bar.get_height() for bar in ex.bars[: p_t.size]])
            assert heights.tolist() == pytest.approx(p_t.tolist())
            kept_by_min_p = p_m > 0
            assert (heights[kept_by_min_p] >= line * (1 - 1e-12)).all()
            cut_by_min_p = (p_p > 0) & ~kept_by_min_p
            assert (heights[cut_by_min_p] < line).all()


def test_truncation_explorer_min_p_does_not_commute_with_top_p():
    P = np.array([0.4, 0.3, 0.2, 0.1])
    min_p_first = lmsample.top_p_filter(lmsample.min_p_filter(P, 0.5), 0.75)
    top_p_first = lmsample.min_p_filter(lmsample.top_p_filter(P, 0.75), 0.5)
    assert min_p_first.round(3).tolist() == [0.571, 0.429, 0.0, 0.0]
    assert top_p_first.round(3).tolist() == [0.444, 0.333, 0.222, 0.0]
    # min-p 0.5 puts the third token exactly on the threshold (0.2 = 0.5 * 0.4): the explorer's softmax of
    # log-probabilities moves it by an ulp, so check the explorer's order (top-p, then min-p) off the boundary
    assert lmsample.min_p_filter(lmsample.top_p_filter(P, 0.75), 0.45).round(3).tolist() == [0.444, 0.333, 0.222, 0.0]
    assert lmsample.top_p_filter(lmsample.min_p_filter(P, 0.45), 0.75).round(3).tolist() == [0.571, 0.429, 0.0, 0.0]
    ex = TruncationExplorer({"P": (("a", "b", "c", "d"), tuple(P))})
    ex.p.value, ex.min_p.value = 0.75, 0.45
    assert ex.kept_probs().round(3).tolist() == [0.444, 0.333, 0.222, 0.0]


def test_truncation_explorer_log_scale_and_k_off():
    ex = TruncationExplorer()
    assert ex.k_is_off() and "k = off" in ex.title.get_text() and not ex.k_line.get_visible()
    assert "off" in ex.k_state.value
    ex.k.value = 3
    assert not ex.k_is_off() and "k = 3" in ex.title.get_text() and ex.k_line.get_visible()
    assert ex.k_state.value == ""
    before = png(ex)
    ex.log_scale.value = True
    assert ex.ax.get_yscale() == "log" and png(ex) != before
    assert_refreshes_in_place(ex, lambda v: setattr(ex.p, "value", v), [0.3, 0.6, 0.95])
    ex.log_scale.value = False
    assert ex.ax.get_yscale() == "linear" and ex.ax.get_ylim() == (0, 1.05)
    assert ex.ax.get_ylabel() and ex.ax_tally.get_ylabel()  # every bar panel says what its bars are


def test_truncation_explorer_order_is_temperature_top_k_top_p():
    ex = TruncationExplorer()
    ex.distribution.value = list(DISTRIBUTIONS)[2]
    ex.temperature.value, ex.k.value, ex.p.value = 1.5, 10, 0.8
    p_t = lmsample.softmax(ex.logits, 1.5)
    expected = lmsample.top_p_filter(lmsample.top_k_filter(p_t, 10), 0.8)
    assert ex.kept_probs().tolist() == pytest.approx(expected.tolist())


def test_truncation_explorer_tally_converges_and_resets():
    ex = TruncationExplorer(seed=1)
    ex.distribution.value = list(DISTRIBUTIONS)[1]
    ex.p.value = 0.5
    before = png(ex)
    token = ex.draw(1)
    assert token in ex.tokens[:3] and png(ex) != before and ex.counts.sum() == 1
    ex.generate_100.click()
    ex.generate_100.click()
    ex.generate.click()
    assert ex.counts.sum() == 202
    kept = ex.kept_probs()
    assert ex.counts[kept == 0].sum() == 0  # never a cut token
    ex.draw(4000)
    freqs = ex.counts / ex.counts.sum()
    assert np.abs(freqs - kept).max() < 0.05
    assert ex.tally_title.get_text().startswith("4202 draws")
    ex.temperature.value = 0.7  # a new setting starts a new tally
    assert ex.counts.sum() == 0
    ex.draw(5)
    ex.reset.click()
    assert ex.counts.sum() == 0


def test_truncation_explorer_redraws_in_place():
    ex = TruncationExplorer()
    ex.distribution.value = list(DISTRIBUTIONS)[2]
    assert_refreshes_in_place(ex, lambda v: setattr(ex.p, "value", v), [0.3, 0.6, 0.95])
    assert_refreshes_in_place(ex, ex.draw, [1, 1, 1])


# ------------------------------------------------------------------------------------ 06-gpt2
@pytest.fixture(scope="module")
def tiny_gpt2():
    """A 2-layer GPT-2 with random weights and the real GPT-2 tokenizer (lmsample.models.tiny_gpt2)."""
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from lmsample.models import tiny_gpt2

    return tiny_gpt2()


def test_next_token_explorer_follows_prompt_and_sliders(tiny_gpt2):
    from lmsample.explorers.model import NextTokenExplorer

    model, tokenizer = tiny_gpt2
    ex = NextTokenExplorer(model, tokenizer, prompt="Hello world")
    first = png(ex)
    assert ex.vocab_size == 50257 and "of 50,257 tokens kept" in ex.title.get_text()
    p = ex.probs()
    assert p.sum() == pytest.approx(1.0) and [b.get_height() for b in ex.bars][0] == pytest.approx(p.max())
    ex.top_k.value = 5
    assert (ex.kept() > 0).sum() == 5 and png(ex) != first
    ex.top_k.value = 0
    ex.top_p.value = 0.5
    assert (ex.kept() > 0).sum() == lmsample.nucleus_size(ex.probs(), 0.5)
    ex.top_p.value = 1.0
    ex.min_p.value = 0.5
    assert (ex.kept() > 0).sum() == (ex.probs() >= 0.5 * ex.probs().max()).sum()
    ex.temperature.value = 0.3
    assert ex.probs().max() > p.max()  # colder: sharper
    labels = [t.get_text() for t in ex.ax.get_xticklabels()]
    ex.prompt.value = "Once upon a time"
    assert [t.get_text() for t in ex.ax.get_xticklabels()] != labels


def test_next_token_explorer_redraws_in_place(tiny_gpt2):
    from lmsample.explorers.model import NextTokenExplorer

    ex = NextTokenExplorer(*tiny_gpt2)
    assert_refreshes_in_place(ex, lambda v: setattr(ex.top_p, "value", v), [0.95, 0.6, 0.2])
    assert_refreshes_in_place(ex, lambda v: setattr(ex.temperature, "value", v), [0.5, 1.5])


def test_next_token_explorer_generates(tiny_gpt2):
    from lmsample.explorers.model import NextTokenExplorer

    ex = NextTokenExplorer(*tiny_gpt2, prompt="Hello")
    ex.new_tokens.value = 5
    ex.generate.click()
    assert "<b>Hello</b>" in ex.output.value and len(ex.output.value) > len("<b>Hello</b>")
