"""lmsample.checks, the helpers the lessons' test cells are written with (its docstring examples run
in test_packaging.py): the messages say what was called, expected and got, and the statistical check
keeps its stated false-failure rate while resolving rare tokens better than Hoeffding alone."""
from __future__ import annotations

import numpy as np
import pytest

from lmsample.checks import (expect, expect_frequencies, expect_raises, expect_returns, expect_unchanged,
                             frequency_tolerance, hoeffding_tolerance)


def _samples(counts):
    return np.repeat(np.arange(len(counts)), counts)


def test_messages_name_the_call_and_say_expected_and_got():
    with pytest.raises(AssertionError, match=r"^f\(2\): expected 4, got 5$"):
        expect(5, 4, "f(2)")
    with pytest.raises(AssertionError, match=r"^lm\(\('c',\)\): expected 0.0, got KeyError: 'c'$"):
        expect_returns(0.0, {}.__getitem__, "c", call="lm(('c',))")
    with pytest.raises(AssertionError, match=r"^_sqrt\(4\): expected ValueError, got 2.0 and no error$"):
        expect_raises(ValueError, _sqrt, 4)
    expect_returns((1, "a"), lambda: (1, "a"))


def _sqrt(x):
    return x ** 0.5


def test_bernstein_is_never_wider_than_hoeffding_and_narrow_for_rare_tokens():
    for p in (0.0, 1e-6, 0.01, 0.05, 0.3, 0.5, 0.9, 1.0):
        assert frequency_tolerance(100_000, 4, p, 2e-7) <= hoeffding_tolerance(100_000, 4, 2e-7)
    assert frequency_tolerance(100_000, 1004, 5e-6, 2e-7) < hoeffding_tolerance(100_000, 1004, 2e-7) / 20


def test_a_rare_token_off_by_a_fifth_is_caught():
    # 0.05 drawn 4,400 times in 100,000 instead of about 5,000: within Hoeffding's 0.0094, not Bernstein's 0.0042
    counts = [50_000, 30_000, 15_600, 4_400]
    assert abs(4_400 / 100_000 - 0.05) < hoeffding_tolerance(100_000, 4, 2e-7)
    with pytest.raises(AssertionError, match="token 3: expected frequency 0.05"):
        expect_frequencies(_samples(counts), [0.5, 0.3, 0.15, 0.05], "draw(P)", false_failure=2e-7)
    expect_frequencies(_samples([50_000, 30_000, 15_000, 5_000]), [0.5, 0.3, 0.15, 0.05], "draw(P)", false_failure=2e-7)


def test_a_correct_sampler_fails_no_more_often_than_stated():
    # a loose rate (5%) so that 400 seeds can see it: a correct sampler fails well below it
    probs = [0.5, 0.3, 0.15, 0.045, 0.005]
    failures = 0
    for seed in range(400):
        samples = np.random.default_rng(seed).choice(len(probs), size=2_000, p=probs)
        try:
            expect_frequencies(samples, probs, "draw", false_failure=0.05)
        except AssertionError:
            failures += 1
    assert failures <= 0.05 * 400, failures


def test_frequencies_reject_what_is_not_an_array_of_indices():
    for bad in ([0, 1], np.array([0.0, 1.0]), np.array([[0, 1]]), np.array([0, 2]), np.array([], dtype=int)):
        with pytest.raises(AssertionError, match="^draw: "):
            expect_frequencies(bad, [0.5, 0.5], "draw")
    with pytest.raises(AssertionError, match="token 1 has probability 0 but was drawn 1 times"):
        expect_frequencies(np.array([0, 1]), [1.0, 0.0], "draw")


def test_exact_zeros_ignore_the_tolerance_only_where_zero_is_expected():
    for got in (np.array([0.5, 0.5 + 1e-13, 0.0]), [0.5, 0.5 - 1e-13, 0.0]):
        expect(got, [0.5, 0.5, 0.0], "f", tol=1e-12, exact_zeros=True)
    expect(np.array([0.5, 0.5, 1e-13]), [0.5, 0.5, 0.0], "f", tol=1e-12)  # without it, zero is like any number
    for got in (np.array([0.5, 0.5, 1e-13]), np.array([0.5, 0.5, -0.0 + 1e-300])):
        with pytest.raises(AssertionError, match="zeros exactly"):
            expect(got, np.array([0.5, 0.5, 0.0]), "f", tol=1e-12, exact_zeros=True)
    with pytest.raises(AssertionError, match=r"^g\(\): expected \[1.0, 0.0\]"):
        expect_returns([1.0, 0.0], lambda: np.array([1.0, 1e-20]), call="g()", tol=1e-9, exact_zeros=True)


def _shift_in_place(z, by=1.0):
    z -= by
    return z


def test_unchanged_names_the_call_and_returns_the_answer():
    z = np.array([1.0, 2.0])
    out = expect_unchanged(np.subtract, z, 1.0)
    assert out.tolist() == [0.0, 1.0] and z.tolist() == [1.0, 2.0]
    with pytest.raises(AssertionError, match=r"^_shift_in_place\(\[1.0, 2.0\], by=0.5\): expected its argument to stay "
                                             r"\[1.0, 2.0\], got \[0.5, 1.5\]"):
        expect_unchanged(_shift_in_place, z, by=0.5)
    with pytest.raises(AssertionError, match=r"^<lambda>\(\[1.0\], rng\): expected an answer, got ZeroDivisionError"):
        expect_unchanged(lambda a, rng: 1 / 0, np.array([1.0]), np.random.default_rng(0))
