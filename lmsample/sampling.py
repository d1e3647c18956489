"""Ancestral sampling from a categorical distribution, and why its tail matters.

Inverse-CDF sampling: draw ``u`` uniformly from [0, 1) and return the first index whose
cumulative probability exceeds ``u``. Token ``i`` is returned exactly when
``cumsum[i-1] <= u < cumsum[i]``, an interval of length ``probs[i]``, so it is drawn with
probability ``probs[i]``.
"""
from __future__ import annotations

import math

import numpy as np

from ._checks import as_generator, as_int, as_probs, as_real


def descending_order(values) -> np.ndarray:
    """Indices of ``values`` from largest to smallest, ties broken by the lower index first.

    >>> descending_order([0.25, 0.5, 0.25]).tolist()
    [1, 0, 2]
    """
    return np.argsort(-np.asarray(values, dtype=np.float64), kind="stable")


def _inverse_cdf(probs: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Vectorised inverse CDF for checked ``probs`` and ``u`` in [0, 1)."""
    cdf = np.cumsum(probs)
    idx = np.searchsorted(cdf, u, side="right")
    # Rounding can leave cdf[-1] a hair below 1 and so below u: give that u to the last
    # token of nonzero probability, never to a token of probability 0.
    last_nonzero = int(np.flatnonzero(probs)[-1])
    return np.minimum(idx, last_nonzero)


def inverse_cdf_sample(probs, u: float) -> int:
    """The smallest index ``i`` with ``cumsum(probs)[i] > u``, for ``u`` in [0, 1).

    A token of probability 0 is never returned, even when rounding leaves the last cumulative
    sum below ``u``.

    >>> inverse_cdf_sample([0.5, 0.25, 0.25], 0.6)
    1
    """
    probs = as_probs(probs)
    u = as_real(u, "u")
    if not 0.0 <= u < 1.0:
        raise ValueError(f"u must be in [0, 1), got {u!r}")
    return int(_inverse_cdf(probs, np.array([u]))[0])


def draw(probs, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` independent samples (integer indices) from ``probs``, by inverse CDF.

    >>> draw([0.0, 1.0], 3, np.random.default_rng(0)).tolist()
    [1, 1, 1]
    """
    probs = as_probs(probs)
    n = as_int(n, "n", minimum=0)
    rng = as_generator(rng)
    return _inverse_cdf(probs, rng.random(n)).astype(np.int64)


def tail_mass(probs, k: int) -> float:
    """Total probability of the tokens outside the ``k`` most probable (ties: lower index first).

    ``k = 0`` gives the whole mass, ``k >= len(probs)`` gives 0.

    >>> tail_mass([0.5, 0.3, 0.15, 0.05], 2)
    0.2
    """
    probs = as_probs(probs)
    k = as_int(k, "k", minimum=0)
    return float(probs[descending_order(probs)[k:]].sum())


def derail_probability(tail_mass: float, n_steps: int) -> float:
    """Probability that at least one of ``n_steps`` independent draws lands in a tail of that mass.

    It is ``1 - (1 - tail_mass) ** n_steps``, computed as ``-expm1(n_steps * log1p(-tail_mass))``
    so that tiny tails keep their precision.

    >>> round(derail_probability(0.3, 1), 12)
    0.3
    """
    m = as_real(tail_mass, "tail_mass")
    if not 0.0 <= m <= 1.0:
        raise ValueError(f"tail_mass must be in [0, 1], got {m!r}")
    n_steps = as_int(n_steps, "n_steps", minimum=0)
    if n_steps == 0 or m == 0.0:
        return 0.0
    if m == 1.0:
        return 1.0
    return float(-math.expm1(n_steps * math.log1p(-m)))
