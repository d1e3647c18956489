"""The checks that the lessons' test cells are written with.

Each check raises an ``AssertionError`` that says what was called, what was expected and what came
back. In your notebook they check your own functions; when an instructor grades, the grader runs
the same test cells in its own process, where your functions are called in your notebook's kernel
and only what they return comes back (see autograder/README.md).

>>> expect(1 + 1, 2, "1 + 1")
>>> expect(0.1 + 0.2, 0.3, "0.1 + 0.2", tol=1e-12)
>>> expect([0.5, 0.25], [0.5, 0.26], "f()")
Traceback (most recent call last):
AssertionError: f(): expected [0.5, 0.26], got [0.5, 0.25]
"""
from __future__ import annotations

import math

__all__ = ["expect", "expect_returns", "expect_raises", "expect_unchanged", "expect_frequencies",
           "hoeffding_tolerance", "frequency_tolerance", "call_repeatedly"]


def _same(got, expected, tol: float, rel: float, exact_zeros: bool = False) -> bool:
    import numpy as np

    if isinstance(expected, np.ndarray) or (isinstance(got, np.ndarray) and isinstance(expected, list)):
        if type(got) is not np.ndarray or got.dtype.kind not in "biuf":
            return False
        want = np.asarray(expected, dtype=float)
        if got.shape != want.shape:
            return False
        return all(_same(float(g), float(w), tol, rel, exact_zeros) for g, w in zip(got.ravel().tolist(), want.ravel().tolist()))
    if type(expected) in (tuple, list):
        return type(got) is type(expected) and len(got) == len(expected) and all(
            _same(g, w, tol, rel, exact_zeros) for g, w in zip(got, expected))
    if type(expected) is dict:
        return type(got) is dict and set(got) == set(expected) and all(
            _same(got[k], w, tol, rel, exact_zeros) for k, w in expected.items())
    if type(expected) is str or expected is None:
        return type(got) is type(expected) and got == expected
    if isinstance(expected, (bool, int, float, np.number)):
        if isinstance(got, (bool, np.bool_)) != isinstance(expected, (bool, np.bool_)):
            return False
        if not isinstance(got, (int, float, np.number)) or isinstance(got, complex):
            return False
        g, w = float(got), float(expected)
        if math.isnan(w):
            return math.isnan(g)
        if math.isinf(w) or math.isinf(g) or (exact_zeros and w == 0):
            return g == w
        return abs(g - w) <= tol + rel * abs(w)
    return False


def _show(value) -> str:
    import numpy as np

    if isinstance(value, np.random.Generator):
        return "rng"
    if isinstance(value, np.ndarray):  # small arrays as their values, empty ones with their shape
        if value.size == 0:
            return f"array([], shape={value.shape})"
        if value.size <= 40:
            return f"array({value.tolist()!r})"
        return f"array({np.array2string(value, precision=17, separator=', ', threshold=40)}, shape={value.shape})"
    return repr(value)


def expect(got, expected, call: str, *, tol: float = 0.0, rel: float = 0.0, exact_zeros: bool = False) -> None:
    """``got`` must equal ``expected``: the same type of container and, for numbers, within
    ``tol + rel * |expected|`` (exactly, by default). ``call`` says what produced ``got``.
    With ``exact_zeros``, a number expected to be 0 must be exactly 0, whatever ``tol``: a filter
    removes a token, it does not merely shrink it.

    >>> expect([0.5, 0.5 + 1e-15, 0.0], [0.5, 0.5, 0.0], "top_k_filter(P, 2)", tol=1e-12, exact_zeros=True)
    >>> expect([0.5, 0.5, 1e-15], [0.5, 0.5, 0.0], "top_k_filter(P, 2)", tol=1e-12, exact_zeros=True)
    Traceback (most recent call last):
    AssertionError: top_k_filter(P, 2): expected [0.5, 0.5, 0.0] (within 1e-12 + 0·|expected|, zeros exactly), got [0.5, 0.5, 1e-15]
    """
    if not _same(got, expected, tol, rel, exact_zeros):
        within = f" (within {tol:g} + {rel:g}·|expected|{', zeros exactly' if exact_zeros else ''})" if tol or rel else ""
        raise AssertionError(f"{call}: expected {_show(expected)}{within}, got {_show(got)}")


def expect_returns(expected, f, *args, call: str | None = None, tol: float = 0.0, rel: float = 0.0,
                   exact_zeros: bool = False, **kwargs) -> None:
    """``f(*args, **kwargs)`` must return ``expected`` (as :func:`expect`); an exception it raises instead
    fails the check too, with a message that names the call (``call``, by default made of the arguments).

    >>> expect_returns(0.0, {}.get, "c", 0.0, call="probability of 'c'")
    >>> expect_returns(0.0, {}.__getitem__, "c", call="probability of 'c'")
    Traceback (most recent call last):
    AssertionError: probability of 'c': expected 0.0, got KeyError: 'c'
    """
    if call is None:
        call = f"{getattr(f, '__name__', 'f')}({', '.join([*map(_show, args), *(f'{k}={_show(v)}' for k, v in kwargs.items())])})"
    try:
        got = f(*args, **kwargs)
    except Exception as e:  # noqa: BLE001 - any exception is a wrong answer
        raise AssertionError(f"{call}: expected {_show(expected)}, got {type(e).__name__}: {e}") from None
    expect(got, expected, call, tol=tol, rel=rel, exact_zeros=exact_zeros)


def expect_raises(error: type, f, *args, **kwargs) -> None:
    """``f(*args, **kwargs)`` must raise ``error`` (e.g. ``ValueError``)."""
    shown = ", ".join([*map(_show, args), *(f"{k}={_show(v)}" for k, v in kwargs.items())])
    call = f"{getattr(f, '__name__', 'f')}({shown})"
    try:
        got = f(*args, **kwargs)
    except error:
        return
    except Exception as e:  # noqa: BLE001 - any other exception is the wrong one
        raise AssertionError(f"{call}: expected {error.__name__}, got {type(e).__name__}: {e}") from None
    raise AssertionError(f"{call}: expected {error.__name__}, got {_show(got)} and no error")


def expect_unchanged(f, array, *args, **kwargs):
    """``f(array, *args, **kwargs)`` must leave ``array`` (a numpy array) as it was: a function returns a new
    array and never modifies its input. Returns what ``f`` returned. Run it before the checks of values:
    a function that changes its input in place makes them misleading.

    >>> import numpy as np
    >>> expect_unchanged(np.sort, np.array([2.0, 1.0]))
    array([1., 2.])
    >>> expect(np.zeros((0,)), np.zeros((0, 3)), "temperature_table(P, [])")
    Traceback (most recent call last):
    AssertionError: temperature_table(P, []): expected array([], shape=(0, 3)), got array([], shape=(0,))
    >>> expect_unchanged(np.ndarray.sort, np.array([2.0, 1.0]))
    Traceback (most recent call last):
    AssertionError: sort([2.0, 1.0]): expected its argument to stay [2.0, 1.0], got [1.0, 2.0] (a function must not modify its input)
    """
    before = array.tolist()
    shown = ", ".join([repr(before), *map(_show, args), *(f"{k}={_show(v)}" for k, v in kwargs.items())])
    call = f"{getattr(f, '__name__', 'f')}({shown})"
    try:
        got = f(array, *args, **kwargs)
    except Exception as e:  # noqa: BLE001 - any exception is a wrong answer
        raise AssertionError(f"{call}: expected an answer, got {type(e).__name__}: {e}") from None
    if array.tolist() != before:
        raise AssertionError(f"{call}: expected its argument to stay {before}, got {array.tolist()} "
                             "(a function must not modify its input)")
    return got


def hoeffding_tolerance(n: int, k: int, false_failure: float) -> float:
    """The t with 2 k exp(-2 n t²) = false_failure: by Hoeffding's inequality and a union bound over
    k tokens, n draws from a correct sampler put some frequency t or more from its probability with
    probability at most ``false_failure``."""
    return math.sqrt(math.log(2 * k / false_failure) / (2 * n))


def frequency_tolerance(n: int, k: int, p: float, false_failure: float) -> float:
    """The tolerance of a token of probability ``p`` among ``k``: the smaller of Hoeffding's (above)
    and Bernstein's, sqrt(2 p (1 - p) L / n) + 2 L / (3 n) with L = log(2 k / false_failure). Either
    bound puts each token outside its tolerance with probability at most false_failure / k, so some
    token of a correct sampler is outside with probability at most ``false_failure``. Bernstein's is
    much narrower for rare tokens:

    >>> round(hoeffding_tolerance(100_000, 4, 2e-7), 5), round(frequency_tolerance(100_000, 4, 0.05, 2e-7), 5)
    (0.00936, 0.00419)
    >>> frequency_tolerance(100_000, 4, 0.5, 2e-7) == hoeffding_tolerance(100_000, 4, 2e-7)
    True
    """
    big_l = math.log(2 * k / false_failure)
    bernstein = math.sqrt(2 * p * (1 - p) * big_l / n) + 2 * big_l / (3 * n)
    return min(hoeffding_tolerance(n, k, false_failure), bernstein)


def expect_frequencies(samples, probs, call: str, *, false_failure: float = 1e-7) -> None:
    """``samples`` (a 1-D array of token indices) must look drawn from ``probs``: every token of
    probability 0 absent, and every frequency within :func:`frequency_tolerance` of its probability,
    so that a correct sampler fails with probability below ``false_failure``.

    >>> import numpy as np
    >>> expect_frequencies(np.array([0, 1, 1, 0]), [0.5, 0.5, 0.0], "f()")
    >>> expect_frequencies(np.array([0] * 900 + [1] * 100), [0.8, 0.2], "f()")
    Traceback (most recent call last):
    AssertionError: f(): token 0: expected frequency 0.8 ± 0.0865, got 0.9 (900 of 1000 draws; a correct sampler fails this check with probability below 1e-07)
    """
    import numpy as np

    if type(samples) is not np.ndarray or samples.ndim != 1 or samples.dtype.kind not in "iu":
        raise AssertionError(f"{call}: expected a 1-D numpy array of token indices, got {_show(samples)}")
    probs = [float(p) for p in probs]
    values = samples.tolist()
    n = len(values)
    if n == 0:
        raise AssertionError(f"{call}: expected draws, got an empty array")
    bad = [v for v in values if not 0 <= v < len(probs)]
    if bad:
        raise AssertionError(f"{call}: {bad[0]!r} is not a token index of a vocabulary of {len(probs)}")
    counts = [0] * len(probs)
    for v in values:
        counts[v] += 1
    for i, (c, p) in enumerate(zip(counts, probs)):
        if p == 0 and c:
            raise AssertionError(f"{call}: token {i} has probability 0 but was drawn {c} times")
    for i, (c, p) in enumerate(zip(counts, probs)):
        t = frequency_tolerance(n, len(probs), p, false_failure)
        if abs(c / n - p) >= t:
            raise AssertionError(f"{call}: token {i}: expected frequency {p:.6g} ± {t:.3g}, got {c / n:.6g} ({c} of "
                                 f"{n} draws; a correct sampler fails this check with probability below {false_failure:g})")


def call_repeatedly(f, n: int, *args, **kwargs) -> list:
    """``[f(*args, **kwargs) for _ in range(n)]``: ``n`` calls with the very same arguments (a
    ``numpy.random.Generator`` among them advances from call to call).

    When your work is graded, the grader asks your notebook for the ``n`` answers in one go instead
    of one call at a time; the answers are the same.

    >>> rng = __import__("numpy").random.default_rng(0)
    >>> len(call_repeatedly(lambda g: int(g.integers(10)), 5, rng))
    5
    """
    repeated = getattr(f, "lmgrade_repeated", None)
    if callable(repeated) and type(f).__name__ == "StudentFunction":
        return repeated(n, *args, **kwargs)
    return [f(*args, **kwargs) for _ in range(n)]
