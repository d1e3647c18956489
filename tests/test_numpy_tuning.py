"""Golden-token ranks and CDFs, choosing k and p, distinct-n and perplexity."""
import math

import numpy as np
import pytest

from lmsample import choose_k, choose_p, distinct_n, golden_cdf, golden_rank, perplexity

LOGITS = np.log(np.array([[0.5, 0.25, 0.125, 0.125], [0.1, 0.2, 0.3, 0.4], [0.25, 0.25, 0.25, 0.25]]))


def test_golden_rank():
    assert golden_rank(LOGITS, [0, 0, 3]).tolist() == [1, 4, 1]
    assert golden_rank(LOGITS, [3, 2, 0]).tolist() == [3, 2, 1]  # ties share the better rank
    assert golden_rank(LOGITS, [2, 3, 1]).dtype.kind == "i"


def test_golden_cdf():
    assert golden_cdf(LOGITS, [0, 3, 3]) == pytest.approx([0.5, 0.4, 0.25], abs=1e-15)
    assert golden_cdf(LOGITS, [2, 0, 0]) == pytest.approx([0.875, 1.0, 0.25], abs=1e-15)
    # a tied token is not strictly more probable, so it is not counted
    assert golden_cdf(LOGITS, [3, 1, 2]) == pytest.approx([0.875, 0.9, 0.25], abs=1e-15)


def test_golden_cdf_is_stable_for_huge_logits():
    out = golden_cdf([[1e4, -1e4, 0.0]], [2])
    assert np.isfinite(out).all() and out.tolist() == [1.0]


@pytest.mark.parametrize(
    "targets, message",
    [([0, 1], "shape"), ([0, 1, 4], r"\[0, 4\)"), ([0, 1, -1], r"\[0, 4\)"), ([0.0, 1.0, 2.0], "integer")],
)
def test_golden_validation(targets, message):
    with pytest.raises(ValueError, match=message):
        golden_rank(LOGITS, targets)
    with pytest.raises(ValueError, match=message):
        golden_cdf(LOGITS, targets)


def test_golden_logits_must_be_2d():
    with pytest.raises(ValueError, match="2-D"):
        golden_rank([0.0, 1.0], [0])


@pytest.mark.parametrize(
    "coverage, k",
    [(0.1, 1), (0.3, 1), (0.3000001, 2), (0.5, 2), (0.7, 3), (0.8, 7), (0.9, 7), (0.91, 30), (1.0, 30)],
)
def test_choose_k(coverage, k):
    ranks = [1, 2, 1, 7, 30, 2, 7, 1, 2, 3]  # sorted: 1 1 1 2 2 2 3 7 7 30
    # 0.7 * 10 is 7.000000000000001 in floating point, yet 7 of 10 ranks <= 3 covers 0.7 exactly
    assert choose_k(ranks, coverage) == k


def test_choose_p():
    cdfs = [0.9, 0.5, 0.99, 0.2, 0.5]
    assert choose_p(cdfs, 0.2) == 0.2
    assert choose_p(cdfs, 0.4) == 0.5
    assert choose_p(cdfs, 0.6) == 0.5
    assert choose_p(cdfs, 0.8) == 0.9
    assert choose_p(cdfs, 1.0) == 0.99


@pytest.mark.parametrize("coverage", [0.0, -0.5, 1.5, float("nan")])
def test_coverage_validation(coverage):
    with pytest.raises(ValueError, match="coverage"):
        choose_k([1, 2], coverage)
    with pytest.raises(ValueError, match="coverage"):
        choose_p([0.5], coverage)


def test_choose_k_rejects_bad_ranks():
    with pytest.raises(ValueError, match="ranks"):
        choose_k([], 0.5)
    with pytest.raises(ValueError, match="ranks"):
        choose_k([0, 1], 0.5)


def test_distinct_n():
    tokens = "the cat sat on the cat".split()
    assert distinct_n(tokens, 1) == 4 / 6
    assert distinct_n(tokens, 2) == 4 / 5  # "the cat" twice
    assert distinct_n(tokens, 6) == 1.0
    assert distinct_n(tokens, 7) == 0.0
    assert distinct_n([], 1) == 0.0
    assert distinct_n(np.array([5, 5, 5]), 1) == 1 / 3
    with pytest.raises(ValueError, match="n"):
        distinct_n(tokens, 0)


def test_perplexity():
    assert perplexity([math.log(0.25)] * 3) == pytest.approx(4.0, rel=1e-15)
    assert perplexity([math.log(0.5), math.log(0.125)]) == pytest.approx(4.0, rel=1e-15)
    assert perplexity([0.0]) == 1.0
    assert perplexity([-np.inf, 0.0]) == math.inf
    with pytest.raises(ValueError):
        perplexity([])
    with pytest.raises(ValueError):
        perplexity([np.nan])


# --- optimistic ranks and CDFs, coverage curves (lesson 06) ------------------------------------

def test_golden_rank_and_cdf_are_optimistic_with_ties():
    # P = (.5, .25, .125, .125), target 3: two tokens are strictly more probable, so rank 3 and
    # CDF 0.875; but under the lower-index rule token 2 (tied) comes first, and top-k 3 / top-p 0.875
    # keep tokens 0-2 only
    from lmsample import strict_rank, top_k_filter, top_p_filter

    P = np.array([0.5, 0.25, 0.125, 0.125])
    logits = np.log(P)[None]
    assert golden_rank(logits, [3]).tolist() == [3]
    assert golden_cdf(logits, [3]).tolist() == [0.875]
    assert top_k_filter(P, 3)[3] == 0.0 and top_p_filter(P, 0.875)[3] == 0.0
    assert strict_rank(logits, [3]).tolist() == [4] and top_k_filter(P, 4)[3] > 0
    assert strict_rank(logits, [2]).tolist() == [3] and top_k_filter(P, 3)[2] > 0
    # without ties the two ranks agree; all tied: the index decides
    assert strict_rank(LOGITS, [0, 0, 3]).tolist() == [1, 4, 4]
    assert golden_rank(LOGITS, [0, 0, 3]).tolist() == [1, 4, 1]
    with pytest.raises(ValueError, match="targets"):
        strict_rank(LOGITS, [0, 1])


def test_coverage_curve_exact_values_and_choose_k_p_invert_it():
    from lmsample import coverage_curve

    ranks = np.array([1, 1, 2, 5])
    assert coverage_curve(ranks, [0, 1, 2, 4, 5, 9]).tolist() == [0.0, 0.5, 0.75, 0.75, 1.0, 1.0]
    cdfs = np.array([0.5, 0.9, 0.2, 0.99])
    assert coverage_curve(cdfs, [0.2, 0.5, 0.95, 1.0]).tolist() == [0.25, 0.5, 0.75, 1.0]
    rng = np.random.default_rng(0)
    values = rng.integers(1, 60, size=200)
    for coverage in (0.1, 0.5, 0.9, 0.95, 1.0):
        k = choose_k(values, coverage)
        assert coverage_curve(values, [k])[0] >= coverage > coverage_curve(values, [k - 1])[0]
    with pytest.raises(ValueError, match="values"):
        coverage_curve([], [1])
    with pytest.raises(ValueError, match="thresholds"):
        coverage_curve([1, 2], [[1]])


# --- diversity across texts, loops, spreads ------------------------------------------------------

def test_pooled_distinct_n():
    from lmsample import pooled_distinct_n

    assert pooled_distinct_n([["a", "b", "c"], ["a", "b", "d"]], 2) == 3 / 4  # (a b) counted once
    assert pooled_distinct_n([["a", "b"], ["b", "c"]], 2) == 1.0  # no n-gram across the boundary
    text = "the cat sat on the mat".split()
    assert pooled_distinct_n([text] * 3, 2) == distinct_n(text, 2) / 3
    assert pooled_distinct_n([text], 1) == distinct_n(text, 1)
    assert pooled_distinct_n([["a"], []], 2) == 0.0
    with pytest.raises(ValueError, match="generations"):
        pooled_distinct_n([], 2)


def test_final_loop():
    from lmsample import final_loop

    assert final_loop("x a b c a b c a b c".split()) == (3, 3)
    assert final_loop("a b c d".split()) == (1, 1)
    assert final_loop(["a"] * 5) == (1, 5)
    assert final_loop([]) == (0, 0)
    assert final_loop(np.array([7, 1, 2, 1, 2])) == (2, 2)
    assert final_loop("x a b c a b c".split(), max_phrase=2) == (1, 1)


def test_seed_spread():
    from lmsample import seed_spread

    s = seed_spread([2.0, 4.0, 9.0])
    assert (s.mean, s.low, s.high, s.n) == (5.0, 2.0, 9.0, 3)
    assert s.sd == pytest.approx(math.sqrt(13.0), rel=1e-15)  # ((-3)^2 + (-1)^2 + 4^2) / 2 = 13
    assert seed_spread([3.5]) == (3.5, 0.0, 3.5, 3.5, 1)
    assert str(seed_spread([1.0, 3.0])) == "2 ± 1.4"
    for bad in ([], [[1.0]], [np.nan]):
        with pytest.raises(ValueError, match="values"):
            seed_spread(bad)


def test_grid_measures_exact_values():
    from lmsample.metrics import grid_measures

    # two samples of two prompts; sample 1 of prompt 0 ends in a loop
    ids = [[[1, 2, 3, 4], [5, 6, 7, 8]], [[1, 2, 3, 1, 2, 3], [5, 6, 9, 9]]]
    lp = [[[-1.0] * 4, [-1.0] * 4], [[-2.0] * 6, [-0.5] * 4]]
    m = grid_measures(ids, lp)
    # perplexities: exp(1) and exp((12 + 2) / 10) = exp(1.4)
    assert m["perplexity"].mean == pytest.approx((math.e + math.exp(1.4)) / 2, rel=1e-14)
    assert (m["perplexity"].low, m["perplexity"].n) == (pytest.approx(math.e, rel=1e-14), 2)
    # distinct-2 within: sample 0: 1 and 1; sample 1: 3/5 and 1
    assert m["distinct"].mean == pytest.approx((1.0 + 0.8) / 2, rel=1e-14)
    # repetition: sample 0: none of 2; sample 1: "1 2 3" twice, 1 of 2
    assert (m["repetition"].mean, m["repetition"].high) == (0.25, 0.5)
    # across: prompt 0: bigrams {12, 23, 34} + {12, 23, 31} -> 4 distinct of 8; prompt 1: {56, 67, 78} + {56, 69, 99} -> 5 of 6
    assert m["across"].mean == pytest.approx((4 / 8 + 5 / 6) / 2, rel=1e-14) and m["across"].n == 2
    with pytest.raises(ValueError, match="grid"):
        grid_measures([], [])
    with pytest.raises(ValueError, match="grid"):
        grid_measures([[[1, 2]], [[1], [2]]], [[[0.0, 0.0]], [[0.0], [0.0]]])


def test_golden_probability_under_top_k_exact_values():
    from lmsample import golden_probability_under_top_k

    # position 0: P = (.5, .25, .125, .125), golden token 0 (rank 1); position 1: same P, golden token 1 (rank 2)
    heads = [[0.5, 0.75, 0.875, 1.0]] * 2
    got = golden_probability_under_top_k([1, 2], [0.5, 0.25], heads)
    # k = 1: (1 + 0) / 2; k = 2: (.5/.75 + .25/.75) / 2 = 0.5; k = 3: (.5 + .25) / .875 / 2; k = 4: .375
    assert got.tolist() == pytest.approx([0.5, 0.5, 0.75 / 0.875 / 2, 0.375], rel=1e-14)
    assert golden_probability_under_top_k([1], [0.9], [[0.9, 0.95]]).tolist() == pytest.approx([1.0, 0.9 / 0.95], rel=1e-14)
    with pytest.raises(ValueError, match="ranks"):
        golden_probability_under_top_k([0], [0.5], [[0.5]])
    with pytest.raises(ValueError, match="golden_probs"):
        golden_probability_under_top_k([1, 1], [0.5], [[0.5]] * 2)
    with pytest.raises(ValueError, match="head_masses"):
        golden_probability_under_top_k([1], [0.5], [0.5])
