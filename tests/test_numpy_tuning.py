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
