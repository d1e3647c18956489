"""Golden-token tuning with a real model: where does the real next token of a held-out text fall?

:func:`golden_tokens` runs the model over a text (in windows of at most ``window`` tokens, a few
windows per forward pass, under ``torch.no_grad``, with a progress bar) and, at every position,
scores the token that really comes next with the numpy contracts :func:`lmsample.golden_rank`
and :func:`lmsample.golden_cdf`. :func:`suggest_k_p` turns those into the ``k`` and ``p`` that keep
the golden token at a chosen fraction of positions (:func:`lmsample.choose_k`,
:func:`lmsample.choose_p`).

Long texts are cut into windows that overlap by half: every token after the first is scored
exactly once, with at least ``window // 2`` tokens of context (all the earlier tokens near the
start of the text).
"""
from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from typing import Optional

import numpy as np
import torch

from ._checks import as_logits
from .metrics import ngrams, perplexity, repetition
from .temperature import _stable_softmax
from .tuning import _ahead, choose_k, choose_p, golden_cdf, golden_rank

__all__ = [
    "GoldenTokens",
    "Suggestion",
    "golden_tokens",
    "suggest_k_p",
    "held_out_text",
    "windows",
    "token_logprobs",
    "quality",
    "order_statistics",
]


def held_out_text() -> str:
    """The held-out text shipped with lmsample (public domain; see ``lmsample/data/SOURCES.md``)."""
    return resources.files("lmsample").joinpath("data/constitution.txt").read_text(encoding="utf-8")


@dataclass
class GoldenTokens:
    """Per-position results of :func:`golden_tokens` (position ``i`` scores token ``i + 1``)."""

    token_ids: np.ndarray  # the text's tokens, shape (n,)
    ranks: np.ndarray  # golden-token rank at each scored position, shape (n - 1,)
    cdfs: np.ndarray  # golden-token CDF at each scored position, shape (n - 1,)
    logprobs: np.ndarray  # natural log-probability of the golden token, shape (n - 1,)
    strict_ranks: np.ndarray | None = None  # the k top-k needs under the lower-index rule (tuning.strict_rank)
    entropies: np.ndarray | None = None  # entropy (nats) of the model's next-token distribution
    head_masses: np.ndarray | None = None  # [i, k - 1]: total probability of the k most probable tokens, k <= head
    # What lmsample.explorers.GoldenPositionExplorer shows (None when made by hand):
    top_ids: Optional[np.ndarray] = None  # the most probable tokens at each position, descending, shape (n - 1, n_top)
    top_probs: Optional[np.ndarray] = None  # their probabilities, shape (n - 1, n_top); [:, 0] is the top choice's
    # the probability of the tokens before the golden one in the descending order (ties: lower index first), summed
    # in that order: top_p_filter keeps it exactly when p > mass_ahead (or p = 1). Without ties
    # mass_ahead = cdf - its own probability, so the CDF is a p that keeps it, not the smallest; with a tie at a
    # lower index mass_ahead >= cdf and p = cdf drops it. (top_k_filter keeps it exactly when k >= strict_ranks.)
    mass_ahead: Optional[np.ndarray] = None

    def keeps(self, k: Optional[int] = None, p: Optional[float] = None) -> np.ndarray:
        """At each position, whether top-k with this ``k`` and top-p with this ``p`` (each applied alone to the
        model's distribution at temperature 1; ``None`` = that filter off) keep the golden token: exactly what
        :func:`lmsample.top_k_filter` and :func:`lmsample.top_p_filter` do, ties included."""
        if self.strict_ranks is None or self.mass_ahead is None:
            raise ValueError("golden has no strict_ranks / mass_ahead: make it with lmsample.golden_tokens")
        kept = np.ones(self.ranks.shape, dtype=bool)
        if k is not None:
            if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
                raise ValueError(f"k must be an integer >= 1 or None, got {k!r}")
            kept &= self.strict_ranks <= k
        if p is not None:
            if isinstance(p, bool) or not isinstance(p, (int, float, np.floating, np.integer)) or not 0.0 < p <= 1.0:
                raise ValueError(f"p must be in (0, 1] or None, got {p!r}")
            if p < 1.0:
                kept &= self.mass_ahead < p
        return kept

    @property
    def perplexity(self) -> float:
        """The model's perplexity on the text."""
        return perplexity(self.logprobs)


@dataclass
class Suggestion:
    """The smallest ``k`` and ``p`` whose golden ranks and CDFs are within them at a fraction ``coverage`` of
    positions (:func:`choose_k`, :func:`choose_p`). Both counts give ties to the golden token (optimistic), and a
    CDF <= p is enough, not necessary, for top-p to keep it (it keeps the token that crosses p):
    :meth:`GoldenTokens.keeps` gives what the filters really keep."""

    k: int
    p: float
    coverage: float
    k_coverage: float  # fraction of positions whose golden rank is <= k
    p_coverage: float  # fraction of positions whose golden CDF is <= p
    positions: int

    def __str__(self) -> str:
        return (
            f"top-k: k = {self.k}: golden rank <= k at {self.k_coverage:.1%} of {self.positions} positions\n"
            f"top-p: p = {self.p:.4f}: golden CDF <= p at {self.p_coverage:.1%} of {self.positions} positions\n"
            f"(target coverage {self.coverage:.1%})"
        )


def windows(n_tokens: int, window: int) -> list:
    """``(start, first_scored)`` pairs: windows ``ids[start:start + window]`` of a text of ``n_tokens``
    tokens that overlap by half, and the first target index each one scores.

    Target ``j`` (predicted from position ``j - 1``) is scored by exactly one window. Every window
    has the same length, ``min(window, n_tokens)``, so they batch without padding.
    """
    if window < 2:
        raise ValueError(f"window must be >= 2, got {window}")
    width = min(window, n_tokens)
    stride = max(width // 2, 1)
    out, next_target, start = [], 1, 0
    while next_target < n_tokens:
        start = min(start, n_tokens - width)
        out.append((start, next_target))
        next_target = start + width
        start += stride
    return out


@torch.no_grad()
def golden_tokens(model, tokenizer, text: str | None = None, *, window: int = 128, batch_size: int = 4,
                  progress: bool = True, n_top: int = 20, head: int = 100) -> GoldenTokens:
    """Golden-token ranks, CDFs and log-probabilities of ``text`` (default: :func:`held_out_text`) under ``model``,
    with the strict ranks, the entropy of each distribution and the mass of its ``head`` most probable tokens,
    and at each position the ``n_top`` most probable tokens and the mass ahead of the golden one
    (:class:`GoldenTokens`)."""
    from tqdm.auto import tqdm

    text = held_out_text() if text is None else text
    ids = torch.tensor(tokenizer.encode(text, add_special_tokens=False), dtype=torch.long)
    if ids.numel() < 2:
        raise ValueError("text must have at least two tokens")
    spans = windows(ids.numel(), window)
    width = min(window, ids.numel())
    if isinstance(n_top, bool) or not isinstance(n_top, int) or n_top < 1:
        raise ValueError(f"n_top must be an integer >= 1, got {n_top!r}")
    ranks, cdfs, logprobs, entropies, heads, stats = [], [], [], [], [], []
    bar = tqdm(total=ids.numel() - 1, desc="golden tokens", unit="tok", disable=not progress)
    for b in range(0, len(spans), batch_size):
        batch = spans[b : b + batch_size]
        inputs = torch.stack([ids[s : s + width] for s, _ in batch])
        logits = model(input_ids=inputs).logits.float()
        for row, (start, first) in enumerate(batch):
            positions = slice(first - 1 - start, width - 1)  # position i predicts token start + i + 1
            rows = logits[row, positions]
            targets = ids[first : start + width]
            ranks.append(golden_rank(rows.numpy(), targets.numpy()))
            cdfs.append(golden_cdf(rows.numpy(), targets.numpy()))
            logp = torch.log_softmax(rows.double(), -1)
            logprobs.append(logp.gather(1, targets[:, None])[:, 0].numpy())
            entropies.append(-(logp.exp() * logp).sum(-1).numpy())
            heads.append(logp.topk(min(head, logp.shape[-1]), dim=-1).values.exp().cumsum(-1).numpy())
            stats.append(order_statistics(rows.numpy(), targets.numpy(), n_top))
            bar.update(len(targets))
    bar.close()
    join = np.concatenate
    top_ids, top_probs, strict, mass_ahead = (join(column) for column in zip(*stats))
    return GoldenTokens(ids.numpy(), join(ranks), join(cdfs), join(logprobs), strict_ranks=strict,
                        entropies=join(entropies), head_masses=join(heads), top_ids=top_ids, top_probs=top_probs,
                        mass_ahead=mass_ahead)


def order_statistics(logits, targets, n_top: int = 20):
    """Per row of ``logits`` (shape ``(N, V)``), with ``probs`` its softmax (as :func:`lmsample.softmax`):
    ``(top_ids, top_probs, strict_ranks, mass_ahead)``, the ``n_top`` most probable tokens in descending order
    (ties: lower index first) and their probabilities, the target's 1-based place in that order
    (:func:`lmsample.strict_rank`) and the probability of the tokens before it, summed in that order (as
    :func:`lmsample.top_p_filter` sums). See :class:`GoldenTokens`.
    """
    logits = as_logits(logits, ndim=2)
    probs = _stable_softmax(logits, 1.0)
    targets = np.asarray(targets, dtype=np.int64)
    n, v = probs.shape
    n_top = min(n_top, v)
    ahead = _ahead(logits, targets)
    strict = 1 + ahead.sum(axis=1).astype(np.int64)
    mass_ahead = np.zeros(n)
    top_ids = np.empty((n, n_top), dtype=np.int64)
    for r in range(n):
        before = np.flatnonzero(ahead[r])  # ascending indices, so a stable sort breaks ties by the lower index
        if before.size:
            mass_ahead[r] = np.cumsum(probs[r, before[np.argsort(-probs[r, before], kind="stable")]])[-1]
        threshold = np.partition(probs[r], v - n_top)[v - n_top]  # the n_top-th largest probability
        candidates = np.flatnonzero(probs[r] >= threshold)
        top_ids[r] = candidates[np.argsort(-probs[r, candidates], kind="stable")[:n_top]]
    return top_ids, probs[np.arange(n)[:, None], top_ids], strict, mass_ahead


def suggest_k_p(golden: GoldenTokens, coverage: float = 0.95) -> Suggestion:
    """The smallest ``k`` and ``p`` keeping the golden token at a fraction ``coverage`` of positions."""
    k = choose_k(golden.ranks, coverage)
    p = choose_p(golden.cdfs, coverage)
    return Suggestion(
        k=k,
        p=p,
        coverage=float(coverage),
        k_coverage=float(np.mean(golden.ranks <= k)),
        p_coverage=float(np.mean(golden.cdfs <= p)),
        positions=int(golden.ranks.size),
    )


@torch.no_grad()
def token_logprobs(model, input_ids, start: int = 1) -> np.ndarray:
    """Natural log-probabilities under ``model`` of the tokens ``input_ids[:, start:]`` given the
    tokens before them; shape ``(batch, length - start)``. With ``start`` = the prompt's length
    this scores generated continuations (one forward pass)."""
    ids = torch.as_tensor(input_ids, dtype=torch.long)
    ids = ids[None] if ids.ndim == 1 else ids
    if not 1 <= start < ids.shape[1]:
        raise ValueError(f"start must be in [1, {ids.shape[1]}), got {start}")
    logits = model(input_ids=ids).logits[:, start - 1 : -1].double()
    return torch.log_softmax(logits, -1).gather(2, ids[:, start:, None])[..., 0].numpy()


def quality(model, sequences, prompt_length: int) -> dict:
    """Quality and diversity of generated continuations (rows of ``sequences`` after ``prompt_length``
    tokens): perplexity under ``model`` (all rows together), distinct-1 and distinct-2 (all rows
    pooled, over n-grams within each row), and the repetition fraction of Holtzman et al. (2020).

    Compare settings side by side (greedy, beam, pure sampling, temperature, top-k, top-p, tuned)
    by calling it on each one's output. Rows should not contain padding (stop at the end token
    first, or generate without an end token).
    """
    ids = torch.as_tensor(sequences, dtype=torch.long)
    ids = ids[None] if ids.ndim == 1 else ids
    continuations = [row[prompt_length:].tolist() for row in ids]
    grams = {n: [g for row in continuations for g in ngrams(row, n)] for n in (1, 2)}
    return {
        "perplexity": perplexity(token_logprobs(model, ids, prompt_length).ravel()),
        "distinct_1": len(set(grams[1])) / len(grams[1]) if grams[1] else 0.0,
        "distinct_2": len(set(grams[2])) / len(grams[2]) if grams[2] else 0.0,
        "repetition": repetition(continuations),
    }

