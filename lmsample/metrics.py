"""Measures of generated text: diversity (distinct-n) and fit (perplexity)."""
from __future__ import annotations

import math

import numpy as np

from ._checks import as_int


def _as_token_list(tokens) -> list:
    if isinstance(tokens, np.ndarray):
        if tokens.ndim != 1:
            raise ValueError(f"tokens must be 1-D, got shape {tokens.shape}")
        return tokens.tolist()
    if isinstance(tokens, str):
        raise ValueError("tokens must be a sequence of tokens, not a string; split it first")
    return list(tokens)


def ngrams(tokens, n: int) -> list:
    """The ``n``-grams of a token sequence, as tuples, in order.

    >>> ngrams(["a", "b", "a"], 2)
    [('a', 'b'), ('b', 'a')]
    """
    tokens = _as_token_list(tokens)
    n = as_int(n, "n", minimum=1)
    return [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]


def distinct_n(tokens, n: int) -> float:
    """Distinct ``n``-grams divided by the total number of ``n``-grams; 0.0 when there is none.

    >>> distinct_n(["the", "cat", "the", "cat"], 2)
    0.6666666666666666
    """
    grams = ngrams(tokens, n)
    if not grams:
        return 0.0
    return len(set(grams)) / len(grams)


def perplexity(token_logprobs) -> float:
    """``exp(-mean(token_logprobs))`` of natural-log token probabilities.

    A token of probability 0 (log-probability ``-inf``) makes the perplexity ``inf``.

    >>> round(perplexity([np.log(0.5), np.log(0.125)]), 12)
    4.0
    """
    lp = np.asarray(token_logprobs, dtype=np.float64)
    if lp.ndim != 1 or lp.size == 0:
        raise ValueError(f"token_logprobs must be a non-empty 1-D array, got shape {lp.shape}")
    if np.isnan(lp).any() or (lp == np.inf).any():
        raise ValueError("token_logprobs must not contain nan or +inf")
    return float(math.exp(-lp.mean()))


def ends_in_repetition(tokens, min_repeats: int = 3, max_period: int = 50) -> bool:
    """Whether a token sequence ends in a loop: its last ``L * min_repeats`` tokens are one phrase
    of ``L`` tokens (``1 <= L <= max_period``) repeated ``min_repeats`` times in a row.

    >>> ends_in_repetition("I like it . I do not know . I do not know . I do not know .".split())
    True
    >>> ends_in_repetition("a b c d".split())
    False
    """
    tokens = _as_token_list(tokens)
    min_repeats = as_int(min_repeats, "min_repeats", minimum=2)
    max_period = as_int(max_period, "max_period", minimum=1)
    n = len(tokens)
    for period in range(1, min(max_period, n // min_repeats) + 1):
        tail = tokens[n - period * min_repeats :]
        if all(tail[i] == tail[i + period] for i in range(len(tail) - period)):
            return True
    return False


def repetition(generations, min_repeats: int = 3, max_period: int = 50) -> float:
    """Fraction of generations that end in a repetition loop (:func:`ends_in_repetition`).

    The "Repetition %" of Holtzman et al. (2020), *The Curious Case of Neural Text Degeneration*,
    Table 1, as a fraction: greedy and beam search often end looping on a phrase, sampling rarely
    does. ``generations`` is a list of token sequences; an empty list raises ``ValueError``.

    >>> repetition([["a", "b"] * 3, ["a", "b", "c"]])
    0.5
    """
    if isinstance(generations, (str, np.ndarray)) or not len(generations):
        raise ValueError("generations must be a non-empty list of token sequences")
    return sum(ends_in_repetition(g, min_repeats, max_period) for g in generations) / len(generations)
