"""Toy language models for the decoding tests: dict-backed, and random ones for property tests."""
from __future__ import annotations

import zlib

import numpy as np

from lmsample import EOS
from lmsample.toy import TableLM


def table_lm(table: dict, default=None):
    """A language model backed by a dict context -> distribution (``default`` for missing contexts)."""
    return TableLM(table, default)


#: The curriculum's greedy counterexample: greedy takes "The" (0.3) whose best continuation is
#: 0.2 (path 0.06); "A" (0.2) has a continuation of 0.5 (path 0.10).
COUNTEREXAMPLE = {
    (): {"The": 0.3, "A": 0.2, "One": 0.15, "This": 0.15, "My": 0.1, "Her": 0.1},
    ("The",): {"cat": 0.2, "dog": 0.2, "end": 0.2, "fox": 0.2, "owl": 0.2},
    ("A",): {"cat": 0.5, "dog": 0.3, "owl": 0.2},
    ("One",): {"cat": 0.5, "dog": 0.5},
    ("This",): {"cat": 0.5, "dog": 0.5},
    ("My",): {"cat": 0.5, "dog": 0.5},
    ("Her",): {"cat": 0.5, "dog": 0.5},
}


def counterexample_lm():
    """Every two-word context ends with certainty."""
    return table_lm(COUNTEREXAMPLE, default={EOS: 1.0})


def random_lm(seed: int, vocab_size: int, eos_weight: float = 1.0, grid: int = 0):
    """A deterministic random language model over ``vocab_size`` words plus ``<eos>``.

    Each context gets its own distribution, drawn from a generator seeded by the seed and the
    context. With ``grid > 0`` probabilities are multiples of ``1/grid``, so ties are common.
    """
    words = [chr(ord("a") + i) for i in range(vocab_size)]
    tokens = words + [EOS]

    def lm(context):
        key = zlib.crc32(("\x1f".join(context) + f"|{seed}").encode())
        rng = np.random.default_rng(key)
        weights = rng.random(len(tokens))
        weights[-1] *= eos_weight
        if grid:
            counts = rng.multinomial(grid, weights / weights.sum())
            probs = counts / grid
        else:
            probs = weights / weights.sum()
        return {tok: float(p) for tok, p in zip(tokens, probs) if p > 0}

    return lm


def all_finished_sequences(lm, max_len: int, prefix=(), prob=1.0):
    """Brute force: every finished sequence of nonzero probability with at most ``max_len`` tokens."""
    out = []
    if len(prefix) >= max_len:
        return out
    for token, p in lm(prefix).items():
        if p <= 0:
            continue
        seq, q = prefix + (token,), prob * p
        if token == EOS:
            out.append((seq, q))
        else:
            out.extend(all_finished_sequences(lm, max_len, seq, q))
    return out
