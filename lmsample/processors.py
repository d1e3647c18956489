"""Batched logits processors in torch: temperature, top-k, top-p (nucleus) and min-p; and the
samplers of the chain lesson: typical, epsilon, eta, top-n-sigma and the repetition penalty.

Each processor is a callable ``(input_ids, scores) -> scores`` on a ``(batch, vocab)`` float
tensor, the protocol of transformers' logits processors, so instances drop into
``model.generate(logits_processor=LogitsProcessorList([...]))`` and into :func:`lmsample.generate`.
Removed tokens get the score ``-inf``; kept scores are returned unchanged (a softmax afterwards
renormalises them). The semantics are those of the numpy filters of :mod:`lmsample.truncation`:

- top-k keeps exactly ``k`` tokens, ties broken by the lower index (transformers keeps every
  token tied with the k-th);
- top-p keeps the shortest prefix of the descending order whose mass is at least ``p``, the
  crossing token included, at least one token, and every nonzero token when ``p = 1``;
- min-p keeps the tokens with probability at least ``min_p`` times the largest;
- typical, epsilon, eta, top-n-sigma and the repetition penalty are those of :mod:`lmsample.chain`
  (each class says where transformers' warper differs), and :func:`chain_processors` builds the
  processors of a chain from the same ``(name, value)`` steps as :func:`lmsample.apply_chain`.

Top-p never sorts the vocabulary. It first looks at the 64 highest scores of each row, which hold
the nucleus of a peaked distribution. For the other rows a radix step does the work: the high bits
of each probability (a float's bit pattern grows with its value) bucket the vocabulary, one
``scatter_add`` gives the mass of every bucket, the bucket where the descending cumulative mass
crosses ``p`` is found, and only the few tokens in that bucket (tens to hundreds) are sorted. A
batch goes through this a few rows at a time, so that the temporaries stay small, and stops
trying the 64 highest scores first when that settled fewer than half of the rows of a chunk.
Probabilities are computed in the dtype of ``scores`` (float32 for half precision) and summed in
float64.
"""
from __future__ import annotations

import math
import sys

import torch

from ._checks import as_int, as_real, as_temperature
from .chain import _check_epsilon, _check_mass, _check_n, _check_penalty
from .truncation import _check_p

__all__ = [
    "Temperature", "TopK", "TopP", "MinP", "Typical", "Epsilon", "Eta", "TopNSigma", "RepetitionPenalty",
    "CHAIN_STEPS", "chain_processors", "processors_for",
]

_NEG_INF = float("-inf")
_LITTLE_ENDIAN = sys.byteorder == "little"
# TopP works through a batch a few rows at a time: its temporaries then stay small enough to be
# reused from the heap and to stay in cache (whole-batch temporaries of tens of megabytes are
# mapped afresh on every call, and the page faults cost more than the arithmetic).
_CHUNK_ELEMENTS = 1 << 19
# TopP first looks at the 64 highest scores of each row: when the nucleus lies among them (a peaked
# distribution, the usual case in text) no radix step is needed.
_FIRST_TOKENS = 64


def _check_scores(scores: torch.Tensor) -> torch.Tensor:
    if not isinstance(scores, torch.Tensor) or scores.ndim != 2 or not scores.is_floating_point():
        raise ValueError(f"scores must be a (batch, vocab) float tensor, got {getattr(scores, 'shape', type(scores))}")
    if scores.shape[1] == 0:
        raise ValueError("scores must have at least one token per row, got a vocabulary of size 0")
    return scores


def _probs(scores: torch.Tensor) -> torch.Tensor:
    """Softmax over the vocabulary, in float64 for float64 scores and in float32 otherwise."""
    dtype = torch.float64 if scores.dtype == torch.float64 else torch.float32
    return torch.softmax(scores, dim=-1, dtype=dtype)


def _outside(values: torch.Tensor, tau: torch.Tensor, n_ties: torch.Tensor, all_ties: torch.Tensor) -> torch.Tensor:
    """Mask of the tokens outside the first tokens of each row's descending order (ties: lower
    index first): those below ``tau``, and the ties of ``tau`` after the first ``n_ties`` of them.

    ``all_ties`` marks the rows where every tie of ``tau`` is kept: one comparison decides them
    (the usual case); only the other rows count their ties in index order.
    """
    remove = values < tau[:, None]
    if not bool(all_ties.all()):
        rows = (~all_ties).nonzero().squeeze(1)
        v, t = values[rows], tau[rows, None]
        equal = v == t
        remove[rows] = (v < t) | (equal & (equal.cumsum(-1) > n_ties[rows, None]))
    return remove


class Temperature:
    """Divide the scores by ``temperature > 0``; ``temperature = inf`` makes every finite score equal.

    >>> import torch
    >>> Temperature(2.0)(None, torch.tensor([[2.0, 0.0]])).tolist()
    [[1.0, 0.0]]
    """

    def __init__(self, temperature: float):
        self.temperature = as_temperature(temperature)

    def __call__(self, input_ids, scores: torch.Tensor) -> torch.Tensor:
        scores = _check_scores(scores)
        if self.temperature == math.inf:
            return torch.where(torch.isfinite(scores), torch.zeros_like(scores), scores)
        return scores / self.temperature

    def __repr__(self) -> str:
        return f"Temperature({self.temperature!r})"


class TopK:
    """Keep exactly the ``k`` highest scores of each row (ties: the lower index first).

    >>> import torch
    >>> TopK(2)(None, torch.tensor([[1.0, 3.0, 1.0, 0.0]])).tolist()
    [[1.0, 3.0, -inf, -inf]]
    """

    def __init__(self, k: int):
        self.k = as_int(k, "k", minimum=1)

    def __call__(self, input_ids, scores: torch.Tensor) -> torch.Tensor:
        scores = _check_scores(scores)
        k = min(self.k, scores.shape[-1])
        if k == scores.shape[-1]:
            return scores.clone()
        top = torch.topk(scores, k, dim=-1).values
        tau = top[:, -1]
        below = scores < tau[:, None]
        # every tie of the k-th score is kept when exactly k scores are >= it (the usual case)
        exact = scores.shape[-1] - torch.count_nonzero(below, dim=-1) == k
        if not bool(exact.all()):
            n_ties = k - torch.count_nonzero(top > tau[:, None], dim=-1)
            below = _outside(scores, tau, n_ties, exact)
        return torch.where(below, torch.full((), _NEG_INF, dtype=scores.dtype), scores)

    def __repr__(self) -> str:
        return f"TopK({self.k!r})"


class MinP:
    """Keep the tokens whose probability is at least ``min_p`` times the row's largest.

    >>> import math, torch
    >>> MinP(0.5)(None, torch.tensor([[math.log(0.5), math.log(0.3), math.log(0.2)]])).isfinite().tolist()
    [[True, True, False]]
    """

    def __init__(self, min_p: float):
        min_p = as_real(min_p, "min_p")
        if not 0.0 <= min_p <= 1.0:
            raise ValueError(f"min_p must be in [0, 1], got {min_p!r}")
        self.min_p = min_p

    def __call__(self, input_ids, scores: torch.Tensor) -> torch.Tensor:
        scores = _check_scores(scores)
        probs = _probs(scores)
        threshold = self.min_p * probs.amax(dim=-1, keepdim=True)
        return scores.masked_fill(probs < threshold, _NEG_INF)

    def __repr__(self) -> str:
        return f"MinP({self.min_p!r})"


class TopP:
    """Nucleus filter: keep the shortest prefix of the descending order with mass at least ``p``.

    The token that crosses ``p`` is kept; ``p = 1`` keeps every token of nonzero probability.
    The result equals transformers' ``TopPLogitsWarper`` on continuous scores, without sorting
    the vocabulary (see the module docstring). The order is that of the scores (ties by index),
    as the float64 reference orders them: two scores a few bits apart often share one float32
    probability, and ordering by that probability would keep the wrong one of the two when they
    straddle the boundary. The two can still differ where the boundary falls within float32
    rounding of ``p``: in 5,120 random rows of 50,257 tokens (``p`` 0.9 and 0.95, five scales),
    one row, where lmsample agreed with the float64 numpy reference :func:`lmsample.top_p_filter`
    and transformers did not (``benchmarks/bench_top_p.py`` reports such rows).

    >>> import math, torch
    >>> scores = torch.tensor([[math.log(q) for q in (0.125, 0.5, 0.25, 0.125)]], dtype=torch.float64)
    >>> TopP(0.75)(None, scores).isfinite().tolist()
    [[False, True, True, False]]
    """

    def __init__(self, p: float):
        self.p = _check_p(p)

    def __repr__(self) -> str:
        return f"TopP({self.p!r})"

    def __call__(self, input_ids, scores: torch.Tensor) -> torch.Tensor:
        scores = _check_scores(scores)
        out = torch.empty_like(scores)
        removed = torch.full((), _NEG_INF, dtype=scores.dtype)
        rows = max(1, _CHUNK_ELEMENTS // scores.shape[1])
        first = _FIRST_TOKENS  # stop trying the most probable tokens first when that rarely pays
        for start in range(0, scores.shape[0], rows):
            chunk = scores[start : start + rows]
            mask, solved = _outside_nucleus(chunk, self.p, first)
            torch.where(mask, removed, chunk, out=out[start : start + rows])
            if 2 * solved < chunk.shape[0]:
                first = 0
        return out


def _outside_nucleus(scores: torch.Tensor, p: float, first: int):
    """Mask of the tokens outside the nucleus of each row of ``scores`` (shape ``(batch, vocab)``),
    and how many rows the ``first`` highest scores settled (0: go straight to the radix step)."""
    probs = _probs(scores)
    if p >= 1.0:
        return probs <= 0, 0
    rows, vocab = scores.shape
    tau = torch.full((rows,), _NEG_INF, dtype=scores.dtype)
    n_ties = torch.zeros(rows, dtype=torch.long)
    all_ties = torch.ones(rows, dtype=torch.bool)
    todo = torch.arange(rows)
    if first:
        # a float32 softmax sums to 1 only within about 1e-7: compare with p times the row's own
        # total (summed in float32 here: a float64 copy of the chunk costs more than the rest)
        target = p * probs.sum(-1).double()
        solved, t, n, a = _top_threshold(scores, probs, target, min(first, vocab))
        tau[solved], n_ties[solved], all_ties[solved] = t[solved], n[solved], a[solved]
        todo = (~solved).nonzero().squeeze(1)
    if todo.numel():
        sub = slice(None) if todo.numel() == rows else todo
        tau[sub], n_ties[sub], all_ties[sub] = _nucleus_threshold(scores[sub], probs[sub], p)
    return _outside(scores, tau, n_ties, all_ties), rows - todo.numel()


def _top_threshold(scores: torch.Tensor, probs: torch.Tensor, target: torch.Tensor, m: int):
    """The fast path for peaked rows: look at the ``m`` highest scores only. Per row: whether the
    nucleus lies among them, and then ``tau``, ``n_ties`` and ``all_ties`` as
    :func:`_nucleus_threshold` gives them."""
    top, index = torch.topk(scores, m, dim=-1)
    mass = probs.gather(1, index).cumsum(-1, dtype=torch.float64)
    position, t, n_ties, ties = _crossing(top, mass, target, torch.full((top.shape[0],), m))
    # every tie of t is kept when they all lie among the m and are all needed
    return position < m, t, n_ties, (ties == n_ties) & (top[:, -1] < t)


def _crossing(keys: torch.Tensor, cumulative: torch.Tensor, target: torch.Tensor, counts: torch.Tensor):
    """Per row of ``keys`` (descending; the first ``counts`` real, the rest padding) with the
    cumulative masses ``cumulative``: the first position whose mass reaches ``target`` (``counts``
    or more when none does), the key ``t`` there (the last real one when none does), how many keys
    equal to ``t`` the prefix up to it holds, and how many real keys equal ``t``."""
    position = (cumulative < target[:, None]).sum(-1)
    last = torch.minimum(position, counts - 1)
    t = keys.gather(1, last[:, None])
    real = torch.arange(keys.shape[1]) < counts[:, None]
    n_ties = last + 1 - torch.count_nonzero((keys > t) & real, dim=-1)
    return position, t[:, 0], n_ties, torch.count_nonzero((keys == t) & real, dim=-1)


def _nucleus_threshold(scores: torch.Tensor, probs: torch.Tensor, p: float):
    """Per row: the score ``tau`` of the token whose cumulative mass crosses ``p`` times the row's
    total, how many tokens with the score ``tau`` the nucleus keeps, and whether that is
    all of them. When rounding leaves the total short of the target the row keeps every token
    (``tau = -inf``).

    The order is that of the scores, ties by index. Probabilities (``probs = softmax(scores)``)
    give the masses; they cannot give the order, because two tokens whose scores differ in the
    last bits can have the same float32 probability.
    """
    # Bucket each probability by the high 16 bits of its float: the sign, the exponent and the
    # leading mantissa bits (7 for float32, 4 for float64), read through an int16 view without
    # computing anything. Buckets are non-decreasing in the probability (which is >= 0).
    if probs.dtype == torch.float64:
        step, one, mantissa = 4, 1023, 4
    else:
        step, one, mantissa = 2, 127, 7
    lowest = (one - 126) << mantissa  # values below 2**-126 share bucket 0 (exact, only slower when
    top = (one << mantissa) - lowest  # the nucleus reaches them); ``top`` is the bucket of 1.0
    buckets = _high_bits(probs, step).clamp(lowest, one << mantissa).sub_(lowest)
    return _bucket_threshold(scores, probs, buckets, top, p)


def _high_bits(values: torch.Tensor, step: int) -> torch.Tensor:
    """The high 16 bits of each float of ``values`` (``step`` int16 words per float), as int16: for
    values >= 0 they grow with the value."""
    words = values.view(torch.int16)
    return words[:, step - 1 :: step] if _LITTLE_ENDIAN else words[:, ::step]


def _bucket_threshold(keys: torch.Tensor, probs: torch.Tensor, buckets: torch.Tensor, top: int, p: float):
    """The crossing of the descending order of ``keys`` (ties by index) at ``p`` times each row's
    total mass ``probs``: per row ``tau`` (the key of the crossing token), ``n_ties`` and
    ``all_ties`` as :func:`_outside` takes them. ``buckets`` (integers in ``[0, top]``, one per
    token) must not decrease as the key grows: only the tokens of the crossing bucket are sorted.
    """
    rows, vocab = probs.shape
    n_buckets = top + 1
    mass = torch.zeros(rows, n_buckets, dtype=torch.float64)
    mass.scatter_add_(1, buckets.long(), probs.double())
    # mass at or above each bucket, from the top bucket down; it never decreases
    running = mass.flip(-1).cumsum(-1)
    # a float32 softmax sums to 1 only within about 1e-7: compare with p times the row's own total
    target = p * running[:, -1]
    j = (running < target[:, None]).sum(-1)  # the first bucket (from the top) that reaches p
    tau = torch.full((rows,), _NEG_INF, dtype=keys.dtype)
    n_ties = torch.zeros(rows, dtype=torch.long)
    all_ties = torch.ones(rows, dtype=torch.bool)
    ok = j < n_buckets  # rounding may leave a row short of p: it keeps every token
    if not bool(ok.any()):
        return tau, n_ties, all_ties
    idx = ok.nonzero().squeeze(1)
    j = j[idx]
    above = torch.where(j > 0, running[idx, (j - 1).clamp(min=0)], 0.0)  # mass of the buckets above
    crossing = (top - j).to(buckets.dtype)
    # The tokens of the crossing bucket of each row, padded to a rectangle and sorted by key
    # (descending; the sort is stable and the columns ascend, so ties go by index).
    in_bucket = (buckets if idx.numel() == rows else buckets[idx]) == crossing[:, None]
    cand_row, cand_col = in_bucket.nonzero(as_tuple=True)
    counts = torch.bincount(cand_row, minlength=idx.numel())
    slot = torch.arange(cand_row.numel()) - (counts.cumsum(0) - counts)[cand_row]
    width = int(counts.max())
    padded = torch.full((idx.numel(), width), _NEG_INF, dtype=torch.float64)
    padded[cand_row, slot] = keys[idx[cand_row], cand_col].double()
    values = torch.zeros(idx.numel(), width, dtype=torch.float64)
    values[cand_row, slot] = probs[idx[cand_row], cand_col].double()
    padded, order = torch.sort(padded, dim=-1, descending=True, stable=True)
    values = values.gather(1, order)
    # (padding sorts last; rounding may leave the bucket short of the target: its last token then)
    _, t, n, ties = _crossing(padded, above[:, None] + values.cumsum(-1), target[idx], counts)
    tau[idx], n_ties[idx] = t.to(keys.dtype), n
    all_ties[idx] = ties == n  # every tie of tau lies in this bucket (equal keys, equal buckets)
    return tau, n_ties, all_ties


# --- the sampler chain (lesson 07): typical, epsilon, eta, top-n-sigma, repetition penalty ------

def _entropy(probs: torch.Tensor) -> torch.Tensor:
    """Entropy in nats of each row of ``probs``, with 0 log 0 = 0; shape ``(batch, 1)``."""
    return torch.special.xlogy(probs, probs).sum(-1, keepdim=True).neg_()


def _keep_floor(scores: torch.Tensor, probs: torch.Tensor, floor) -> torch.Tensor:
    """Remove the tokens of probability below ``floor``; a row where none is left keeps its most
    probable token (the first of tied maxima, by score: two scores a few bits apart can share one
    float32 probability)."""
    remove = probs < floor
    empty = remove.all(-1)
    if bool(empty.any()):
        rows = empty.nonzero().squeeze(1)
        remove[rows, scores.argmax(-1)[rows]] = False
    return scores.masked_fill(remove, _NEG_INF)


class Typical:
    """Locally typical sampling (Meister et al. 2022): order the tokens of nonzero probability by
    ``|-log p_i - H(p)|`` ascending (ties: the lower index first) and keep the shortest prefix of
    that order whose mass is at least ``mass``; the crossing token is kept, ``mass = 1`` keeps every
    token of nonzero probability.

    The distances and masses are computed in float64 (as :func:`lmsample.typical_filter` does), and
    the vocabulary is never sorted: the high bits of each distance bucket the tokens, the bucket
    where the mass crosses is found from one ``scatter_add``, and only its tokens are sorted (the
    radix step of :class:`TopP`). transformers' ``TypicalLogitsWarper`` differs in three ways: it
    keeps every token whose distance equals the crossing token's (not only the first ones by
    index); it computes the distances in float32, as differences of numbers near ``log(vocab)``
    (about 11 for 50,257 tokens, where float32 steps by 1e-6), so tokens whose distances are that
    close can swap at the crossing (in flat rows of 50,257 logits drawn from N(0, 0.5^2), 5 of 64
    rows at mass 0.9 and 11 of 64 at 0.2 keep one token more or less than the float64 order; with
    float64 distances it agrees on all of them); and it refuses ``mass = 1``.

    >>> import math, torch
    >>> scores = torch.tensor([[math.log(q) for q in (0.5, 0.25, 0.125, 0.125)]], dtype=torch.float64)
    >>> Typical(0.25)(None, scores).isfinite().tolist()  # H = 1.75 bits: the 2-bit token is the most typical
    [[False, True, False, False]]
    """

    def __init__(self, mass: float):
        self.mass = _check_mass(mass)

    def __repr__(self) -> str:
        return f"Typical({self.mass!r})"

    def __call__(self, input_ids, scores: torch.Tensor) -> torch.Tensor:
        scores = _check_scores(scores)
        out = torch.empty_like(scores)
        removed = torch.full((), _NEG_INF, dtype=scores.dtype)
        rows = max(1, _CHUNK_ELEMENTS // scores.shape[1])
        for start in range(0, scores.shape[0], rows):
            chunk = scores[start : start + rows]
            torch.where(self._outside(chunk), removed, chunk, out=out[start : start + rows])
        return out

    def _outside(self, scores: torch.Tensor) -> torch.Tensor:
        logp = torch.log_softmax(scores, dim=-1, dtype=torch.float64)
        probs = logp.exp()
        if self.mass >= 1.0:
            return probs == 0
        entropy = (probs * logp).nansum(-1, keepdim=True).neg_()  # 0 log 0 = 0: nansum skips 0 * -inf
        # |-log p - H|: +inf for the tokens of probability 0 (never kept)
        distance = logp.add_(entropy).abs_()
        # The order is by distance ascending: keys = -distance, descending. Buckets: the high 16 bits
        # of the float64 distance (exponent and 4 mantissa bits), reversed so that they grow with the
        # key; distances below 2**-40 share the last bucket and those above 2**12 (probabilities
        # below e**-4096, zero in float64) the first.
        lo, hi = (1023 - 40) << 4, (1023 + 12) << 4
        buckets = hi - _high_bits(distance, 4).clamp(lo, hi)
        keys = distance.neg_()
        tau, n_ties, all_ties = _bucket_threshold(keys, probs, buckets, hi - lo, self.mass)
        remove = _outside(keys, tau, n_ties, all_ties)
        if bool(torch.isinf(tau).any()):  # a row short of the mass by rounding keeps its nonzero tokens
            remove |= probs == 0
        return remove


class Epsilon:
    """Epsilon sampling (Hewitt et al. 2022): keep the tokens of probability at least ``epsilon``; a
    row where none is that probable keeps its single most probable token (the lower index of tied
    maxima; transformers' ``EpsilonLogitsWarper`` keeps all of them, and refuses ``epsilon = 0``).

    >>> import math, torch
    >>> Epsilon(0.2)(None, torch.tensor([[math.log(q) for q in (0.5, 0.25, 0.125, 0.125)]])).isfinite().tolist()
    [[True, True, False, False]]
    """

    def __init__(self, epsilon: float):
        self.epsilon = _check_epsilon(epsilon, low_open=False)

    def __repr__(self) -> str:
        return f"Epsilon({self.epsilon!r})"

    def __call__(self, input_ids, scores: torch.Tensor) -> torch.Tensor:
        scores = _check_scores(scores)
        return _keep_floor(scores, _probs(scores), self.epsilon)


class Eta:
    """Eta sampling (Hewitt et al. 2022): keep the tokens of probability at least
    ``eta = min(epsilon, sqrt(epsilon) * exp(-H(p)))``, H in nats.

    The most probable token always passes (its probability is at least ``exp(-H)``, which is more
    than ``eta``), so the fallback of :func:`lmsample.eta_filter` (keep the most probable when none
    passes) only guards against rounding. transformers' ``EtaLogitsWarper`` computes the same
    ``eta`` (its docstring's ``sqrt(epsilon * e^-entropy)`` is not what its code does), with another
    float32 formula for the entropy: a token whose probability lies within rounding of ``eta`` can
    come out differently (1 row of 64 in ``benchmarks/bench_chain.py``, where lmsample agrees with
    the float64 :func:`lmsample.eta_filter`).

    >>> import math, torch
    >>> Eta(0.25)(None, torch.tensor([[math.log(q) for q in (0.5, 0.25, 0.125, 0.125)]])).isfinite().tolist()
    [[True, True, False, False]]
    """

    def __init__(self, epsilon: float):
        self.epsilon = _check_epsilon(epsilon, low_open=True)

    def __repr__(self) -> str:
        return f"Eta({self.epsilon!r})"

    def __call__(self, input_ids, scores: torch.Tensor) -> torch.Tensor:
        scores = _check_scores(scores)
        probs = _probs(scores)
        eta = _entropy(probs).neg_().exp_().mul_(math.sqrt(self.epsilon)).clamp_(max=self.epsilon)
        return _keep_floor(scores, probs, eta)


class TopNSigma:
    """Top-nσ (Tang et al. 2024): keep the tokens whose score is at least ``max - n * sigma``, sigma
    the population standard deviation (ddof 0) of the row's finite scores; a score of ``-inf`` is
    never kept. Dividing the scores by a temperature divides the threshold alike, so the kept set
    does not depend on the temperature. ``n = 0`` keeps the tied maxima. transformers (5.24) has no
    such warper.

    >>> import torch
    >>> TopNSigma(1.0)(None, torch.tensor([[3.0, 2.0, 1.0, 0.0, -1.0]])).isfinite().tolist()
    [[True, True, False, False, False]]
    """

    def __init__(self, n: float):
        self.n = _check_n(n)

    def __repr__(self) -> str:
        return f"TopNSigma({self.n!r})"

    def __call__(self, input_ids, scores: torch.Tensor) -> torch.Tensor:
        scores = _check_scores(scores)
        if self.n == math.inf:  # every finite score (inf * 0 would be nan on a row of equal scores)
            return scores.masked_fill(~torch.isfinite(scores), _NEG_INF)
        # mean and variance in float64 for float64 scores, float32 otherwise (it agrees with float64
        # to rounding; half precision would not)
        x = scores if scores.dtype in (torch.float64, torch.float32) else scores.float()
        var, mean = torch.var_mean(x, dim=-1, correction=0, keepdim=True)
        var = var.double()
        partial = ~torch.isfinite(mean[:, 0])  # rows with removed (-inf) tokens: the finite ones only
        if bool(partial.any()):
            rows = partial.nonzero().squeeze(1)
            part = scores[rows].double()
            finite = torch.isfinite(part)
            count = finite.sum(-1, keepdim=True)
            part = part.masked_fill_(~finite, 0.0)
            centred = (part - part.sum(-1, keepdim=True) / count).masked_fill_(~finite, 0.0)
            var[rows] = centred.square_().sum(-1, keepdim=True) / count
        threshold = x.amax(-1, keepdim=True).double() - self.n * var.sqrt()
        # the smallest value of the dtype of x that is >= the float64 threshold: comparing with it
        # is comparing with the threshold itself
        t = threshold.to(x.dtype)
        t = torch.where(t.double() < threshold, torch.nextafter(t, torch.full_like(t, math.inf)), t)
        return scores.masked_fill(x < t, _NEG_INF)


class RepetitionPenalty:
    """The repetition penalty (Keskar et al. 2019) as transformers applies it: for every distinct
    token of ``input_ids[r]`` (the prompt included), a positive score of row ``r`` is divided by
    ``penalty`` and a negative one multiplied by it (zero stays zero). It reads the raw logits:
    transformers runs it before temperature and every filter.

    Equal to transformers' ``RepetitionPenaltyLogitsProcessor``, except that a token id outside the
    vocabulary raises ``ValueError`` (transformers ignores it) and ``penalty`` may be an integer.

    >>> import torch
    >>> RepetitionPenalty(2.0)(torch.tensor([[0, 1, 1]]), torch.tensor([[2.0, -1.0, 0.5]])).tolist()
    [[1.0, -2.0, 0.5]]
    """

    def __init__(self, penalty: float):
        self.penalty = _check_penalty(penalty)

    def __repr__(self) -> str:
        return f"RepetitionPenalty({self.penalty!r})"

    def __call__(self, input_ids, scores: torch.Tensor) -> torch.Tensor:
        scores = _check_scores(scores)
        if (
            not isinstance(input_ids, torch.Tensor) or input_ids.ndim != 2 or input_ids.shape[0] != scores.shape[0]
            or input_ids.dtype not in (torch.int64, torch.int32)
        ):
            raise ValueError(
                f"input_ids must be a (batch, length) tensor of token ids with the batch of scores "
                f"{tuple(scores.shape)}, got {getattr(input_ids, 'shape', type(input_ids))}"
            )
        out = scores.clone()
        if input_ids.shape[1] == 0:
            return out
        ids = input_ids.long()
        if bool((ids < 0).any()) or bool((ids >= scores.shape[1]).any()):
            raise ValueError(f"input_ids hold a token id outside range({scores.shape[1]}), the vocabulary of scores")
        seen = out.gather(1, ids)
        # a token seen several times is written several times, always with the same value
        # zero stays zero: the other branches are never taken for it (0 * inf would be nan)
        penalised = torch.where(seen > 0, seen / self.penalty, torch.where(seen < 0, seen * self.penalty, seen))
        out.scatter_(1, ids, penalised)
        return out


#: The step names of a chain and the processor each makes (the names of :func:`lmsample.apply_chain`,
#: plus "repetition_penalty", which reads the previous tokens from ``input_ids``).
CHAIN_STEPS = {
    "temperature": Temperature,
    "top_k": TopK,
    "top_p": TopP,
    "min_p": MinP,
    "typical": Typical,
    "epsilon": Epsilon,
    "eta": Eta,
    "top_n_sigma": TopNSigma,
    "repetition_penalty": RepetitionPenalty,
}


def chain_processors(steps) -> list:
    """The processors of a chain given as data: ``steps`` is a sequence of ``(name, value)`` pairs
    (names as :func:`lmsample.apply_chain` takes them, see :data:`CHAIN_STEPS`), applied in the
    given order, each filter on the softmax of the scores the previous steps left.

    ``("temperature", 0)`` keeps the tied maxima (the same mask as top-n-sigma with ``n = 0``), as
    :func:`lmsample.softmax_t` does at T = 0. An unknown name or a bad value raises ``ValueError``
    naming the step.

    >>> chain_processors([("min_p", 0.1), ("temperature", 2)])
    [MinP(0.1), Temperature(2.0)]
    """
    if isinstance(steps, (str, bytes)) or not hasattr(steps, "__iter__"):
        raise ValueError(f"steps must be a sequence of (name, value) pairs, got {steps!r}")
    out = []
    for i, step in enumerate(steps):
        try:
            name, value = step
        except (TypeError, ValueError):
            raise ValueError(f"steps[{i}] must be a (name, value) pair, got {step!r}") from None
        if name not in CHAIN_STEPS:
            raise ValueError(f"steps[{i}]: unknown step name {name!r}; expected one of {', '.join(CHAIN_STEPS)}")
        try:
            if name == "temperature" and as_temperature(value, allow_zero=True) == 0.0:
                out.append(TopNSigma(0.0))
            else:
                out.append(CHAIN_STEPS[name](value))
        except ValueError as exc:
            raise ValueError(f"steps[{i}] ({name!r}): {exc}") from None
    return out


def processors_for(
    temperature=1.0, top_k=None, top_p=None, min_p=None, typical=None, epsilon=None, eta=None, repetition_penalty=None
) -> list:
    """The processors of a sampling setting, in transformers' order: the repetition penalty (on the
    raw logits), then temperature, top-k, top-p, min-p, typical, epsilon and eta.

    Settings that change nothing are left out (``temperature=1``, ``top_k=None``, ``top_p=None``
    or ``1``, ``min_p=None``, ``typical=None`` or ``1``, ``epsilon=None`` or ``0``, ``eta=None``,
    ``repetition_penalty=None`` or ``1``), as transformers does. For another order, see
    :func:`chain_processors`.
    """
    out = []
    if repetition_penalty is not None:
        penalty = RepetitionPenalty(repetition_penalty)
        if penalty.penalty != 1.0:
            out.append(penalty)
    if as_temperature(temperature) != 1.0:
        out.append(Temperature(temperature))
    if top_k is not None:
        out.append(TopK(top_k))
    if top_p is not None and _check_p(top_p) < 1.0:
        out.append(TopP(top_p))
    if min_p is not None:
        out.append(MinP(min_p))
    if typical is not None and _check_mass(typical) < 1.0:
        out.append(Typical(typical))
    if epsilon is not None and _check_epsilon(epsilon, low_open=False) > 0.0:
        out.append(Epsilon(epsilon))
    if eta is not None:
        out.append(Eta(eta))
    return out
