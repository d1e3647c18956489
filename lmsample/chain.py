"""The sampler chain: newer truncation samplers, the repetition penalty, and chains of steps in any order.

- Locally typical sampling (Meister et al. 2022) keeps the tokens whose information content
  ``-log p_i`` is closest to the entropy ``H(p)``, until their mass reaches ``mass``.
- Epsilon sampling (Hewitt et al. 2022) keeps the tokens of probability at least ``epsilon``;
  eta sampling lowers that floor when the distribution is broad: ``eta = min(eps, sqrt(eps) exp(-H))``.
- Top-n-sigma (Tang et al. 2024) keeps the tokens whose logit is at least ``max - n * sigma``; the
  kept set does not depend on the temperature (dividing every logit by ``T`` divides the max, the
  standard deviation and so the threshold by ``T`` too).
- The repetition penalty (Keskar et al. 2019, as transformers applies it) divides the positive
  logits of tokens seen before by ``penalty`` and multiplies the negative ones by it.

A chain is data: a sequence of ``(name, value)`` steps applied in order to logits (:func:`apply_chain`).
Every filter returns a full-length array with exact zeros and renormalised kept tokens; ties go to
the lower index.
"""
from __future__ import annotations

import math

import numpy as np

from ._checks import as_generator, as_int, as_probs, as_real, as_temperature, _as_float_array
from .sampling import descending_order, inverse_cdf_sample
from .temperature import _stable_softmax, entropy
from .truncation import _check_p, _keep, min_p_filter, top_k_filter, top_p_filter

#: the step names :func:`apply_chain` understands, in Hugging Face's customary order where it has one
STEP_NAMES = ("temperature", "top_k", "top_p", "min_p", "typical", "epsilon", "eta", "top_n_sigma")


# ------------------------------------------------------------------------------------ argument checks
def _check_mass(mass) -> float:
    mass = as_real(mass, "mass")
    if not 0.0 < mass <= 1.0:
        raise ValueError(f"mass must be in (0, 1], got {mass!r}")
    return mass


def _check_epsilon(epsilon, low_open: bool) -> float:
    epsilon = as_real(epsilon, "epsilon")
    ok = (0.0 < epsilon < 1.0) if low_open else (0.0 <= epsilon < 1.0)
    if not ok:
        raise ValueError(f"epsilon must be in {'(0, 1)' if low_open else '[0, 1)'}, got {epsilon!r}")
    return epsilon


def _check_n(n) -> float:
    n = as_real(n, "n")
    if n < 0.0:
        raise ValueError(f"n must be >= 0, got {n!r}")
    return n


def _check_penalty(penalty) -> float:
    penalty = as_real(penalty, "penalty")
    if penalty <= 0.0:
        raise ValueError(f"penalty must be > 0, got {penalty!r}")
    return penalty


def _check_min_p(min_p) -> float:
    min_p = as_real(min_p, "min_p")
    if not 0.0 <= min_p <= 1.0:
        raise ValueError(f"min_p must be in [0, 1], got {min_p!r}")
    return min_p


def _as_masked_logits(logits, name: str = "logits") -> np.ndarray:
    """1-D float logits that may hold -inf (a removed token), but no nan or +inf, and one finite value at least."""
    arr = _as_float_array(logits, name, ndim=1)
    if arr.size == 0:
        raise ValueError(f"{name} must not be empty")
    if np.isnan(arr).any() or (arr == np.inf).any():
        raise ValueError(f"{name} must hold finite values or -inf (no nan, no +inf)")
    if not np.isfinite(arr).any():
        raise ValueError(f"{name} must hold at least one finite value")
    return arr


# ------------------------------------------------------------------------------------ the filters
def _keep_floor(probs: np.ndarray, floor: float) -> np.ndarray:
    """Keep the tokens of probability >= floor; if none, the single most probable one (ties: lower index)."""
    keep = probs >= floor
    if not keep.any():
        keep = descending_order(probs)[:1]
    return _keep(probs, keep)


def typical_order(probs) -> np.ndarray:
    """The nonzero tokens ordered by ``|-log p_i - H(p)|`` ascending, ties to the lower index.

    >>> typical_order([0.5, 0.25, 0.125, 0.125]).tolist()
    [1, 0, 2, 3]
    """
    probs = as_probs(probs)
    return _typical_order(probs)


def _typical_order(probs: np.ndarray) -> np.ndarray:
    nonzero = np.flatnonzero(probs)
    surprise = -np.log(probs[nonzero])
    distance = np.abs(surprise - entropy(probs))
    return nonzero[np.argsort(distance, kind="stable")]


def typical_filter(probs, mass: float) -> np.ndarray:
    """Locally typical sampling: keep the shortest prefix of :func:`typical_order` with mass >= ``mass``.

    The token whose probability crosses ``mass`` is kept; ``mass = 1`` keeps every nonzero token.
    ``mass`` outside (0, 1] raises ``ValueError``. The most probable token can be dropped: with
    (0.5, 0.25, 0.125, 0.125) the entropy is 1.75 bits and the 2-bit token is the most typical.

    >>> typical_filter([0.5, 0.25, 0.125, 0.125], 0.25).tolist()
    [0.0, 1.0, 0.0, 0.0]
    """
    probs = as_probs(probs)
    mass = _check_mass(mass)
    order = _typical_order(probs)
    if mass == 1.0:
        size = order.size
    else:
        cumulative = np.cumsum(probs[order])
        size = min(int(np.searchsorted(cumulative, mass, side="left")) + 1, order.size)
    return _keep(probs, order[:size])


def epsilon_filter(probs, epsilon: float) -> np.ndarray:
    """Epsilon sampling: keep the tokens of probability at least ``epsilon`` (if none, the most probable one).

    ``epsilon`` outside [0, 1) raises ``ValueError``.

    >>> epsilon_filter([0.5, 0.25, 0.125, 0.125], 0.2).tolist()
    [0.6666666666666666, 0.3333333333333333, 0.0, 0.0]
    """
    probs = as_probs(probs)
    return _keep_floor(probs, _check_epsilon(epsilon, low_open=False))


def eta_threshold(probs, epsilon: float) -> float:
    """η = min(ε, √ε · exp(−H(p))), the floor of :func:`eta_filter`.

    >>> round(eta_threshold([0.25] * 4, 0.04), 12)
    0.04
    """
    probs = as_probs(probs)
    epsilon = _check_epsilon(epsilon, low_open=True)
    return _eta(probs, epsilon)


def _eta(probs: np.ndarray, epsilon: float) -> float:
    return min(epsilon, math.sqrt(epsilon) * math.exp(-entropy(probs)))


def eta_filter(probs, epsilon: float) -> np.ndarray:
    """Eta sampling: keep the tokens of probability at least η = min(ε, √ε exp(−H)); if none, the most probable.

    ``epsilon`` outside (0, 1) raises ``ValueError``.

    >>> eta_filter([0.5, 0.25, 0.125, 0.125], 0.25).tolist()
    [0.6666666666666666, 0.3333333333333333, 0.0, 0.0]
    """
    probs = as_probs(probs)
    epsilon = _check_epsilon(epsilon, low_open=True)
    return _keep_floor(probs, _eta(probs, epsilon))


def _sigma_keep(logits: np.ndarray, n: float) -> np.ndarray:
    """The mask of top-n-sigma: finite logits >= max - n * std (ddof 0) of the finite logits."""
    finite = np.isfinite(logits)
    if n == math.inf:  # every finite logit (inf * 0 would be nan when all are equal)
        return finite
    values = logits[finite]
    threshold = values.max() - n * float(values.std())
    return finite & (logits >= threshold)


def top_n_sigma_filter(logits, n: float) -> np.ndarray:
    """Top-n-sigma: the softmax over the tokens whose logit is at least ``max - n * sigma``.

    ``sigma`` is the population standard deviation of the finite logits; logits of -inf are never
    kept. Returns probabilities. ``n < 0`` raises ``ValueError``.

    >>> top_n_sigma_filter([3.0, 2.0, 1.0, 0.0, -1.0], 1.0).round(4).tolist()
    [0.7311, 0.2689, 0.0, 0.0, 0.0]
    """
    logits = _as_masked_logits(logits)
    keep = _sigma_keep(logits, _check_n(n))
    return _stable_softmax(np.where(keep, logits, -np.inf), 1.0)


def repetition_penalty(logits, previous, penalty: float) -> np.ndarray:
    """The repetition penalty of Keskar et al. (2019), as transformers applies it; returns logits.

    For each distinct token index in ``previous``, a positive logit is divided by ``penalty`` and a
    negative one multiplied by it (zero stays zero); other logits are unchanged. ``penalty <= 0``
    and an index outside ``range(len(logits))`` raise ``ValueError``.

    >>> repetition_penalty([2.0, -1.0, 0.5], [0, 1, 1], 2.0).tolist()
    [1.0, -2.0, 0.5]
    """
    logits = _as_masked_logits(logits)
    penalty = _check_penalty(penalty)
    try:
        seen = np.asarray(previous)
    except (TypeError, ValueError) as exc:  # pragma: no cover - ragged input
        raise ValueError(f"previous must be a sequence of token indices: {exc}") from None
    if seen.ndim != 1 or (seen.size and (seen.dtype == bool or not np.issubdtype(seen.dtype, np.integer))):
        raise ValueError(f"previous must be a 1-D sequence of integer token indices, got {previous!r}")
    if seen.size and (seen.min() < 0 or seen.max() >= logits.size):
        raise ValueError(f"previous holds an index outside range({logits.size}): {previous!r}")
    out = logits.copy()
    idx = np.unique(seen).astype(np.int64)
    z = out[idx]
    with np.errstate(invalid="ignore"):  # 0 * inf: that branch is not taken for a zero logit
        out[idx] = np.where(z > 0, z / penalty, np.where(z < 0, z * penalty, z))
    return out


# ------------------------------------------------------------------------------------ chains
def _check_steps(steps) -> list:
    """Validate every step before anything runs; returns ``[(name, value), ...]`` with clean values."""
    if isinstance(steps, (str, bytes)) or not hasattr(steps, "__iter__"):
        raise ValueError(f"steps must be a sequence of (name, value) pairs, got {steps!r}")
    clean = []
    for i, step in enumerate(steps):
        try:
            name, value = step
        except (TypeError, ValueError):
            raise ValueError(f"steps[{i}] must be a (name, value) pair, got {step!r}") from None
        if name not in STEP_NAMES:
            raise ValueError(f"steps[{i}]: unknown step name {name!r}; expected one of {', '.join(STEP_NAMES)}")
        try:
            if name == "temperature":
                value = as_temperature(value, allow_zero=True)
            elif name == "top_k":
                value = as_int(value, "top_k", minimum=1)
            elif name == "top_p":
                value = _check_p(value)
            elif name == "min_p":
                value = _check_min_p(value)
            elif name == "typical":
                value = _check_mass(value)
            elif name == "epsilon":
                value = _check_epsilon(value, low_open=False)
            elif name == "eta":
                value = _check_epsilon(value, low_open=True)
            else:
                value = _check_n(value)
        except ValueError as exc:
            raise ValueError(f"steps[{i}] ({name!r}): {exc}") from None
        clean.append((name, value))
    return clean


def _probs_of(logits: np.ndarray) -> np.ndarray:
    """Softmax of logits that may hold -inf (probability exactly 0)."""
    return _stable_softmax(logits, 1.0)


def _step(logits: np.ndarray, name: str, value) -> np.ndarray:
    """One step of a chain on logits (-inf marks a removed token); returns new logits."""
    finite = np.isfinite(logits)
    if name == "temperature":
        out = np.full_like(logits, -np.inf)
        if value == 0.0:
            out[logits == logits[finite].max()] = 0.0
        elif value == math.inf:
            out[finite] = 0.0
        else:
            out[finite] = logits[finite] / value
        return out
    if name == "top_n_sigma":
        return np.where(_sigma_keep(logits, value), logits, -np.inf)
    probs = _probs_of(logits)
    kept = {
        "top_k": top_k_filter,
        "top_p": top_p_filter,
        "min_p": min_p_filter,
        "typical": typical_filter,
        "epsilon": epsilon_filter,
        "eta": eta_filter,
    }[name](probs, value) > 0
    return np.where(kept, logits, -np.inf)


def chain_trace(logits, steps) -> list:
    """The distribution before the chain and after each step: ``len(steps) + 1`` probability arrays.

    The last one is :func:`apply_chain`'s answer. The explorers draw one panel per entry.
    """
    logits = _as_masked_logits(logits)
    steps = _check_steps(steps)
    trace = [_probs_of(logits)]
    for name, value in steps:
        logits = _step(logits, name, value)
        trace.append(_probs_of(logits))
    return trace


def apply_chain(logits, steps) -> np.ndarray:
    """Apply ``steps``, a sequence of ``(name, value)`` pairs, in order to ``logits``; return the final softmax.

    Names: "temperature" (divides the finite logits; 0 keeps the tied maxima, as ``softmax_t``),
    "top_k", "top_p", "min_p", "typical", "epsilon", "eta" (each looks at the softmax of the current
    logits and sets the logits of the tokens it removes to -inf) and "top_n_sigma" (on the finite
    logits). An unknown name or a bad value raises ``ValueError``.

    >>> P = np.array([0.4, 0.3, 0.2, 0.1])
    >>> apply_chain(np.log(P), [("min_p", 0.45), ("top_p", 0.75)]).round(3).tolist()
    [0.571, 0.429, 0.0, 0.0]
    >>> apply_chain(np.log(P), [("top_p", 0.75), ("min_p", 0.45)]).round(3).tolist()
    [0.444, 0.333, 0.222, 0.0]
    """
    return chain_trace(logits, steps)[-1]


def sample_chain(logits, steps, rng: np.random.Generator) -> int:
    """:func:`apply_chain`, then one draw with ``inverse_cdf_sample(probs, rng.random())``.

    >>> sample_chain([0.0, 2.0, 1.0], [("temperature", 0)], np.random.default_rng(0))
    1
    """
    rng = as_generator(rng)
    probs = apply_chain(logits, steps)
    return inverse_cdf_sample(probs, rng.random())


__all__ = [
    "STEP_NAMES", "typical_order", "typical_filter", "epsilon_filter", "eta_threshold", "eta_filter",
    "top_n_sigma_filter", "repetition_penalty", "chain_trace", "apply_chain", "sample_chain",
]
