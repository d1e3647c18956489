"""Softmax, temperature on logits and on probabilities, limits and entropy."""
import math
import warnings

import numpy as np
import pytest

from lmsample import apply_temperature, entropy, softmax, softmax_t, temperature_for_max_prob, temperature_table

P = np.array([0.5, 0.3, 0.15, 0.05])


def test_softmax_exact_values():
    assert softmax([0.0, 0.0]).tolist() == [0.5, 0.5]
    out = softmax([0.0, math.log(3.0)])
    assert out == pytest.approx([0.25, 0.75], abs=1e-15)
    assert softmax([1.0, 2.0, 3.0], temperature=0.5) == pytest.approx(np.exp([2, 4, 6]) / np.exp([2, 4, 6]).sum(), rel=1e-14)


def test_softmax_is_stable_for_huge_logits():
    out = softmax([1e4, -1e4, 0.0])
    assert np.all(np.isfinite(out)) and out.tolist() == [1.0, 0.0, 0.0]
    out = softmax([1e4, 1e4 - math.log(3.0)])
    assert out == pytest.approx([0.75, 0.25], abs=1e-12)


def test_softmax_rejects_bad_temperature_and_logits():
    for t in (0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="temperature"):
            softmax([1.0, 2.0], t)
    with pytest.raises(ValueError, match="finite"):
        softmax([1.0, np.inf])


def test_the_temperature_table_of_the_curriculum():
    table = temperature_table(P, [0.5, 1.0, 2.0])
    assert table.shape == (3, 4)
    assert np.round(table[0], 3).tolist() == [0.685, 0.247, 0.062, 0.007]
    assert table[1] == pytest.approx(P, abs=1e-15)  # T = 1 leaves the distribution unchanged
    assert np.round(table[2], 3).tolist() == [0.379, 0.294, 0.208, 0.120]
    # ... and not the widely copied (0.35, 0.29, 0.22, 0.14)
    assert np.abs(table[2] - [0.35, 0.29, 0.22, 0.14]).max() > 0.02


def test_apply_temperature_exact():
    squared = P**2 / (P**2).sum()
    assert apply_temperature(P, 0.5) == pytest.approx(squared, rel=1e-14)


def test_apply_temperature_keeps_zeros_and_infinite_t_is_uniform_over_support():
    probs = [0.6, 0.0, 0.3, 0.1]
    assert apply_temperature(probs, np.inf).tolist() == [1 / 3, 0.0, 1 / 3, 1 / 3]
    out = apply_temperature(probs, 1e-3)
    assert out[1] == 0.0 and out[0] == pytest.approx(1.0)
    assert apply_temperature(probs, 1e-300).tolist() == [1.0, 0.0, 0.0, 0.0]


def test_apply_temperature_agrees_with_softmax_on_log_probs():
    for t in (0.1, 0.7, 3.0, 50.0):
        assert apply_temperature(P, t) == pytest.approx(softmax(np.log(P), t), rel=1e-12)


def test_apply_temperature_does_not_modify_input():
    probs = P.copy()
    apply_temperature(probs, 0.3)
    temperature_table(probs, [0.3, 3.0])
    assert np.array_equal(probs, P)


def test_apply_temperature_rejects_bad_temperature():
    for t in (0.0, -2.0):
        with pytest.raises(ValueError, match="temperature"):
            apply_temperature(P, t)


def test_entropy():
    assert entropy([1.0, 0.0]) == 0.0
    assert entropy([0.25] * 4) == pytest.approx(math.log(4), rel=1e-15)
    assert entropy(P) == pytest.approx(-sum(p * math.log(p) for p in P), rel=1e-14)
    with pytest.raises(ValueError):
        entropy([0.5, 0.6])


def test_softmax_t_limits():
    assert softmax_t([1.0, 3.0, 2.0], 0).tolist() == [0.0, 1.0, 0.0]
    assert softmax_t([1.0, 3.0, 3.0], 0).tolist() == [0.0, 0.5, 0.5]  # tied maxima share the mass
    assert softmax_t([1.0, 3.0, 2.0], np.inf).tolist() == [1 / 3, 1 / 3, 1 / 3]
    assert softmax_t([1.0, 3.0, 2.0], 1.0) == pytest.approx(softmax([1.0, 3.0, 2.0]), rel=1e-15)


@pytest.mark.parametrize("t", [1e-3, 1e-10, 1e-100, 1e-300, 5e-324])
def test_softmax_t_tiny_temperatures_are_finite_and_approach_the_limit(t):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow or invalid-value warning escapes either
        out = softmax_t([1.0, 3.0, 3.0, 2.999], t)
    assert np.all(np.isfinite(out))
    if t <= 1e-10:
        assert out.tolist() == [0.0, 0.5, 0.5, 0.0]


def test_softmax_t_rejects_negative_temperature():
    with pytest.raises(ValueError, match="temperature"):
        softmax_t([1.0, 2.0], -1e-9)


@pytest.mark.parametrize("logits", [[2.0, 1.0, 0.0], [5.0, 5.0, 1.0, -3.0], [1e4, 0.0, -1e4], [0.3, 0.2]])
@pytest.mark.parametrize("fraction", [0.01, 0.5, 0.99])
def test_temperature_for_max_prob_hits_target(logits, fraction):
    n = len(logits)
    m = int(np.sum(np.array(logits) == max(logits)))
    target = 1 / n + fraction * (1 / m - 1 / n)
    t = temperature_for_max_prob(logits, target)
    assert t > 0
    assert abs(softmax(logits, t).max() - target) < 1e-9


def test_temperature_for_max_prob_known_value():
    # two logits a gap d apart: max prob = 1 / (1 + exp(-d / T)); 0.75 needs T = d / ln 3
    assert temperature_for_max_prob([1.0, 0.0], 0.75) == pytest.approx(1 / math.log(3), rel=1e-9)


@pytest.mark.parametrize(
    "logits, target",
    [([1.0, 2.0, 3.0], 1 / 3), ([1.0, 2.0, 3.0], 1.0), ([1.0, 2.0, 3.0], 0.2), ([1.0, 1.0], 0.7), ([3.0, 3.0, 1.0], 0.5), ([3.0, 3.0, 1.0], 0.6)],
)
def test_temperature_for_max_prob_impossible_targets(logits, target):
    with pytest.raises(ValueError, match="target"):
        temperature_for_max_prob(logits, target)
