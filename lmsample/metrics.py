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
