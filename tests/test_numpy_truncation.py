"""top-k, top-p (nucleus), min-p and the full sampling step."""
import numpy as np
import pytest

from lmsample import min_p_filter, nucleus_size, sample_next, softmax, top_k_filter, top_p_filter
from stats import assert_frequencies_match

DYADIC = [0.5, 0.25, 0.125, 0.125]


def test_top_k_keeps_exactly_k_with_ties_to_lower_index():
    assert top_k_filter([0.2, 0.4, 0.2, 0.2], 2).tolist() == [1 / 3, 2 / 3, 0.0, 0.0]
    assert top_k_filter([0.2, 0.4, 0.2, 0.2], 3).tolist() == [0.25, 0.5, 0.25, 0.0]
    assert top_k_filter(DYADIC, 1).tolist() == [1.0, 0.0, 0.0, 0.0]


def test_top_k_at_least_length_keeps_all():
    assert top_k_filter(DYADIC, 4).tolist() == DYADIC
    assert top_k_filter(DYADIC, 100).tolist() == DYADIC


@pytest.mark.parametrize("k", [0, -3, 1.0, None])
def test_top_k_invalid(k):
    with pytest.raises(ValueError, match="k"):
        top_k_filter(DYADIC, k)


@pytest.mark.parametrize(
    "p, kept",
    [(0.1, 1), (0.5, 1), (0.5000001, 2), (0.75, 2), (0.7500001, 3), (0.875, 3), (0.9, 4), (1.0, 4)],
)
def test_top_p_dyadic_boundaries(p, kept):
    # exact boundaries: the crossing token is kept, and a sum equal to p stops the nucleus
    assert nucleus_size(DYADIC, p) == kept
    out = top_p_filter(DYADIC, p)
    expected = np.array(DYADIC[:kept] + [0.0] * (4 - kept))
    assert out.tolist() == (expected / expected.sum()).tolist()


def test_top_p_075_keeps_two_not_three():
    # transformers issue 18976 kept an extra token when the cumulative sum equalled p exactly
    assert top_p_filter(DYADIC, 0.75).tolist() == [2 / 3, 1 / 3, 0.0, 0.0]


def test_top_p_uses_descending_order_with_ties_to_lower_index():
    assert top_p_filter([0.125, 0.5, 0.125, 0.25], 0.8).tolist() == [1 / 7, 4 / 7, 0.0, 2 / 7]


def test_top_p_one_keeps_every_nonzero_token_even_when_the_sum_rounds_below_one():
    probs = [0.1] * 10 + [0.0]
    assert np.cumsum(probs)[-1] < 1.0
    assert nucleus_size(probs, 1.0) == 10
    assert nucleus_size(probs, 0.9999999999999999999) == 10
    assert top_p_filter(probs, 1.0)[-1] == 0.0


@pytest.mark.parametrize("p", [0.0, -0.1, 1.01, float("nan")])
def test_top_p_invalid(p):
    with pytest.raises(ValueError, match="p"):
        top_p_filter(DYADIC, p)
    with pytest.raises(ValueError, match="p"):
        nucleus_size(DYADIC, p)


@pytest.mark.parametrize(
    "min_p, expected",
    [
        (0.0, DYADIC),
        (0.25, DYADIC),
        (0.2500001, [4 / 6, 2 / 6, 0.0, 0.0]),
        (0.5, [4 / 6, 2 / 6, 0.0, 0.0]),
        (1.0, [1.0, 0.0, 0.0, 0.0]),
    ],
)
def test_min_p(min_p, expected):
    assert min_p_filter(DYADIC, min_p) == pytest.approx(expected, abs=1e-15)


def test_min_p_keeps_tied_maxima():
    assert min_p_filter([0.4, 0.4, 0.2], 1.0).tolist() == [0.5, 0.5, 0.0]


@pytest.mark.parametrize("min_p", [-0.1, 1.5])
def test_min_p_invalid(min_p):
    with pytest.raises(ValueError, match="min_p"):
        min_p_filter(DYADIC, min_p)


def test_filters_do_not_modify_input():
    probs = np.array(DYADIC)
    top_k_filter(probs, 2), top_p_filter(probs, 0.6), min_p_filter(probs, 0.3)
    assert probs.tolist() == DYADIC


def test_sample_next_temperature_zero_is_first_argmax_and_uses_no_randomness():
    rng = np.random.default_rng(0)
    state = rng.bit_generator.state
    assert sample_next([0.0, 5.0, 5.0, 1.0], rng, temperature=0) == 1
    assert rng.bit_generator.state == state


def test_sample_next_pipeline_statistically():
    logits = np.log(np.array([0.4, 0.3, 0.2, 0.1]))
    rng = np.random.default_rng(11)
    # T = 1, top-k 3 -> (0.4, 0.3, 0.2)/0.9; then top-p 0.7 keeps 0.444 + 0.333 = 0.778 >= 0.7
    samples = [sample_next(logits, rng, top_k=3, top_p=0.7) for _ in range(40_000)]
    assert_frequencies_match(samples, [4 / 7, 3 / 7, 0.0, 0.0])


def test_sample_next_order_is_temperature_then_top_k_then_top_p():
    logits = np.log(np.array([0.4, 0.3, 0.2, 0.1]))
    rng = np.random.default_rng(5)
    # at T = 100 the distribution is nearly flat, so top-p 0.5 needs two tokens;
    # applied before the temperature it would keep only one
    samples = [sample_next(logits, rng, temperature=100.0, top_p=0.5) for _ in range(40_000)]
    flat = softmax(logits, 100.0)
    assert_frequencies_match(samples, [flat[0] / flat[:2].sum(), flat[1] / flat[:2].sum(), 0.0, 0.0])


def test_sample_next_validates():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="temperature"):
        sample_next([0.0, 1.0], rng, temperature=-1)
    with pytest.raises(ValueError, match="top_k"):
        sample_next([0.0, 1.0], rng, top_k=0)
    with pytest.raises(ValueError, match="p"):
        sample_next([0.0, 1.0], rng, top_p=0)
    with pytest.raises(ValueError, match="rng"):
        sample_next([0.0, 1.0], 42)
