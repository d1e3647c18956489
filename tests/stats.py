"""Statistical checks for samplers with a stated false-failure probability.

Hoeffding's inequality bounds, for n independent draws, P(|count_i/n - p_i| >= t) <= 2 exp(-2 n t^2)
for each category i, whatever p_i is. With a union bound over the K categories, choosing
t = sqrt(log(2 K / alpha) / (2 n)) makes the probability that a *correct* sampler fails the check
at most alpha. The seeds are fixed, so each test is deterministic; alpha is the chance that a
correct sampler fails for a seed picked at random.
"""
from __future__ import annotations

import math

import numpy as np

FALSE_FAILURE = 1e-6


def hoeffding_tolerance(n: int, n_categories: int, alpha: float = FALSE_FAILURE) -> float:
    return math.sqrt(math.log(2 * n_categories / alpha) / (2 * n))


def assert_frequencies_match(samples, probs, alpha: float = FALSE_FAILURE):
    """Fail when some category's frequency is further from its probability than the Hoeffding bound."""
    probs = np.asarray(probs, dtype=float)
    samples = np.asarray(samples)
    n = samples.size
    counts = np.bincount(samples, minlength=probs.size)
    assert counts.size == probs.size, f"samples outside [0, {probs.size}): {np.unique(samples)}"
    freqs = counts / n
    tol = hoeffding_tolerance(n, probs.size, alpha)
    worst = int(np.argmax(np.abs(freqs - probs)))
    assert np.all(np.abs(freqs - probs) < tol), (
        f"frequency of token {worst} is {freqs[worst]:.5f}, expected {probs[worst]:.5f} +- {tol:.5f} "
        f"(n={n}, false-failure probability <= {alpha})"
    )
    zero = probs == 0
    assert counts[zero].sum() == 0, f"tokens of probability 0 were drawn: {np.flatnonzero(zero & (counts > 0))}"
