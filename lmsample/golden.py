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

import numpy as np
import torch

from .metrics import ngrams, perplexity, repetition
from .tuning import choose_k, choose_p, golden_cdf, golden_rank, strict_rank

__all__ = [
    "GoldenTokens",
    "Suggestion",
    "golden_tokens",
    "suggest_k_p",
    "held_out_text",
    "windows",
    "token_logprobs",
    "quality",
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
    top_probs: np.ndarray | None = None  # probability of the model's top choice
    head_masses: np.ndarray | None = None  # [i, k - 1]: total probability of the k most probable tokens, k <= head

    @property
    def perplexity(self) -> float:
        """The model's perplexity on the text."""
        return perplexity(self.logprobs)


@dataclass
class Suggestion:
    """The ``k`` and ``p`` that keep the golden token at a fraction ``coverage`` of positions."""

    k: int
    p: float
    coverage: float
    k_coverage: float  # fraction of positions whose golden rank is <= k
    p_coverage: float  # fraction of positions whose golden CDF is <= p
    positions: int

    def __str__(self) -> str:
        return (
            f"top-k: k = {self.k} keeps the golden token at {self.k_coverage:.1%} of {self.positions} positions\n"
            f"top-p: p = {self.p:.4f} keeps the golden token at {self.p_coverage:.1%} of {self.positions} positions\n"
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
def golden_tokens(model, tokenizer, text: str | None = None, *, window: int = 128, batch_size: int = 4, progress: bool = True,
                  head: int = 100) -> GoldenTokens:
    """Golden-token ranks, CDFs and log-probabilities of ``text`` (default: :func:`held_out_text`) under ``model``,
    with the strict ranks, the entropy and top probability of each distribution and the mass of its
    ``head`` most probable tokens."""
    from tqdm.auto import tqdm

    text = held_out_text() if text is None else text
    ids = torch.tensor(tokenizer.encode(text, add_special_tokens=False), dtype=torch.long)
    if ids.numel() < 2:
        raise ValueError("text must have at least two tokens")
    spans = windows(ids.numel(), window)
    width = min(window, ids.numel())
    ranks, cdfs, logprobs, strict, entropies, top, heads = [], [], [], [], [], [], []
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
            strict.append(strict_rank(rows.numpy(), targets.numpy()))
            entropies.append(-(logp.exp() * logp).sum(-1).numpy())
            head_probs = logp.topk(min(head, logp.shape[-1]), dim=-1).values.exp()
            top.append(head_probs[:, 0].numpy())
            heads.append(head_probs.cumsum(-1).numpy())
            bar.update(len(targets))
    bar.close()
    join = np.concatenate
    return GoldenTokens(ids.numpy(), join(ranks), join(cdfs), join(logprobs), join(strict), join(entropies), join(top), join(heads))


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

