"""Search for likely sequences under a toy language model: greedy, beam and exhaustive search.

A toy language model is a function ``lm(context) -> dict[str, float]`` that maps a tuple of
tokens to the distribution of the next token; ``"<eos>"`` ends a sequence and generation starts
from the empty context ``()``.

Ties are broken the same way everywhere: between equally probable choices the one that is
smaller token by token in alphabetical order (Python's ``str``/``tuple`` ordering) wins. Path
probabilities are multiplied left to right, so the same sequence always gets the very same float
from :func:`sequence_prob`, :func:`beam_search` and :func:`exhaustive_best`.
"""
from __future__ import annotations

import math
from collections import Counter
from typing import Callable, Dict, Tuple

from ._checks import as_generator, as_int

EOS = "<eos>"

Tokens = Tuple[str, ...]
LanguageModel = Callable[[Tokens], Dict[str, float]]


def _next_distribution(lm: LanguageModel, context: Tokens) -> dict:
    dist = lm(context)
    if not isinstance(dist, dict):
        raise ValueError(f"lm({context!r}) must return a dict of token -> probability, got {type(dist).__name__}")
    return dist


def _rank_key(item):
    """Sort key for (sequence, probability): most probable first, then alphabetically smaller."""
    seq, prob = item
    return (-prob, seq)


def greedy_decode(lm: LanguageModel, max_len: int = 20) -> Tokens:
    """Append the most probable next token until ``"<eos>"`` or ``max_len`` tokens.

    Ties go to the alphabetically smallest token. ``"<eos>"`` is included when it is chosen.

    >>> lm = lambda ctx: {"a": 0.5, "b": 0.5} if not ctx else {"<eos>": 1.0}
    >>> greedy_decode(lm)
    ('a', '<eos>')
    """
    max_len = as_int(max_len, "max_len", minimum=1)
    seq: Tokens = ()
    while len(seq) < max_len:
        dist = _next_distribution(lm, seq)
        if not dist:
            raise ValueError(f"lm({seq!r}) returned an empty distribution")
        token = min(dist, key=lambda tok: (-dist[tok], tok))
        seq = seq + (token,)
        if token == EOS:
            break
    return seq


def sequence_prob(lm: LanguageModel, tokens) -> float:
    """Probability of ``tokens`` from the empty context: the product of the next-token probabilities.

    A token missing from a distribution has probability 0. The empty sequence has probability 1.

    >>> lm = lambda ctx: {"a": 0.25, "<eos>": 0.75}
    >>> sequence_prob(lm, ("a", "<eos>"))
    0.1875
    """
    tokens = tuple(tokens)
    prob = 1.0
    for i, token in enumerate(tokens):
        prob *= float(_next_distribution(lm, tokens[:i]).get(token, 0.0))
        if prob == 0.0:
            return 0.0
    return prob


def sequence_logprob(lm: LanguageModel, tokens) -> float:
    """Natural log of :func:`sequence_prob`, computed as a sum of logs (``-inf`` if a factor is 0).

    A product of many factors below 1 underflows to 0.0 once it drops below about 5e-324; the sum of
    their logs stays an ordinary number.

    >>> lm = lambda ctx: {"a": 0.5, "<eos>": 0.5}
    >>> math.isclose(sequence_logprob(lm, ("a",) * 2000 + ("<eos>",)), 2001 * math.log(0.5), rel_tol=1e-12)
    True
    """
    tokens = tuple(tokens)
    total = 0.0
    for i, token in enumerate(tokens):
        p = float(_next_distribution(lm, tokens[:i]).get(token, 0.0))
        if p == 0.0:
            return -math.inf
        total += math.log(p)
    return total


def _extensions(lm: LanguageModel, seq: Tokens, prob: float):
    """Every one-token extension of ``seq`` with nonzero probability."""
    for token, p in _next_distribution(lm, seq).items():
        if p > 0:
            yield seq + (token,), prob * float(p)


def beam_search(lm: LanguageModel, beam_width: int, max_len: int = 20) -> Tuple[Tokens, float]:
    """Beam search: return the most probable finished sequence it finds and its probability.

    At each step every unfinished beam is extended by every token of nonzero probability and the
    ``beam_width`` most probable candidates are kept (ties: smaller token by token alphabetically).
    A kept candidate that ends in ``"<eos>"`` is finished and set aside, so it uses up its place in
    the beam; the others are the next step's beams. The search ends when no beam is left or the
    beams reach ``max_len`` tokens. If nothing finished, the most probable sequence of length
    ``max_len`` is returned. Because a finished sequence keeps its place, ``beam_width=1`` is
    exactly :func:`greedy_decode`.

    >>> lm = lambda ctx: {"a": 0.6, "<eos>": 0.4} if not ctx else {"<eos>": 1.0}
    >>> beam_search(lm, beam_width=2)
    (('a', '<eos>'), 0.6)
    """
    beam_width = as_int(beam_width, "beam_width", minimum=1)
    max_len = as_int(max_len, "max_len", minimum=1)
    beams = [((), 1.0)]
    finished = []
    for _ in range(max_len):
        candidates = [ext for seq, prob in beams for ext in _extensions(lm, seq, prob)]
        candidates.sort(key=_rank_key)
        kept = candidates[:beam_width]
        finished.extend(c for c in kept if c[0][-1] == EOS)
        beams = [c for c in kept if c[0][-1] != EOS]
        if not beams:
            break
    pool = finished or beams
    if not pool:
        raise ValueError("lm gave no token of nonzero probability from the empty context")
    return min(pool, key=_rank_key)


def beam_search_keep_k(lm: LanguageModel, beam_width: int, max_len: int = 20, stop_early: bool = False):
    """Beam search the way Hugging Face's ``generate`` fills its beam (scores: plain probabilities, no length
    penalty): the beam always holds ``beam_width`` unfinished sequences.

    Each step ranks the candidates as :func:`beam_search` does; a candidate ending in ``"<eos>"`` counts as
    finished only when it is among the ``beam_width`` best (as in transformers' ``BeamSearchScorer``),
    and the next beams are the ``beam_width`` best *unfinished* candidates, so a finished sequence
    does not use up a place. It runs to ``max_len`` tokens unless ``stop_early``: then it stops as
    soon as no unfinished beam is more probable than the best finished sequence (exact, because
    extending a sequence never raises its probability).

    It returns the same sequence as :func:`beam_search` (up to exact ties): every beam it keeps in
    addition ranks below a finished sequence found in the same step, and so do all its extensions. It
    costs more model calls. Returns ``(sequence, probability, model_calls)``.
    """
    beam_width = as_int(beam_width, "beam_width", minimum=1)
    max_len = as_int(max_len, "max_len", minimum=1)
    beams = [((), 1.0)]
    finished = []
    calls = 0
    for _ in range(max_len):
        calls += len(beams)
        candidates = sorted((ext for seq, prob in beams for ext in _extensions(lm, seq, prob)), key=_rank_key)
        finished.extend(c for c in candidates[:beam_width] if c[0][-1] == EOS)
        beams = [c for c in candidates if c[0][-1] != EOS][:beam_width]
        if not beams:
            break
        if stop_early and finished and beams[0][1] < max(f[1] for f in finished):
            break
    pool = finished or beams
    if not pool:
        raise ValueError("lm gave no token of nonzero probability from the empty context")
    seq, prob = min(pool, key=_rank_key)
    return seq, prob, calls


def finished_sequences(lm: LanguageModel, max_len: int = 20):
    """Every finished sequence (ending in ``"<eos>"``) of at most ``max_len`` tokens with nonzero
    probability, with its probability, most probable first (ties: alphabetically smaller first).

    The number of sequences grows exponentially with ``max_len``: for small toy models only.
    """
    max_len = as_int(max_len, "max_len", minimum=1)
    out, stack = [], [((), 1.0)]
    while stack:
        seq, prob = stack.pop()
        for ext in _extensions(lm, seq, prob):
            if ext[0][-1] == EOS:
                out.append(ext)
            elif len(ext[0]) < max_len:
                stack.append(ext)
    return sorted(out, key=_rank_key)


def sample_sentences(lm: LanguageModel, n: int, rng, max_len: int = 20) -> Counter:
    """Ancestral sampling of ``n`` whole sequences: a :class:`collections.Counter` of sequence -> count.

    Each sequence starts from ``()`` and draws its next token from ``lm(context)`` with
    :func:`lmsample.draw` until ``"<eos>"`` or ``max_len`` tokens. The ``n`` sequences advance together:
    the ones that share a context get their next tokens from one vectorised draw.
    """
    from .sampling import draw  # numpy, imported only here

    n = as_int(n, "n", minimum=0)
    max_len = as_int(max_len, "max_len", minimum=1)
    rng = as_generator(rng)
    done: Counter = Counter()
    active = {(): n} if n else {}
    for _ in range(max_len):
        following: Counter = Counter()
        for context in sorted(active):
            dist = _next_distribution(lm, context)
            tokens = list(dist)
            counts = Counter(draw([float(dist[t]) for t in tokens], active[context], rng).tolist())
            for i, c in counts.items():
                seq = context + (tokens[i],)
                (done if tokens[i] == EOS else following)[seq] += c
        active = following
        if not active:
            break
    done.update(active)  # sequences cut off at max_len
    return done


def exhaustive_best(lm: LanguageModel, max_len: int = 20) -> Tuple[Tokens, float]:
    """The most probable finished sequence of at most ``max_len`` tokens, and its probability.

    Every path of nonzero probability is explored (depth first), skipping a branch only when it is
    already strictly less probable than the best finished sequence found, since extending a
    sequence never raises its probability. Ties go to the sequence that is smaller token by token
    alphabetically. If no sequence finishes within ``max_len`` tokens, the most probable sequence of
    length ``max_len`` is returned, as :func:`beam_search` does.

    >>> lm = lambda ctx: {"a": 0.6, "<eos>": 0.4} if not ctx else {"<eos>": 0.5, "a": 0.5}
    >>> exhaustive_best(lm, max_len=3)
    (('<eos>',), 0.4)
    """
    max_len = as_int(max_len, "max_len", minimum=1)
    best_finished = None
    best_unfinished = None  # most probable sequence of exactly max_len tokens
    stack = [((), 1.0)]
    while stack:
        seq, prob = stack.pop()
        if best_finished is not None and prob < best_finished[1]:
            continue
        for ext in _extensions(lm, seq, prob):
            if ext[0][-1] == EOS:
                if best_finished is None or _rank_key(ext) < _rank_key(best_finished):
                    best_finished = ext
            elif len(ext[0]) == max_len:
                if best_unfinished is None or _rank_key(ext) < _rank_key(best_unfinished):
                    best_unfinished = ext
            else:
                stack.append(ext)
    best = best_finished or best_unfinished
    if best is None:
        raise ValueError("lm gave no token of nonzero probability from the empty context")
    return best
