"""Measures of generated text: diversity (distinct-n, within a text and across texts), fit
(perplexity), repetition loops, and the spread of a measure over seeds."""
from __future__ import annotations

import math
from typing import NamedTuple

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


def pooled_distinct_n(generations, n: int) -> float:
    """Distinct ``n``-grams of several generations together, divided by their total number of
    ``n``-grams (n-grams are taken within each generation, never across two); 0.0 when there is none.

    Diversity *across* texts: :func:`distinct_n` of each text alone cannot see that two samples of
    the same prompt say the same thing; pooled, their shared n-grams count once. Three identical
    copies of a text have a third of its own distinct-n.

    >>> pooled_distinct_n([["a", "b", "c"], ["a", "b", "d"]], 2)
    0.75
    """
    if isinstance(generations, (str, np.ndarray)) or not len(generations):
        raise ValueError("generations must be a non-empty list of token sequences")
    grams = [g for tokens in generations for g in ngrams(tokens, n)]
    return len(set(grams)) / len(grams) if grams else 0.0


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


def _final_repeats(tokens: list, n: int) -> int:
    """How many times the last ``n`` tokens occur back to back at the end of ``tokens``."""
    length, count = len(tokens), 1
    if n > length:
        return 1
    phrase = tokens[length - n :]
    while length - n * (count + 1) >= 0 and tokens[length - n * (count + 1) : length - n * count] == phrase:
        count += 1
    return count


def final_loop(tokens, max_phrase: int = 90) -> tuple:
    """``(phrase_length, repeats)`` of the phrase that occurs most often back to back at the very end
    of ``tokens`` (the shortest among ties), as :func:`ends_in_repetition` finds it; ``(0, 0)`` for
    an empty sequence. The loop occupies the last ``phrase_length * repeats`` tokens.

    >>> final_loop("so I know that I know that I know".split())
    (3, 2)
    """
    tokens = _as_token_list(tokens)
    max_phrase = as_int(max_phrase, "max_phrase", minimum=1)
    if not tokens:
        return (0, 0)
    repeats = [_final_repeats(tokens, n) for n in range(1, max_phrase + 1)]
    best = max(range(max_phrase), key=repeats.__getitem__)  # first maximum: the shortest phrase
    return (best + 1, repeats[best])


def ends_in_repetition(tokens, max_phrase: int = 90, min_phrase: int = 3, min_short_repeats: int = 51) -> bool:
    """Whether a token sequence ends in a repetition loop, by the rule of Holtzman et al. (2020).

    For each phrase length ``n`` from 1 to ``max_phrase`` count how often the last ``n`` tokens occur
    back to back at the end; take the length with the most repeats (the shortest among ties). The
    sequence is repetitive when that phrase occurs at least twice and has at least ``min_phrase``
    tokens, or occurs at least ``min_short_repeats`` times (a loop on one or two tokens). These are
    the constants of the paper's ``metrics/repetition.py`` (github.com/ari-holtzman/degen).

    >>> ends_in_repetition("I like it . I do not know . I do not know .".split())
    True
    >>> ends_in_repetition("no no no".split())  # a short phrase must loop more than 50 times
    False
    """
    min_phrase = as_int(min_phrase, "min_phrase", minimum=1)
    min_short_repeats = as_int(min_short_repeats, "min_short_repeats", minimum=2)
    length, repeats = final_loop(tokens, max_phrase)
    return repeats > 1 and (length >= min_phrase or repeats >= min_short_repeats)


def repetition(generations, **rule) -> float:
    """Fraction of generations that end in a repetition loop (:func:`ends_in_repetition`, whose
    keyword arguments ``rule`` passes on).

    The "Repetition %" of Holtzman et al. (2020), *The Curious Case of Neural Text Degeneration*,
    Table 1, as a fraction: greedy and beam search often end looping on a phrase, sampling rarely
    does. ``generations`` is a list of token sequences; an empty list raises ``ValueError``.

    >>> repetition([["a", "b", "c"] * 2, ["a", "b", "c"]])
    0.5
    """
    if isinstance(generations, (str, np.ndarray)) or not len(generations):
        raise ValueError("generations must be a non-empty list of token sequences")
    return sum(ends_in_repetition(g, **rule) for g in generations) / len(generations)

class Spread(NamedTuple):
    """A measure over several seeds: mean, sample standard deviation (0 for one value), min, max."""

    mean: float
    sd: float
    low: float
    high: float
    n: int

    def __str__(self) -> str:
        return f"{self.mean:.3g} ± {self.sd:.2g}"


def seed_spread(values) -> Spread:
    """Mean, sample standard deviation (``ddof=1``; 0.0 for a single value), minimum and maximum of
    a measure computed once per seed.

    >>> seed_spread([1.0, 2.0, 6.0])
    Spread(mean=3.0, sd=2.6457513110645907, low=1.0, high=6.0, n=3)
    """
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"values must be a non-empty 1-D array, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError("values must be finite")
    sd = float(arr.std(ddof=1)) if arr.size > 1 else 0.0
    return Spread(float(arr.mean()), sd, float(arr.min()), float(arr.max()), int(arr.size))


def grid_measures(ids, logprobs, n: int = 2) -> dict:
    """Quality and diversity of a grid of generations, each with its spread.

    ``ids[s][i]`` is sample ``s`` of the continuation of prompt ``i`` (token ids) and
    ``logprobs[s][i]`` the log-probabilities of its tokens under the model. Returns
    :class:`Spread` s of

    - ``"perplexity"``: for each sample index ``s``, the perplexity of its continuations together;
      spread over ``s`` (the seeds);
    - ``"distinct"``: for each ``s``, the mean over prompts of :func:`distinct_n` of each
      continuation (diversity *within* a text); spread over ``s``;
    - ``"repetition"``: for each ``s``, the fraction of its continuations that end in a loop
      (:func:`repetition`); spread over ``s``;
    - ``"across"``: for each prompt ``i``, :func:`pooled_distinct_n` of its samples (diversity
      *across* samples of the same prompt); spread over the prompts. A deterministic method gives
      the same text every time: pass it once per sample (the grid repeated).

    >>> m = grid_measures([[[1, 2, 3]], [[1, 2, 4]]], [[[-1.0, -1.0, -1.0]], [[-2.0, -2.0, -2.0]]])
    >>> round(m["perplexity"].mean, 6), m["distinct"].mean, m["across"].mean, m["repetition"].mean
    (5.053669, 1.0, 0.75, 0.0)
    """
    samples = len(ids)
    if not samples or len(logprobs) != samples or any(len(row) != len(ids[0]) or not len(row) for row in ids):
        raise ValueError("ids must be a non-empty grid [sample][prompt] of token sequences, and logprobs the same shape")
    prompts = len(ids[0])
    return {
        "perplexity": seed_spread([perplexity(np.concatenate([np.asarray(lp, dtype=np.float64) for lp in logprobs[s]])) for s in range(samples)]),
        "distinct": seed_spread([np.mean([distinct_n(t, n) for t in ids[s]]) for s in range(samples)]),
        "repetition": seed_spread([repetition([list(t) for t in ids[s]]) for s in range(samples)]),
        "across": seed_spread([pooled_distinct_n([list(ids[s][i]) for s in range(samples)], n) for i in range(prompts)]),
    }
