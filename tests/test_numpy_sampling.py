"""Inverse-CDF sampling, draw, tail mass and the derailing probability."""
import math

import numpy as np
import pytest

from lmsample import derail_probability, descending_order, draw, inverse_cdf_sample, tail_mass
from stats import assert_frequencies_match, hoeffding_tolerance

P = [0.5, 0.3, 0.15, 0.05]


@pytest.mark.parametrize(
    "u, expected",
    [(0.0, 0), (0.4999, 0), (0.5, 1), (0.79, 1), (0.8, 2), (0.9500000000000001, 3), (0.96, 3), (0.999999, 3)],
)
def test_inverse_cdf_sample_boundaries(u, expected):
    # cumsum = 0.5, 0.8, 0.9500000000000001, 1.0 (in floating point) and the answer is the
    # first index with cumsum > u
    assert np.cumsum(P)[2] == 0.9500000000000001
    assert inverse_cdf_sample(P, u) == expected


def test_inverse_cdf_sample_skips_zero_probability_tokens():
    probs = [0.0, 0.5, 0.0, 0.5, 0.0]
    assert inverse_cdf_sample(probs, 0.0) == 1
    assert inverse_cdf_sample(probs, 0.5) == 3
    assert inverse_cdf_sample(probs, np.nextafter(1.0, 0.0)) == 3


def test_inverse_cdf_sample_rounding_shortfall_goes_to_last_nonzero_token():
    probs = [0.1] * 10 + [0.0]  # cumsum ends at 0.9999999999999999, not 1
    u = float(np.nextafter(1.0, 0.0))
    assert np.cumsum(probs)[-1] <= u
    assert inverse_cdf_sample(probs, u) == 9


@pytest.mark.parametrize("u", [-0.1, 1.0, 1.5, float("nan")])
def test_inverse_cdf_sample_rejects_u_outside_unit_interval(u):
    with pytest.raises(ValueError, match="u"):
        inverse_cdf_sample(P, u)


@pytest.mark.parametrize(
    "probs, message",
    [([0.5, 0.6], "sum to 1"), ([1.5, -0.5], "non-negative"), ([], "empty"), ([[1.0]], "1-D"), ([np.nan, 1], "finite")],
)
def test_probs_validation(probs, message):
    with pytest.raises(ValueError, match=message):
        inverse_cdf_sample(probs, 0.5)


def test_draw_matches_distribution_statistically():
    probs = np.array([0.5, 0.3, 0.0, 0.15, 0.05])
    samples = draw(probs, 200_000, np.random.default_rng(20261122))
    assert samples.shape == (200_000,) and samples.dtype.kind == "i"
    assert hoeffding_tolerance(200_000, 5) < 0.0065  # the check's resolution
    assert_frequencies_match(samples, probs)


def test_draw_is_reproducible_and_uses_only_rng():
    a = draw(P, 50, np.random.default_rng(7))
    b = draw(P, 50, np.random.default_rng(7))
    assert np.array_equal(a, b)
    assert draw(P, 0, np.random.default_rng(0)).shape == (0,)


def test_draw_validates_arguments():
    with pytest.raises(ValueError, match="rng"):
        draw(P, 3, np.random.RandomState(0))
    with pytest.raises(ValueError, match="n"):
        draw(P, -1, np.random.default_rng(0))


def test_draw_does_not_modify_input():
    probs = np.array(P)
    draw(probs, 10, np.random.default_rng(0))
    assert probs.tolist() == P


def test_descending_order_breaks_ties_by_lower_index():
    assert descending_order([0.2, 0.4, 0.2, 0.2]).tolist() == [1, 0, 2, 3]


@pytest.mark.parametrize("k, expected", [(0, 1.0), (1, 0.5), (2, 0.2), (3, 0.05), (4, 0.0), (10, 0.0)])
def test_tail_mass(k, expected):
    assert tail_mass(P, k) == pytest.approx(expected, abs=1e-15)


def test_tail_mass_ties_take_lower_index_into_the_head():
    assert tail_mass([0.25, 0.25, 0.5], 2) == 0.25


def test_tail_mass_rejects_negative_k():
    with pytest.raises(ValueError, match="k"):
        tail_mass(P, -1)


def test_derail_probability_exact_values():
    assert derail_probability(0.3, 1) == pytest.approx(0.3, rel=1e-15)
    assert derail_probability(0.3, 3) == pytest.approx(1 - 0.7**3, rel=1e-14)  # about one in three per token
    assert derail_probability(0.3, 20) > 0.999  # almost surely within a sentence
    assert derail_probability(0.0, 100) == 0.0
    assert derail_probability(1.0, 1) == 1.0
    assert derail_probability(0.5, 0) == 0.0
    # tiny tails keep their precision: 1 - (1 - 1e-18)**2 would round to 0
    assert derail_probability(1e-18, 2) == pytest.approx(2e-18, rel=1e-12)


@pytest.mark.parametrize("mass, steps, word", [(-0.1, 1, "tail_mass"), (1.1, 1, "tail_mass"), (0.5, -1, "n_steps"), (0.5, 2.0, "n_steps")])
def test_derail_probability_validation(mass, steps, word):
    with pytest.raises(ValueError, match=word):
        derail_probability(mass, steps)


def test_derail_probability_matches_closed_form():
    for m in (0.01, 0.1, 0.3, 0.9):
        for n in (1, 5, 50):
            assert math.isclose(derail_probability(m, n), 1 - (1 - m) ** n, rel_tol=1e-12)
