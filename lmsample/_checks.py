"""Argument checks shared by every function of the package.

Each check returns a clean value (a float64 array, a Python int or float) or raises
``ValueError`` with a message that names the argument and says what is allowed.
"""
from __future__ import annotations

import math
import numbers

import numpy as np

#: How far from 1 a probability vector may sum (the course's contract).
SUM_TOLERANCE = 1e-9


def as_probs(probs, name: str = "probs") -> np.ndarray:
    """Return ``probs`` as a 1-D float64 array, checking it is a distribution."""
    arr = _as_float_array(probs, name, ndim=1)
    if arr.size == 0:
        raise ValueError(f"{name} must not be empty")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must hold finite values, got {arr!r}")
    if np.any(arr < 0):
        raise ValueError(f"{name} must be non-negative, got minimum {arr.min()!r}")
    total = float(arr.sum())
    if abs(total - 1.0) > SUM_TOLERANCE:
        raise ValueError(f"{name} must sum to 1 (within {SUM_TOLERANCE}), got sum {total!r}")
    return arr


def as_logits(logits, name: str = "logits", ndim: int = 1) -> np.ndarray:
    """Return ``logits`` as a float64 array of ``ndim`` dimensions with finite values."""
    arr = _as_float_array(logits, name, ndim=ndim)
    if arr.shape[-1] == 0:
        raise ValueError(f"{name} must not be empty")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must hold finite values (no nan or inf)")
    return arr


def _as_float_array(values, name: str, ndim: int) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be an array of numbers: {exc}") from None
    if arr.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {arr.shape}")
    return arr


def as_int(value, name: str, minimum: int | None = None) -> int:
    """Return ``value`` as an ``int`` (bools and floats are refused), at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def as_real(value, name: str) -> float:
    """Return ``value`` as a float that is not nan (infinities are allowed)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a real number, got {value!r}")
    value = float(value)
    if math.isnan(value):
        raise ValueError(f"{name} must not be nan")
    return value


def as_temperature(temperature, allow_zero: bool = False) -> float:
    """Return a temperature: positive (or zero when allowed), possibly ``inf``."""
    t = as_real(temperature, "temperature")
    if t < 0 or (t == 0 and not allow_zero):
        allowed = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"temperature must be {allowed}, got {t!r}")
    return t


def as_generator(rng) -> np.random.Generator:
    """Check that ``rng`` is a ``numpy.random.Generator`` (e.g. ``np.random.default_rng(0)``)."""
    if not isinstance(rng, np.random.Generator):
        raise ValueError(
            f"rng must be a numpy.random.Generator such as numpy.random.default_rng(0), got {type(rng).__name__}"
        )
    return rng
