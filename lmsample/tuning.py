"""Choosing k and p from held-out text: where does the real next token (the "golden" token) fall?

For each position of a held-out text, the model gives logits over the vocabulary and the text
gives the token that really came next. Its *rank* says how large ``k`` must be for top-k to keep
it; its *CDF* (the mass of tokens at least as probable as it) says how large ``p`` must be for
top-p to keep it. Choosing ``k`` and ``p`` that keep the golden token at, say, 95% of positions
tunes truncation to real text instead of guessing.
"""
from __future__ import annotations

import numpy as np

from ._checks import as_logits, as_real
from .temperature import _stable_softmax


def _logits_and_targets(logits, targets):
    logits = as_logits(logits, ndim=2)
    try:
        targets_arr = np.asarray(targets)
    except Exception as exc:  # pragma: no cover - asarray almost never fails
        raise ValueError(f"targets must be an array of token indices: {exc}") from None
    if targets_arr.shape != (logits.shape[0],):
        raise ValueError(f"targets must have shape ({logits.shape[0]},) to match logits, got {targets_arr.shape}")
    if targets_arr.size and not np.issubdtype(targets_arr.dtype, np.integer):
        raise ValueError(f"targets must be integer token indices, got dtype {targets_arr.dtype}")
    targets_arr = targets_arr.astype(np.int64)
    if targets_arr.size and (targets_arr.min() < 0 or targets_arr.max() >= logits.shape[1]):
        raise ValueError(f"targets must be in [0, {logits.shape[1]}), got values from {targets_arr.min()} to {targets_arr.max()}")
    return logits, targets_arr


def golden_rank(logits, targets) -> np.ndarray:
    """For each row, ``1 +`` the number of tokens whose logit is strictly greater than the target's.

    ``logits`` has shape ``(N, V)`` and ``targets`` shape ``(N,)``. Rank 1 means the model's top
    choice; tied tokens share the better rank, so the rank is *optimistic*: top-k with ``k`` = the
    rank drops the target when a token tied with it has a lower index (:func:`strict_rank`).

    >>> golden_rank([[1.0, 3.0, 2.0], [0.0, 0.0, 1.0]], [2, 0]).tolist()
    [2, 2]
    """
    logits, targets = _logits_and_targets(logits, targets)
    own = logits[np.arange(logits.shape[0]), targets][:, None]
    return 1 + (logits > own).sum(axis=1).astype(np.int64)


def golden_cdf(logits, targets) -> np.ndarray:
    """For each row, the softmax mass of the tokens strictly more probable than the target, plus the target's own.

    It is *optimistic*: the smallest ``p`` for which top-p keeps the target when ties are broken in
    its favour. Under the course's lower-index rule a tied token at a lower index comes first, and
    top-p with this ``p`` can stop before the target (``log(0.5, 0.25, 0.125, 0.125)``, target 3:
    CDF 0.875, and top-p 0.875 keeps tokens 0-2 only).

    >>> golden_cdf([[0.0, np.log(3.0)]], [0]).round(6).tolist()
    [1.0]
    """
    logits, targets = _logits_and_targets(logits, targets)
    probs = _stable_softmax(logits, 1.0)
    own = probs[np.arange(probs.shape[0]), targets][:, None]
    return np.where(probs > own, probs, 0.0).sum(axis=1) + own[:, 0]


def strict_rank(logits, targets) -> np.ndarray:
    """For each row, the smallest ``k`` for which top-k *under the lower-index rule* keeps the target:
    ``1 +`` the number of tokens whose logit is strictly greater, ``+`` the number of tokens tied
    with it at a lower index. It is never below :func:`golden_rank`, which counts ties in the
    target's favour (optimistic); the two differ exactly when a tied token precedes the target.

    >>> strict_rank(np.log([[0.5, 0.25, 0.125, 0.125]]), [3]).tolist()
    [4]
    """
    logits, targets = _logits_and_targets(logits, targets)
    return 1 + _ahead(logits, targets).sum(axis=1).astype(np.int64)


def _ahead(logits: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Mask of the tokens before each row's target in the descending order (ties: lower index first)."""
    own = logits[np.arange(logits.shape[0]), targets][:, None]
    before = np.arange(logits.shape[1])[None, :] < targets[:, None]
    return (logits > own) | ((logits == own) & before)


def coverage_curve(values, thresholds) -> np.ndarray:
    """The fraction of ``values`` that are ``<= t``, for each ``t`` in ``thresholds``.

    With golden ranks and ``thresholds = k``'s it is the fraction of positions where top-k keeps
    the golden token (counting ties in its favour); with golden CDFs and ``p``'s, the same for
    top-p. :func:`choose_k` and :func:`choose_p` invert it: the smallest threshold among the
    values whose coverage reaches the target.

    >>> coverage_curve([1, 1, 2, 5], [1, 2, 4, 5]).tolist()
    [0.5, 0.75, 0.75, 1.0]
    """
    values = np.asarray(values, dtype=np.float64)
    thresholds = np.asarray(thresholds, dtype=np.float64)
    if values.ndim != 1 or values.size == 0:
        raise ValueError(f"values must be a non-empty 1-D array, got shape {values.shape}")
    if thresholds.ndim != 1:
        raise ValueError(f"thresholds must be 1-D, got shape {thresholds.shape}")
    if np.isnan(values).any() or np.isnan(thresholds).any():
        raise ValueError("values and thresholds must not contain nan")
    return np.searchsorted(np.sort(values), thresholds, side="right") / values.size


def golden_probability_under_top_k(ranks, golden_probs, head_masses) -> np.ndarray:
    """For ``k = 1 .. K``: the mean, over positions, of the probability that top-k *sampling* gives
    the golden token, ``[rank <= k] * p_golden / (mass of the k most probable tokens)``.

    ``ranks`` (the k top-k needs: :func:`strict_rank`), ``golden_probs`` (the golden token's
    probability) have shape ``(N,)``; ``head_masses[i, k - 1]`` is the total probability of the ``k``
    most probable tokens at position ``i``, shape ``(N, K)``. Maximising it over ``k`` is the
    tempting objective "make the real next token as likely as possible": top-1 gives each position
    where the golden token is the top choice probability 1, and every larger ``k`` dilutes them.

    >>> golden_probability_under_top_k([1, 2], [0.5, 0.25], [[0.5, 0.75], [0.5, 0.75]]).tolist()
    [0.5, 0.5]
    """
    ranks = np.asarray(ranks)
    golden_probs = np.asarray(golden_probs, dtype=np.float64)
    head_masses = np.asarray(head_masses, dtype=np.float64)
    if ranks.ndim != 1 or ranks.size == 0 or not np.issubdtype(ranks.dtype, np.integer) or ranks.min() < 1:
        raise ValueError("ranks must be a non-empty 1-D array of integers >= 1")
    if golden_probs.shape != ranks.shape:
        raise ValueError(f"golden_probs must have shape {ranks.shape}, got {golden_probs.shape}")
    if head_masses.ndim != 2 or head_masses.shape[0] != ranks.size:
        raise ValueError(f"head_masses must have shape ({ranks.size}, K), got {head_masses.shape}")
    k = np.arange(1, head_masses.shape[1] + 1)
    kept = ranks[:, None] <= k[None, :]
    return (np.where(kept, golden_probs[:, None], 0.0) / head_masses).mean(axis=0)


def _check_coverage(coverage) -> float:
    coverage = as_real(coverage, "coverage")
    if not 0.0 < coverage <= 1.0:
        raise ValueError(f"coverage must be in (0, 1], got {coverage!r}")
    return coverage


def _smallest_covering(values: np.ndarray, coverage: float):
    """Smallest ``v`` among ``values`` with ``mean(values <= v) >= coverage``."""
    ordered = np.sort(values)
    n = ordered.size
    # counts[i] = how many values are <= ordered[i] (ties all count)
    counts = np.searchsorted(ordered, ordered, side="right")
    first = int(np.flatnonzero(counts / n >= coverage)[0])
    return ordered[first]


def choose_k(ranks, coverage: float) -> int:
    """The smallest ``k`` such that at least a fraction ``coverage`` of ``ranks`` is ``<= k``.

    >>> choose_k([1, 1, 2, 5], 0.75)
    2
    """
    coverage = _check_coverage(coverage)
    ranks = np.asarray(ranks)
    if ranks.ndim != 1 or ranks.size == 0:
        raise ValueError(f"ranks must be a non-empty 1-D array, got shape {ranks.shape}")
    if not np.issubdtype(ranks.dtype, np.integer) or ranks.min() < 1:
        raise ValueError("ranks must be integers >= 1")
    return int(_smallest_covering(ranks, coverage))


def choose_p(cdfs, coverage: float) -> float:
    """The smallest value ``p`` among ``cdfs`` such that at least a fraction ``coverage`` of ``cdfs`` is ``<= p``.

    >>> choose_p([0.5, 0.9, 0.2, 0.99], 0.5)
    0.5
    """
    coverage = _check_coverage(coverage)
    cdfs = as_logits(cdfs, name="cdfs")
    if cdfs.min() < 0 or cdfs.max() > 1 + 1e-9:
        raise ValueError("cdfs must be probabilities in [0, 1]")
    return float(_smallest_covering(cdfs, coverage))
