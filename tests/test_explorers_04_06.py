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
    labels = [t.get_text() for t in ex.labels]
    from lmsample.explorers.model import show_token

    assert labels == [show_token(tokenizer.decode([int(i)])) for i in ex._top]
    background = ex.live._background
    ex.prompt.value = "Once upon a time"
    assert [t.get_text() for t in ex.labels] != labels
    assert ex.live._background is background  # new labels: only the labels' layer is drawn again


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


# ------------------------------------------------------------------------------------ 06-gpt2: the walk
def test_next_token_explorer_steps_draw_the_seeded_token_from_the_kept_set(tiny_gpt2):
    import torch

    from lmsample.explorers.model import NextTokenExplorer

    model, tokenizer = tiny_gpt2
    ex = NextTokenExplorer(model, tokenizer, prompt="Hello world", seed=3)
    prompt_ids = tokenizer.encode("Hello world")
    rng = np.random.default_rng(3)  # the explorer's generator, replayed
    ex.top_k.value = 5
    kept = ex.kept()
    expected = lmsample.inverse_cdf_sample(kept, rng.random())
    before, background = png(ex), ex.live._background
    ex.step.click()
    assert ex.drawn == [expected] and kept[expected] > 0  # exactly the seeded draw, from the kept set
    assert ex.live._background is background  # the bars' new labels are drawn on the cached background
    assert ex.steps[0]["prob"] == kept[expected] and ex.steps[0]["n_kept"] == 5
    assert png(ex) != before
    # one more forward pass (on the cache) gives the distribution after the drawn token: that of a full pass
    with torch.no_grad():
        full = model(torch.tensor([prompt_ids + [expected]])).logits[0, -1].double().numpy()
    assert ex.logits == pytest.approx(full, abs=1e-4)
    assert ex._top.tolist() == np.argsort(-ex.logits, kind="stable")[:20].tolist()

    ex.top_k.value, ex.top_p.value = 0, 0.3  # the next step draws under the new settings
    kept, nucleus = ex.kept(), lmsample.nucleus_size(ex.probs(), 0.3)
    second = lmsample.inverse_cdf_sample(kept, rng.random())
    assert ex.take_step() == second and ex.drawn == [expected, second] and kept[second] > 0
    assert ex.steps[1]["n_kept"] == nucleus == (kept > 0).sum()
    shown = tokenizer.decode([second])
    assert f">{html_escape(shown)}</span>" in ex.walk.value and "Step 2" in ex.walk.value

    ex.undo.click()  # back to the distribution after the first token, from memory
    assert ex.drawn == [expected] and np.array_equal(ex.logits, ex._history[1])
    assert "Step 1" in ex.walk.value
    third = lmsample.inverse_cdf_sample(ex.kept(), rng.random())  # the generator is not rewound
    ex.step.click()  # the cache was dropped: this pass runs on the whole text
    with torch.no_grad():
        full = model(torch.tensor([prompt_ids + [expected, third]])).logits[0, -1].double().numpy()
    assert ex.drawn == [expected, third] and ex.logits == pytest.approx(full, abs=1e-4)
    ex.undo.click()
    ex.undo.click()
    ex.undo.click()  # nothing left to undo: nothing happens
    assert ex.drawn == [] and np.array_equal(ex.logits, ex._history[0]) and "Press <b>step</b>" in ex.walk.value


def html_escape(text):
    import html

    return html.escape(text)


def test_next_token_explorer_walk_stops_at_the_end_token_and_restarts_with_the_prompt(tiny_gpt2):
    from lmsample.explorers.model import NextTokenExplorer

    ex = NextTokenExplorer(*tiny_gpt2, prompt="Hello", seed=0)
    expected = lmsample.inverse_cdf_sample(ex.kept(), np.random.default_rng(0).random())
    ex._end_ids = {expected}  # pretend the token it will draw is the model's end token
    assert ex.take_step() == expected
    assert ex.step.disabled and "end token" in ex.walk.value
    assert ex.take_step() is None and ex.drawn == [expected]
    ex.undo.click()
    assert not ex.step.disabled
    ex.take_step()
    ex.prompt.value = "Once upon a time"  # a new prompt: a new walk
    assert ex.drawn == [] and len(ex._history) == 1


def test_next_token_explorer_generates_from_the_walk(tiny_gpt2):
    from lmsample.explorers.model import NextTokenExplorer

    model, tokenizer = tiny_gpt2
    ex = NextTokenExplorer(model, tokenizer, prompt="Hello", seed=0)
    ex.top_k.value = 3
    token = ex.take_step()
    ex.new_tokens.value = 5
    ex.generate.click()
    assert ex.output.value.startswith("<div") and "<b>Hello</b>" in ex.output.value
    assert f">{html_escape(tokenizer.decode([token]))}</span>" in ex.output.value  # the drawn token, highlighted


def test_next_token_explorer_cumulative_curve(tiny_gpt2):
    from lmsample.explorers.model import NextTokenExplorer, curve_ranks

    ex = NextTokenExplorer(*tiny_gpt2, prompt="Hello world")
    ranks = curve_ranks(50257)
    assert ranks[:30].tolist() == list(range(1, 31)) and ranks[-1] == 50257 and (np.diff(ranks) > 0).all()
    for t, k, p, m in [(1.0, 0, 1.0, 0.0), (0.5, 0, 0.6, 0.0), (1.5, 40, 0.9, 0.0), (0.3, 0, 0.95, 0.2), (2.0, 7, 0.5, 0.0)]:
        ex.temperature.value, ex.top_k.value, ex.top_p.value, ex.min_p.value = t, k, p, m
        probs = lmsample.softmax(ex.logits, t)
        cumulative = np.cumsum(np.sort(probs)[::-1])
        assert np.array_equal(ex.cum_line.get_xdata(), ranks)
        assert np.array_equal(ex.cum_line.get_ydata(), cumulative[ranks - 1])  # exactly the cumulative sum
        n_kept = int((ex.kept() > 0).sum())
        assert list(ex.edge_line.get_xdata()) == [n_kept, n_kept]
        assert list(ex.edge_dot.get_xdata()) == [n_kept] and list(ex.edge_dot.get_ydata()) == [cumulative[n_kept - 1]]
        top_k_mass = cumulative[k - 1] if k else 1.0
        assert ex.p_line.get_ydata()[0] == pytest.approx(p * top_k_mass, rel=1e-12)
        assert ex.p_line.get_visible() == (p < 1.0)
        if m == 0.0:  # top-p is the last filter: the kept set ends where the curve first reaches the threshold
            assert n_kept == min(k or 50257, lmsample.nucleus_size(lmsample.top_k_filter(probs, k) if k else probs, p))
    assert_refreshes_in_place(ex, lambda v: setattr(ex.min_p, "value", v), [0.05, 0.1, 0.3])
    assert_refreshes_in_place(ex, lambda v: setattr(ex.top_k, "value", v), [10, 3, 50])


# ------------------------------------------------------------------------------------ 06-gpt2: golden positions
def test_order_statistics_exact_values_with_ties():
    from lmsample.golden import order_statistics

    logits = np.log([[0.25, 0.5, 0.25], [0.25, 0.5, 0.25], [0.125, 0.125, 0.75]])
    top_ids, top_probs, strict_ranks, mass_ahead = order_statistics(logits, np.array([2, 0, 1]), n_top=2)
    assert top_ids.tolist() == [[1, 0], [1, 0], [2, 0]]
    assert top_probs.ravel().tolist() == pytest.approx([0.5, 0.25, 0.5, 0.25, 0.75, 0.125], abs=1e-15)
    # token 2 ties with token 0, which comes first: rank 2 and CDF 0.75, but top-k needs k = 3 and top-p drops it at 0.75
    assert lmsample.golden_rank(logits, [2, 0, 1]).tolist() == [2, 2, 2]
    assert strict_ranks.tolist() == [3, 2, 3]
    assert mass_ahead.tolist() == pytest.approx([0.75, 0.5, 0.875], abs=1e-15)
    assert lmsample.top_p_filter(np.array([0.25, 0.5, 0.25]), 0.75)[2] == 0.0  # p = CDF drops it


def test_golden_keeps_is_what_the_filters_do_on_tie_heavy_rows():
    from lmsample.golden import GoldenTokens, order_statistics

    rng = np.random.default_rng(7)
    logits = rng.integers(0, 4, size=(300, 12)).astype(float)  # many ties
    targets = rng.integers(0, 12, size=300)
    top_ids, top_probs, strict_ranks, mass_ahead = order_statistics(logits, targets, n_top=12)
    golden = GoldenTokens(np.zeros(301, dtype=np.int64), lmsample.golden_rank(logits, targets),
                          lmsample.golden_cdf(logits, targets), np.zeros(300), strict_ranks=strict_ranks,
                          top_ids=top_ids, top_probs=top_probs, mass_ahead=mass_ahead)
    probs = [lmsample.softmax(row) for row in logits]
    cumulative_ps = sorted({float(c) for p in probs for c in np.cumsum(np.sort(p)[::-1])[:-1]})[::7]
    for k in range(1, 13):
        expected = [lmsample.top_k_filter(p, k)[t] > 0 for p, t in zip(probs, targets)]
        assert golden.keeps(k=k).tolist() == expected
    for p_ in [0.05, 0.3, 0.5, 0.9, 1.0] + cumulative_ps:  # p exactly on cumulative sums: the boundary cases
        expected = [lmsample.top_p_filter(p, p_)[t] > 0 for p, t in zip(probs, targets)]
        assert golden.keeps(p=p_).tolist() == expected, p_
    for p, t, ids in zip(probs, targets, top_ids):
        assert ids.tolist() == lmsample.descending_order(p).tolist()
    assert (strict_ranks >= golden.ranks).all() and (strict_ranks > golden.ranks).any()  # ties ahead of the target
    with pytest.raises(ValueError, match="k must"):
        golden.keeps(k=0)
    with pytest.raises(ValueError, match="p must"):
        golden.keeps(p=1.5)
    with pytest.raises(ValueError, match="golden_tokens"):
        GoldenTokens(np.arange(3), np.array([1, 1]), np.array([0.5, 0.5]), np.zeros(2)).keeps(k=1)


@pytest.fixture(scope="module")
def tiny_golden(tiny_gpt2):
    """golden_tokens of a short held-out text (one window), and the model's logits at every position."""
    import torch

    model, tokenizer = tiny_gpt2
    text = lmsample.held_out_text()[:600]
    golden = lmsample.golden_tokens(model, tokenizer, text, window=256, progress=False)
    with torch.no_grad():
        rows = model(input_ids=torch.tensor(golden.token_ids)[None]).logits[0, :-1].float().numpy()
    return golden, rows.astype(np.float64)


def test_golden_tokens_store_the_top_tokens_and_where_the_golden_one_stands(tiny_golden):
    golden, rows = tiny_golden
    n = golden.ranks.size
    assert golden.top_ids.shape == golden.top_probs.shape == (n, 20) and golden.strict_ranks.shape == golden.mass_ahead.shape == (n,)
    for i in [0, 1, 17, n // 2, n - 1]:
        probs = lmsample.softmax(rows[i])
        order = lmsample.descending_order(probs)
        target = golden.token_ids[i + 1]
        assert golden.top_ids[i].tolist() == order[:20].tolist()
        assert np.array_equal(golden.top_probs[i], probs[order[:20]])
        place = int(np.flatnonzero(order == target)[0])
        assert golden.strict_ranks[i] == place + 1
        assert golden.mass_ahead[i] == (np.cumsum(probs[order])[place - 1] if place else 0.0)


def test_golden_position_explorer_matches_golden_rank_cdf_and_the_filters(tiny_gpt2, tiny_golden):
    from lmsample.explorers.golden import GoldenPositionExplorer

    golden, rows = tiny_golden
    tokenizer = tiny_gpt2[1]
    ex = GoldenPositionExplorer(golden, tokenizer)
    s = lmsample.suggest_k_p(golden, 0.95)
    assert ex.k.value == s.k and s.p <= ex.p.value < s.p + 0.001  # p rounded up to the slider's grid
    # room above the suggested k, but none beyond the largest strict_ranks (there every position is kept)
    assert ex.k.max == int(min(max(100, 2 * s.k, np.quantile(golden.ranks, 0.99)), golden.strict_ranks.max()))
    assert not ex.verdicts()[1]  # it opens on a position the suggested p cuts
    n = golden.ranks.size
    for i in [0, 5, 17, n // 2, n - 1]:
        ex.position.value = i
        target = int(golden.token_ids[i + 1])
        assert ex.rank == lmsample.golden_rank(rows[i][None], [target])[0]
        assert ex.cdf == lmsample.golden_cdf(rows[i][None], [target])[0]
        probs = lmsample.softmax(rows[i])
        strict_ranks, ahead = int(golden.strict_ranks[i]), float(golden.mass_ahead[i])
        for k in sorted({1, 20, strict_ranks - 1, strict_ranks, min(strict_ranks + 1, ex.k.max)} - {0}):
            for p in [0.05, 0.5, ahead, np.nextafter(ahead, 1.0), min(ex.cdf, 1.0), 1.0]:
                ex.k.value, ex.p.value = k, p
                kept_k = lmsample.top_k_filter(probs, k)[target] > 0
                kept_p = lmsample.top_p_filter(probs, p)[target] > 0
                assert ex.verdicts() == (kept_k, kept_p), (i, k, p)
                assert ("kept" if kept_k else "DROPPED") in ex.title.get_text().split("top-k")[1].split(",")[0]
                assert f"<b>{'keeps' if kept_p else 'drops'}</b> it (it keeps it for p" in ex.readout.value
        assert f"rank</b> is {ex.rank:,}" in ex.readout.value and "optimistic under ties" in ex.readout.value
        # the bars: the 20 most probable tokens, and the golden one after a gap when it is not among them
        heights = [bar.get_height() for bar in ex.bars[:20]]
        assert heights == pytest.approx(np.maximum(probs[golden.top_ids[i]], 1e-8).tolist(), rel=1e-12)
        outside = target not in golden.top_ids[i]
        assert ex.bars[21].get_visible() == outside
        if outside:
            assert ex.bars[21].get_height() == pytest.approx(max(probs[target], 1e-8), rel=1e-9)
        assert tokenizer.decode([target]) in ex.context.value or "&" in ex.context.value
    # coverage over all positions, as the filters would keep the golden tokens
    ex.k.value, ex.p.value = 30000, 0.9
    all_probs = [lmsample.softmax(r) for r in rows]
    targets = golden.token_ids[1:]
    share_k = np.mean([lmsample.top_k_filter(p, 30000)[t] > 0 for p, t in zip(all_probs, targets)])
    share_p = np.mean([lmsample.top_p_filter(p, 0.9)[t] > 0 for p, t in zip(all_probs, targets)])
    assert f"k = 30000 keeps the golden token at <b>{share_k:.1%}</b>" in ex.readout.value
    assert f"p = 0.900 at <b>{share_p:.1%}</b>" in ex.readout.value
    assert ex.rank_title.get_text().startswith(f"k = 30000 keeps {share_k:.1%}")


def test_golden_position_explorer_on_a_peaked_distribution_highlights_the_golden_bar():
    from lmsample.explorers.golden import GoldenPositionExplorer
    from lmsample.golden import GoldenTokens, order_statistics

    class Letters:  # a tokenizer of 5 one-letter tokens
        def decode(self, ids):
            return "".join("abcde"[i] for i in ids)

    logits = np.log([[0.5, 0.25, 0.125, 0.0625, 0.0625], [0.125, 0.125, 0.625, 0.0625, 0.0625]])
    targets = np.array([1, 1])
    golden = GoldenTokens(np.array([0, 1, 1]), lmsample.golden_rank(logits, targets), lmsample.golden_cdf(logits, targets),
                          np.log([0.25, 0.125]),
                          **dict(zip(("top_ids", "top_probs", "strict_ranks", "mass_ahead"), order_statistics(logits, targets, n_top=3))))
    ex = GoldenPositionExplorer(golden, Letters(), position=0)
    assert [label.get_text() for label in ex.labels[:3]] == ["a", "b", "c"]
    assert ex.bars[1].get_edgecolor()[:3] == pytest.approx((0xc0 / 255, 0x39 / 255, 0x2b / 255)) and ex.bars[1].get_linewidth() == 2.0
    assert ex.bars[0].get_linewidth() == 0.0 and not ex.bars[4].get_visible()
    ex.k.value, ex.p.value = 1, 0.45  # k = 1 drops b; p = 0.45: a alone (0.5) reaches it, so b is dropped too
    assert ex.verdicts() == (False, False) and "(no tie here)" in ex.readout.value
    ex.p.value = 0.55
    assert ex.verdicts() == (False, True)
    ex.position.value = 1  # b ties with a (0.125 each) and comes after it: rank 2, but top-k needs k = 3
    assert (ex.rank, int(golden.strict_ranks[1])) == (2, 3) and "(here 1 tied token come first)" in ex.readout.value
    ex.k.value = 2
    assert ex.verdicts()[0] is False and ex.k_line.get_xdata()[0] == 1.5
    assert "a" in ex.context.value and ">b</span>" in ex.context.value
    with pytest.raises(ValueError, match="position"):
        GoldenPositionExplorer(golden, Letters(), position=2)
    with pytest.raises(ValueError, match="golden"):
        GoldenPositionExplorer(GoldenTokens(np.arange(3), np.array([1, 1]), np.array([0.5, 0.5]), np.zeros(2)), Letters())


def test_golden_position_explorer_redraws_in_place(tiny_gpt2, tiny_golden):
    from lmsample.explorers.golden import GoldenPositionExplorer

    ex = GoldenPositionExplorer(tiny_golden[0], tiny_gpt2[1], position=0)
    assert_refreshes_in_place(ex, lambda v: setattr(ex.position, "value", v), [3, 40, 41, 100])
    assert_refreshes_in_place(ex, lambda v: setattr(ex.k, "value", v), [5, 500, 20000])
    assert_refreshes_in_place(ex, lambda v: setattr(ex.p, "value", v), [0.2, 0.9, 0.999])
