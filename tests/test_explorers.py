"""The explorers of lessons 01-03, driven the way a student drives them: set a control's ``.value``
(or click a button) and check that the picture and the numbers changed accordingly, in place."""
from __future__ import annotations

import random

import numpy as np
import pytest

import lmsample
from lmsample import EOS
from lmsample.explorers import BeamExplorer, DerailExplorer, HistogramExplorer, TemperatureExplorer, beam_steps
from lmsample.explorers import draw_search_tree
from lmsample.explorers.beam import FINISHED, KEPT, UNFINISHED

from explorer_checks import assert_refreshes_in_place

COUNTEREXAMPLE = {
    (): {"The": 0.3, "A": 0.2, "My": 0.18, "One": 0.17, "This": 0.15},
    ("The",): {"dog": 0.2, "cat": 0.16, "car": 0.16, "end": 0.16, "man": 0.16, "sun": 0.16},
    ("A",): {"cat": 0.5, "dog": 0.25, "man": 0.25},
}


def toy_lm(context):
    if context in COUNTEREXAMPLE:
        return COUNTEREXAMPLE[context]
    return {"dog": 0.4, "cat": 0.3, "car": 0.3} if len(context) == 1 else {EOS: 1.0}


def random_lm(seed, vocab=("a", "b", "c"), length=4):
    def lm(context):
        if len(context) >= length:
            return {EOS: 1.0}
        r = random.Random(f"{seed} {context}")
        weights = [r.choice([0, 1, 2, 3, 5]) for _ in vocab + (EOS,)]
        weights[-1] = weights[-1] or 1
        return {t: w / sum(weights) for t, w in zip(vocab + (EOS,), weights) if w}
    return lm


@pytest.mark.parametrize("seed", range(40))
@pytest.mark.parametrize("width", [1, 2, 3])
def test_beam_steps_follow_beam_search(seed, width):
    lm = random_lm(seed)
    steps = beam_steps(lm, width, max_len=6)
    finished = [(c.tokens, c.prob) for step in steps for c in step if c.status == FINISHED]
    beams = [(c.tokens, c.prob) for c in steps[-1] if c.status == KEPT]
    best = min(finished or beams, key=lambda item: (-item[1], item[0]))
    assert best == lmsample.beam_search(lm, width, max_len=6)
    for step in steps:
        assert sum(c.status != "pruned" for c in step) <= width


def test_beam_explorer_steps_and_widths():
    ex = BeamExplorer(toy_lm, max_width=4, max_len=8)
    first = ex.live.widget.value
    assert bytes(first[:4]) == b"\x89PNG"
    assert "The dog" in ex.summary.value and "— 0.06</b>" in ex.summary.value  # width 1 = greedy
    ex.width.value = 2
    ex.step.value = 2
    assert ex.live.widget.value != first
    labels = [t.get_text() for t in ex.labels]
    assert labels[:2] == ["A cat", "The dog"]
    assert "<b><code>A cat &lt;eos&gt;</code> — 0.1</b>" in ex.summary.value
    assert [v.get_text() for v in ex.values[:2]] == ["0.1", "0.06"]  # significant figures, not 3 decimals
    kept = [b.get_facecolor() for b in ex.bars[:2]]
    assert kept[0] == kept[1] != ex.bars[2].get_facecolor()
    ex.forward.click()
    assert ex.step.value == 3 and "finished" in ex.title.get_text()
    ex.back.click()
    assert ex.step.value == 2
    assert_refreshes_in_place(ex, lambda v: setattr(ex.step, "value", v), [1, 2, 3, 2])


BIGRAM = {
    None: {"I": 0.6, "You": 0.4},
    "I": {"think": 0.5, "know": 0.3, EOS: 0.2},
    "You": {"think": 0.5, "know": 0.3, EOS: 0.2},
    "think": {"that": 0.6, "so": 0.2, EOS: 0.2},
    "know": {"that": 0.6, EOS: 0.4},
    "so": {EOS: 1.0},
    "that": {"I": 0.45, "you": 0.35, EOS: 0.2},
    "you": {"think": 0.5, "know": 0.3, EOS: 0.2},
}


def loop_lm(context):
    return BIGRAM[context[-1] if context else None]


def test_beam_explorer_model_dropdown_and_unfinished_results():
    ex = BeamExplorer({"toy": toy_lm, "loop": loop_lm}, max_width=4, max_len=8)
    assert ex.model.options == ("toy", "loop") and ex.model in ex.widget.children[0].children
    assert UNFINISHED not in ex.summary.value.replace("&lt;", "<").replace("&gt;", ">")
    ex.model.value = "loop"
    assert ex.step.max == 8 and ex.lm is loop_lm
    summary = ex.summary.value.replace("&lt;", "<").replace("&gt;", ">")
    # widths 1-3 never finish on the looping model: the result is cut off at max_len and says so
    assert "I think that I think that I think</code> — 0.005468 <span" in summary and UNFINISHED in summary
    ex.step.value = 8
    assert "max_len reached" in ex.title.get_text()
    assert ex.values[0].get_text() == "0.00547"  # 3 significant figures of 0.0054675
    ex.width.value = 4
    summary = ex.summary.value.replace("&lt;", "<").replace("&gt;", ">")
    assert "<b><code>I <eos></code> — 0.12</b>" in summary
    ex.model.value = "toy"
    assert ex.step.max == 3 and "A cat" in ex.summary.value
    assert_refreshes_in_place(ex, lambda v: setattr(ex.step, "value", v), [1, 2, 3])


def test_draw_search_tree_draws_every_path():
    from matplotlib.figure import Figure

    ax = Figure().add_subplot()
    draw_search_tree(ax, toy_lm, depth=3, beam_width=2)
    texts = [t.get_text() for t in ax.texts]
    assert texts.count("<eos>") == 18 and "start" in texts  # 18 sentences of two words
    assert "P = 0.1" in texts and "P = 0.06" in texts
    assert ax.get_ylabel() and len(ax.get_legend().get_texts()) == 5


def test_histogram_explorer_converges():
    P = np.array([0.5, 0.3, 0.15, 0.05])
    ex = HistogramExplorer({"p": (["a", "b", "c", "d"], P), "flat": (list("abcdefgh"), np.full(8, 1 / 8))}, seed=1)
    empty = ex.live.widget.value
    assert ex.counts.sum() == 0 and all(b.get_height() == 0 for b in ex.bars)
    ex.buttons[-1].click()  # draw 10,000
    assert ex.counts.sum() == 10_000 and ex.live.widget.value != empty
    heights = np.array([b.get_height() for b in ex.bars])
    assert np.abs(heights - P).max() < 0.03
    ex.reset_button.click()
    assert ex.counts.sum() == 0
    ex.choice.value = "flat"
    assert len(ex.bars) == 8
    assert_refreshes_in_place(ex, ex.draw, [10, 100, 1000])


def test_derail_explorer_follows_the_formula():
    ex = DerailExplorer(tail_mass=0.3, n_steps=20)
    assert "0.9992" in ex.title.get_text()
    assert any(list(line.get_ydata()) == [0.5, 0.5] for line in ex.ax.get_lines())  # the even-odds line
    before = ex.live.widget.value
    ex.steps.value = 1
    assert "= 0.3000" in ex.title.get_text() and ex.live.widget.value != before
    ex.tail.value = 0.01
    ex.steps.value = 100
    assert abs(ex.dot.get_ydata()[0] - lmsample.derail_probability(0.01, 100)) < 1e-12
    assert_refreshes_in_place(ex, lambda n: setattr(ex.steps, "value", n), [5, 10, 50])


def test_temperature_explorer_updates_bars_and_entropy():
    ex = TemperatureExplorer()
    at_one = [b.get_height() for b in ex.bars[0]]
    assert np.allclose(at_one, lmsample.softmax(ex.distributions[0][2], 1.0))
    before = ex.live.widget.value
    ex.temperature.value = 10.0
    assert ex.live.widget.value != before
    hot = [b.get_height() for b in ex.bars[0]]
    assert max(hot) < max(at_one)
    assert ex.dots[0].get_ydata()[0] > lmsample.entropy(np.array(at_one))
    ex.temperature.value = 0.1
    assert max(b.get_height() for b in ex.bars[0]) > 0.99
    assert_refreshes_in_place(ex, lambda t: setattr(ex.temperature, "value", t), [0.2, 2.0, 12.0])
    assert all(ax.get_ylabel() for ax in (*ex.axes, *ex.tail_axes))  # every panel says what its bars are


def test_temperature_explorer_tail_mass_of_a_real_vocabulary():
    # head 0.9 (0.98 on five tokens) + 50,000 tokens holding 2%: T = 1.5 hands the tail 69% of the mass
    ex = TemperatureExplorer()
    assert ex.tail_probs().size == 50_005
    assert ex.tail_mass_now() == pytest.approx(0.02)
    ex.temperature.value = 1.5
    full = lmsample.apply_temperature(lmsample.explorers.temperature.head_tail_probs(
        (0.9, 0.04, 0.02, 0.01, 0.01), 50_000, 0.02), 1.5)
    assert ex.tail_mass_now() == pytest.approx(full[5:].sum()) == pytest.approx(0.6907, abs=1e-4)
    assert "tail mass 0.691" in ex.tail_title.get_text() and "0.691" in ex.status.value
    assert ex.tail_bars[-1].get_height() == pytest.approx(0.6907, abs=1e-4)
    assert ex.tail_dot.get_ydata()[0] == pytest.approx(0.6907, abs=1e-4)
    assert_refreshes_in_place(ex, lambda t: setattr(ex.temperature, "value", t), [0.7, 1.2, 3.0])
