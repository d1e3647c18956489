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
    choice; tied tokens share the better rank.

    >>> golden_rank([[1.0, 3.0, 2.0], [0.0, 0.0, 1.0]], [2, 0]).tolist()
    [2, 2]
    """
    logits, targets = _logits_and_targets(logits, targets)
    own = logits[np.arange(logits.shape[0]), targets][:, None]
    return 1 + (logits > own).sum(axis=1).astype(np.int64)


def golden_cdf(logits, targets) -> np.ndarray:
    """For each row, the softmax mass of the tokens strictly more probable than the target, plus the target's own.

    This is the smallest ``p`` for which top-p keeps the target (ignoring ties).

    >>> golden_cdf([[0.0, np.log(3.0)]], [0]).round(6).tolist()
    [1.0]
    """
    logits, targets = _logits_and_targets(logits, targets)
    probs = _stable_softmax(logits, 1.0)
    own = probs[np.arange(probs.shape[0]), targets][:, None]
    return np.where(probs > own, probs, 0.0).sum(axis=1) + own[:, 0]


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
