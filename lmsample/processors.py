"""Batched logits processors in torch: temperature, top-k, top-p (nucleus) and min-p.

Each processor is a callable ``(input_ids, scores) -> scores`` on a ``(batch, vocab)`` float
tensor, the protocol of transformers' logits processors, so instances drop into
``model.generate(logits_processor=LogitsProcessorList([...]))`` and into :func:`lmsample.generate`.
Removed tokens get the score ``-inf``; kept scores are returned unchanged (a softmax afterwards
renormalises them). The semantics are those of the numpy filters of :mod:`lmsample.truncation`:

- top-k keeps exactly ``k`` tokens, ties broken by the lower index (transformers keeps every
  token tied with the k-th);
- top-p keeps the shortest prefix of the descending order whose mass is at least ``p``, the
  crossing token included, at least one token, and every nonzero token when ``p = 1``;
- min-p keeps the tokens with probability at least ``min_p`` times the largest.

Top-p never sorts the vocabulary. It first looks at the 64 most probable tokens of each row
(enough for a peaked distribution), then at the 1,024 or 4,096 most probable (skipping a size that
cannot hold the nucleus); rows whose nucleus is larger still go through a radix step: the
high bits of each probability (a float's bit pattern grows with its value) bucket the
vocabulary, one ``scatter_add`` gives the mass of every bucket, the bucket where the descending
cumulative mass crosses ``p`` is found, and only the few tokens in that bucket are sorted.
Probabilities are computed in the dtype of ``scores`` (float32 for half precision) and summed in
float64.
"""
from __future__ import annotations

import math

import torch

from ._checks import as_int, as_real, as_temperature
from .truncation import _check_p

__all__ = ["Temperature", "TopK", "TopP", "MinP", "processors_for"]

_NEG_INF = float("-inf")


def _check_scores(scores: torch.Tensor) -> torch.Tensor:
    if not isinstance(scores, torch.Tensor) or scores.ndim != 2 or not scores.is_floating_point():
        raise ValueError(f"scores must be a (batch, vocab) float tensor, got {getattr(scores, 'shape', type(scores))}")
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
        # every tie of the k-th score is kept when exactly k scores are >= it
        n_ge = torch.count_nonzero(scores >= tau[:, None], dim=-1)
        n_ties = k - torch.count_nonzero(top > tau[:, None], dim=-1)
        return scores.masked_fill(_outside(scores, tau, n_ties, n_ge == k), _NEG_INF)

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
    the vocabulary (see the module docstring). The two can differ only where the boundary falls
    within float32 rounding of ``p``: on random (64, 50257) batches about one row in 1,000, and
    in every such row checked, lmsample agreed with the float64 numpy reference
    :func:`lmsample.top_p_filter` and transformers did not (``benchmarks/bench_top_p.py`` reports it).

    >>> import math, torch
    >>> scores = torch.tensor([[math.log(q) for q in (0.125, 0.5, 0.25, 0.125)]], dtype=torch.float64)
    >>> TopP(0.75)(None, scores).isfinite().tolist()
    [[False, True, True, False]]
    """

    #: how many of the most probable tokens are looked at before the radix step
    tiers = (64, 1024, 4096)

    def __init__(self, p: float):
        self.p = _check_p(p)

    def __repr__(self) -> str:
        return f"TopP({self.p!r})"

    def __call__(self, input_ids, scores: torch.Tensor) -> torch.Tensor:
        scores = _check_scores(scores)
        return scores.masked_fill(outside_nucleus(_probs(scores), self.p, self.tiers), _NEG_INF)


def outside_nucleus(probs: torch.Tensor, p: float, tiers=(64, 1024, 4096)) -> torch.Tensor:
    """Mask of the tokens outside the nucleus of each row of ``probs`` (shape ``(batch, vocab)``).

    Each row is resolved by the first of these that can: the ``tiers[0]``, ``tiers[1]``, ...
    most probable tokens (skipping a tier when even its best case cannot reach ``p``), else the
    radix step of :func:`_radix_threshold`.
    """
    batch, vocab = probs.shape
    if p >= 1.0:
        return probs <= 0
    # A float32 softmax sums to 1 only within about 1e-7; compare cumulative masses with p times
    # the row's own total so that this error does not move the boundary.
    target = p * probs.sum(-1).double()
    tau = torch.zeros(batch, dtype=probs.dtype)
    n_ties = torch.zeros(batch, dtype=torch.long)
    all_ties = torch.zeros(batch, dtype=torch.bool)
    rows = torch.arange(batch)  # the rows not resolved yet
    bound = torch.full((batch,), math.inf, dtype=torch.float64)  # the most mass the next tier can hold
    tiers = sorted({min(t, vocab) for t in tiers})  # a small vocabulary is simply sorted
    for i, m in enumerate(tiers):
        try_rows = bound[rows] >= target[rows]
        if i == 0 or bool(try_rows.any()):
            tried = rows[try_rows]
            if 2 * tried.numel() > batch:  # cheaper to look at every row than to copy most of them
                tried = torch.arange(batch)
            sub = probs if tried.numel() == batch else probs[tried]
            top = torch.topk(sub, m, dim=-1, sorted=True).values
            cumulative = top.cumsum(-1, dtype=torch.float64)
            position = (cumulative < target[tried, None]).sum(-1)  # first position reaching p
            done = position < m
            t = top.gather(1, position.clamp(max=m - 1)[:, None])[:, 0]
            n = position + 1 - torch.count_nonzero(top > t[:, None], dim=-1)
            # every tie of t is kept when they all lie among the m tokens and are all needed
            a = (torch.count_nonzero(top == t[:, None], dim=-1) == n) & (top[:, -1] < t)
            solved = tried[done]
            tau[solved], n_ties[solved], all_ties[solved] = t[done], n[done], a[done]
            rows = rows[~torch.isin(rows, solved)]
            if i + 1 < len(tiers):  # the next tier adds tokens no more probable than the last seen
                bound[tried] = cumulative[:, -1] + (min(tiers[i + 1], vocab) - m) * top[:, -1].double()
        if rows.numel() == 0:
            break
    if rows.numel():
        rows = rows.sort().values
        sub = probs if rows.numel() == batch else probs[rows]
        tau[rows], n_ties[rows], all_ties[rows] = _radix_threshold(sub, p)
    return _outside(probs, tau, n_ties, all_ties)


def _radix_threshold(probs: torch.Tensor, p: float):
    """Per row: the probability ``tau`` of the token whose cumulative mass crosses ``p``, how many
    tokens equal to ``tau`` the nucleus keeps, and whether that is all of them. When rounding leaves
    the total mass below ``p`` the row keeps every nonzero token (``tau = 0``, no tie kept)."""
    rows, vocab = probs.shape
    if probs.dtype == torch.float64:  # keep the sign, 11 exponent bits and 4 mantissa bits
        bits, shift, mantissa, one = probs.view(torch.int64), 48, 4, 1023
    else:  # keep the sign, 8 exponent bits and 7 mantissa bits
        bits, shift, mantissa, one = probs.view(torch.int32), 16, 7, 127
    # Bucket by the high bits of each value: buckets are non-decreasing in the value (values are
    # >= 0). Values below 2**-32 share bucket 0 (exact, only slower when the nucleus reaches them).
    lowest = (one - 32) << mantissa  # the bucket of 2**-32
    buckets = torch.bitwise_right_shift(bits, shift, out=torch.empty(bits.shape, dtype=torch.int64))
    buckets.sub_(lowest).clamp_(min=0)
    n_buckets = int(buckets.max()) + 1
    probs64 = probs.double()
    mass = torch.zeros(rows, n_buckets, dtype=torch.float64).scatter_add_(1, buckets, probs64)
    running = mass.cumsum(-1)  # mass of the buckets <= b (non-decreasing, also in floating point)
    total = running[:, -1]
    target = p * total
    below = torch.cat([torch.zeros(rows, 1, dtype=torch.float64), running[:, :-1]], dim=1)  # buckets < b
    # the highest nonempty bucket b whose mass-at-or-above, total - below[b], reaches the target
    reaches = ((total[:, None] - below) >= target[:, None]) & (mass > 0)
    crossing = torch.where(reaches.any(-1), n_buckets - 1 - reaches.flip(-1).int().argmax(-1), -1)
    tau = torch.zeros(rows, dtype=probs.dtype)
    n_ties = torch.zeros(rows, dtype=torch.long)
    all_ties = torch.zeros(rows, dtype=torch.bool)
    ok = crossing >= 0
    if not bool(ok.any()):
        return tau, n_ties, all_ties
    idx = ok.nonzero().squeeze(1)
    c = crossing[idx]
    above = total[idx] - running[idx, c]  # mass of the buckets > c
    # the tokens of the crossing bucket, sorted by value (descending, ties by index) within each row
    in_bucket = (buckets if idx.numel() == rows else buckets[idx]) == c[:, None]
    cand_row, cand_col = in_bucket.nonzero(as_tuple=True)
    values = probs64[idx[cand_row], cand_col]
    order = torch.sort(values, descending=True, stable=True).indices
    order = order[torch.sort(cand_row[order], stable=True).indices]
    cand_row, values = cand_row[order], values[order]
    counts = torch.bincount(cand_row, minlength=idx.numel())
    starts = counts.cumsum(0) - counts
    slot = torch.arange(cand_row.numel()) - starts[cand_row]
    padded = torch.zeros(idx.numel(), int(counts.max()), dtype=torch.float64)
    padded[cand_row, slot] = values
    cumulative = above[:, None] + padded.cumsum(-1)
    j = torch.minimum((cumulative < target[idx, None]).sum(-1), counts - 1)  # rounding may leave the bucket short
    t = padded[torch.arange(idx.numel()), j]
    tau[idx] = t.to(probs.dtype)
    n_ties[idx] = j + 1 - torch.count_nonzero(padded > t[:, None], dim=-1)
    # every tie of tau lies in this bucket
    all_ties[idx] = torch.count_nonzero(padded == t[:, None], dim=-1) == n_ties[idx]  # t > 0 = padding
    return tau, n_ties, all_ties


def processors_for(temperature=1.0, top_k=None, top_p=None, min_p=None) -> list:
    """The processors of a sampling setting, in transformers' order: temperature, top-k, top-p, min-p.

    Settings that change nothing are left out (``temperature=1``, ``top_k=None``, ``top_p=None``
    or ``1``, ``min_p=None``), as transformers does.
    """
    out = []
    if as_temperature(temperature) != 1.0:
        out.append(Temperature(temperature))
    if top_k is not None:
        out.append(TopK(top_k))
    if top_p is not None and _check_p(top_p) < 1.0:
        out.append(TopP(top_p))
    if min_p is not None:
        out.append(MinP(min_p))
    return out
