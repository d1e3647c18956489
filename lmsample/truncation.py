"""Truncation samplers: top-k, top-p (nucleus) and min-p, and the full sampling step.

Every filter returns a full-length array: removed tokens get probability exactly 0 and the
kept ones are renormalised to sum to 1. "Descending order" is by probability, ties broken by the
lower index first (:func:`lmsample.sampling.descending_order`).
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from ._checks import as_generator, as_int, as_logits, as_probs, as_real, as_temperature
from .sampling import _inverse_cdf, descending_order
from .temperature import softmax


def _keep(probs: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """Zero everything outside ``keep`` (indices or a mask) and renormalise what is kept."""
    out = np.zeros_like(probs)
    out[keep] = probs[keep]
    return out / out.sum()


def top_k_filter(probs, k: int) -> np.ndarray:
    """Keep exactly the first ``k`` tokens in descending order (ties: lower index first).

    ``k >= len(probs)`` keeps all; ``k < 1`` raises ``ValueError``.

    >>> top_k_filter([0.25, 0.5, 0.25], 2).tolist()
    [0.3333333333333333, 0.6666666666666666, 0.0]
    """
    probs = as_probs(probs)
    k = as_int(k, "k", minimum=1)
    return _keep(probs, descending_order(probs)[:k])


def nucleus_size(probs, p: float) -> int:
    """How many tokens :func:`top_p_filter` keeps: the length of the shortest prefix of the
    descending order whose total probability is at least ``p``.

    >>> nucleus_size([0.5, 0.25, 0.125, 0.125], 0.75)
    2
    """
    probs = as_probs(probs)
    return _nucleus_size(probs, _check_p(p))


def _check_p(p) -> float:
    p = as_real(p, "p")
    if not 0.0 < p <= 1.0:
        raise ValueError(f"p must be in (0, 1], got {p!r}")
    return p


def _nucleus_size(probs: np.ndarray, p: float) -> int:
    n_nonzero = int(np.count_nonzero(probs))
    if p == 1.0:
        return n_nonzero
    cumulative = np.cumsum(probs[descending_order(probs)])
    # first position whose cumulative sum reaches p; the crossing token is kept
    size = int(np.searchsorted(cumulative, p, side="left")) + 1
    # rounding may leave the total below p: then every nonzero token is kept
    return min(size, n_nonzero)


def top_p_filter(probs, p: float) -> np.ndarray:
    """Nucleus filter: keep the shortest prefix of the descending order with total probability >= ``p``.

    The token whose probability crosses ``p`` is kept, at least one token is always kept, and
    ``p = 1`` keeps every token of nonzero probability. ``p`` outside (0, 1] raises ``ValueError``.
    With (0.5, 0.25, 0.125, 0.125) and ``p = 0.75`` exactly two tokens are kept.

    >>> top_p_filter([0.5, 0.25, 0.125, 0.125], 0.75).tolist()
    [0.6666666666666666, 0.3333333333333333, 0.0, 0.0]
    """
    probs = as_probs(probs)
    size = _nucleus_size(probs, _check_p(p))
    return _keep(probs, descending_order(probs)[:size])


def min_p_filter(probs, min_p: float) -> np.ndarray:
    """Keep the tokens with probability at least ``min_p * max(probs)``.

    ``min_p = 0`` keeps everything, ``min_p = 1`` keeps the tied maxima. ``min_p`` outside
    [0, 1] raises ``ValueError``.

    >>> min_p_filter([0.5, 0.25, 0.125, 0.125], 0.5).tolist()
    [0.6666666666666666, 0.3333333333333333, 0.0, 0.0]
    """
    probs = as_probs(probs)
    min_p = as_real(min_p, "min_p")
    if not 0.0 <= min_p <= 1.0:
        raise ValueError(f"min_p must be in [0, 1], got {min_p!r}")
    return _keep(probs, probs >= min_p * probs.max())


def sample_next(
    logits,
    rng: np.random.Generator,
    temperature: float = 1.0,
    top_k: Optional[int] = None,
    top_p: Optional[float] = None,
) -> int:
    """One sampling step: temperature, then top-k, then top-p, then one inverse-CDF draw.

    ``temperature = 0`` returns the first index of the maximum without using ``rng``.
    ``top_k=None`` and ``top_p=None`` skip those filters.

    >>> sample_next([0.0, 5.0, 5.0], np.random.default_rng(0), temperature=0)
    1
    """
    logits = as_logits(logits)
    rng = as_generator(rng)
    t = as_temperature(temperature, allow_zero=True)
    if top_k is not None:
        top_k = as_int(top_k, "top_k", minimum=1)
    if top_p is not None:
        top_p = _check_p(top_p)
    if t == 0.0:
        return int(np.argmax(logits))
    probs = softmax(logits, t)
    if top_k is not None:
        probs = top_k_filter(probs, top_k)
    if top_p is not None:
        probs = top_p_filter(probs, top_p)
    return int(_inverse_cdf(probs, np.array([rng.random()]))[0])
