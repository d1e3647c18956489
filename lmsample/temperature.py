"""Softmax and temperature, including the limits T -> 0 and T -> infinity.

Dividing logits by a temperature ``T`` and taking the softmax is the same as raising the
probabilities to the power ``1/T`` and renormalising:
``softmax(z / T)_i = exp(z_i / T) / sum_j exp(z_j / T) = p_i**(1/T) / sum_j p_j**(1/T)``
where ``p = softmax(z)``. Everything is computed after subtracting the maximum logit
(the log-sum-exp trick), so no ``exp`` overflows.
"""
from __future__ import annotations

import numpy as np

from ._checks import as_logits, as_probs, as_real, as_temperature


def _stable_softmax(logits: np.ndarray, temperature: float) -> np.ndarray:
    """Softmax along the last axis of ``(logits - max) / temperature``; ``temperature`` may be inf.

    Subtracting the maximum before dividing keeps every exponent <= 0; a tiny temperature sends
    the non-maximal exponents to -inf (exp -> 0) and leaves the maxima at 0 (exp -> 1).
    """
    if temperature == np.inf:
        return np.full_like(logits, 1.0 / logits.shape[-1])
    shifted = logits - logits.max(axis=-1, keepdims=True)
    with np.errstate(over="ignore"):
        scaled = shifted / temperature
    weights = np.exp(scaled)
    return weights / weights.sum(axis=-1, keepdims=True)


def softmax(logits, temperature: float = 1.0) -> np.ndarray:
    """``exp(logits / T) / sum(exp(logits / T))``, numerically stable.

    Logits of +-1e4 give no nan or inf. ``temperature <= 0`` raises ``ValueError``.

    >>> softmax([0.0, np.log(3.0)]).round(6).tolist()
    [0.25, 0.75]
    """
    logits = as_logits(logits)
    t = as_temperature(temperature)
    return _stable_softmax(logits, t)


def softmax_t(logits, temperature: float) -> np.ndarray:
    """:func:`softmax` extended to the limits ``temperature = 0`` and ``temperature = inf``.

    At ``T = 0`` the result is uniform over the tied maximal logits and zero elsewhere (one-hot
    when the maximum is unique); at ``T = inf`` it is uniform. Tiny positive temperatures (down to
    1e-300) give finite values approaching the ``T = 0`` result. Negative ``T`` raises ``ValueError``.

    >>> softmax_t([1.0, 3.0, 3.0], 0).tolist()
    [0.0, 0.5, 0.5]
    """
    logits = as_logits(logits)
    t = as_temperature(temperature, allow_zero=True)
    if t == 0.0:
        is_max = logits == logits.max()
        return is_max / is_max.sum()
    return _stable_softmax(logits, t)


def apply_temperature(probs, temperature: float) -> np.ndarray:
    """The distribution proportional to ``probs ** (1 / temperature)``.

    Computed in log space as the softmax of ``log(probs) / T`` over the nonzero tokens, so it is
    stable for any ``T``. Zero stays zero; ``T = inf`` gives the uniform distribution over the
    nonzero tokens; ``temperature <= 0`` raises ``ValueError``.

    >>> apply_temperature([0.5, 0.3, 0.15, 0.05], 2.0).round(3).tolist()
    [0.379, 0.294, 0.208, 0.12]
    """
    probs = as_probs(probs)
    t = as_temperature(temperature)
    nonzero = probs > 0
    out = np.zeros_like(probs)
    out[nonzero] = _stable_softmax(np.log(probs[nonzero]), t)
    return out


def temperature_table(probs, temperatures) -> np.ndarray:
    """Row ``j`` is ``apply_temperature(probs, temperatures[j])``; shape ``(len(temperatures), len(probs))``.

    >>> temperature_table([0.5, 0.5], [0.5, 2.0]).tolist()
    [[0.5, 0.5], [0.5, 0.5]]
    """
    probs = as_probs(probs)
    temps = np.asarray(temperatures, dtype=np.float64)
    if temps.ndim != 1:
        raise ValueError(f"temperatures must be a 1-D sequence, got shape {temps.shape}")
    table = np.empty((temps.size, probs.size))
    for j, t in enumerate(temps.tolist()):
        table[j] = apply_temperature(probs, t)
    return table


def entropy(probs) -> float:
    """Shannon entropy in nats, ``-sum p log p``, with ``0 log 0 = 0``.

    >>> round(entropy([0.25] * 4), 12) == round(float(np.log(4)), 12)
    True
    """
    probs = as_probs(probs)
    p = probs[probs > 0]
    return float(-(p * np.log(p)).sum())


def temperature_for_max_prob(logits, target: float) -> float:
    """The temperature ``T > 0`` at which the largest probability of ``softmax_t(logits, T)`` is ``target``.

    The largest probability falls steadily from ``1/m`` (``T -> 0``, with ``m`` tied maxima) to
    ``1/n`` (``T -> inf``, with ``n`` logits), so a solution exists exactly when ``target`` lies
    strictly between those two; otherwise ``ValueError`` (this covers all logits equal). The
    answer is found by bisection on ``log T`` and is accurate to well within 1e-6 in probability.

    >>> T = temperature_for_max_prob([2.0, 1.0, 0.0], 0.5)
    >>> round(float(softmax(np.array([2.0, 1.0, 0.0]), T).max()), 9)
    0.5
    """
    logits = as_logits(logits)
    target = as_real(target, "target")
    n = logits.size
    m = int((logits == logits.max()).sum())
    if not 1.0 / n < target < 1.0 / m:
        raise ValueError(
            f"target must lie strictly between 1/{n} (T -> inf) and 1/{m} (T -> 0) for these logits, got {target!r}"
        )

    def max_prob(t: float) -> float:
        return float(_stable_softmax(logits, t).max())

    lo = hi = 1.0
    while max_prob(lo) <= target:  # too hot: cool down until the maximum is above target
        lo /= 2.0
    while max_prob(hi) >= target:  # too cold: heat up until the maximum is below target
        hi *= 2.0
    for _ in range(200):
        mid = float(np.sqrt(lo * hi))
        if mid <= lo or mid >= hi:
            break
        p = max_prob(mid)
        if p == target:
            return mid
        if p > target:
            lo = mid
        else:
            hi = mid
    return float(np.sqrt(lo * hi))
