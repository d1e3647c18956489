"""Autoregressive generation with a KV cache: greedy or sampled, with the processors of
:mod:`lmsample.processors`.

One step: run the model on the new token(s) (the cache holds the keys and values of the
earlier ones), take the last position's logits, apply the repetition penalty, temperature, top-k,
top-p, min-p, typical, epsilon and eta in that order (transformers' order), or the processors of an
explicit chain of ``steps``, and draw one token per row from the softmax. A row that produced the model's end
token is finished: it receives the pad token from then on, and generation stops when every row
is finished. This is what transformers' ``model.generate`` does, step for step and draw for
draw, so with the same seed both return the same tokens.
"""
from __future__ import annotations

import inspect
from typing import Optional

import torch

from ._checks import as_int, as_temperature
from .processors import chain_processors, processors_for

__all__ = ["generate", "end_token_ids"]


def end_token_ids(model) -> list:
    """The end-of-sequence token ids of ``model`` (its generation config first, then its config)."""
    for config in (getattr(model, "generation_config", None), getattr(model, "config", None)):
        eos = getattr(config, "eos_token_id", None)
        if eos is not None:
            return [int(e) for e in (eos if isinstance(eos, (list, tuple)) else [eos])]
    return []


def _pad_token_id(model, eos: list) -> Optional[int]:
    pad = getattr(getattr(model, "generation_config", None), "pad_token_id", None)
    if pad is None:
        pad = getattr(getattr(model, "config", None), "pad_token_id", None)
    if isinstance(pad, (list, tuple)):
        pad = pad[0] if pad else None
    return int(pad) if pad is not None else (eos[0] if eos else None)


def _cache_argument(parameters) -> str:
    """The name under which ``model.forward`` takes (and its output returns) the KV cache.

    transformers 5.24 renamed ``past_key_values`` to ``cache`` (the old name warns, and goes in
    5.40); earlier releases, back to the 4.40 that Colab may still have, only know
    ``past_key_values``. Decided by what the forward signature declares, not by version number,
    so a model class that has not been migrated yet keeps working too.
    """
    return "cache" if "cache" in parameters else "past_key_values"


def generate(
    model,
    input_ids,
    max_new_tokens: int,
    *,
    temperature: float = 1.0,
    top_k: Optional[int] = None,
    top_p: Optional[float] = None,
    min_p: Optional[float] = None,
    typical: Optional[float] = None,
    epsilon: Optional[float] = None,
    eta: Optional[float] = None,
    repetition_penalty: Optional[float] = None,
    steps=None,
    generator: Optional[torch.Generator] = None,
) -> torch.Tensor:
    """Continue ``input_ids`` (shape ``(batch, length)``, or ``(length,)``) by up to
    ``max_new_tokens`` tokens; returns the prompt followed by the new tokens.

    ``temperature=0`` is greedy decoding (the first maximum; as in transformers, the filters are
    not applied then, the repetition penalty is). Otherwise each token is drawn from the softmax of the logits after
    :class:`~lmsample.processors.Temperature`, :class:`~lmsample.processors.TopK`,
    :class:`~lmsample.processors.TopP` and :class:`~lmsample.processors.MinP`, with
    ``generator`` as the only source of randomness (the global torch generator if ``None``).
    With ``generator=torch.Generator().manual_seed(s)`` the result equals
    ``model.generate(input_ids, do_sample=True, max_new_tokens=..., temperature=..., top_k=...,
    top_p=..., min_p=...)`` run after ``torch.manual_seed(s)``; ``typical``, ``epsilon``, ``eta`` and
    ``repetition_penalty`` are transformers' ``typical_p``, ``epsilon_cutoff``, ``eta_cutoff`` and
    ``repetition_penalty``, in transformers' order (see :func:`~lmsample.processors.processors_for`).

    ``steps`` gives the order explicitly instead: a sequence of ``(name, value)`` pairs as
    :func:`lmsample.apply_chain` takes them (e.g. ``[("min_p", 0.1), ("temperature", 2)]``, see
    :func:`~lmsample.processors.chain_processors`); the tokens are drawn from the softmax of what the
    chain leaves (``("temperature", 0)`` samples among the tied maxima). It replaces ``temperature``,
    ``top_k``, ``top_p``, ``min_p``, ``typical``, ``epsilon`` and ``eta``, which must then be left
    unset. ``repetition_penalty`` goes with either: as in transformers it reads the raw logits, before
    temperature and every filter (it is also a step name, for a chain that wants it elsewhere). It
    applies to greedy decoding too.

    Rows stop at the model's end token as in transformers: a finished row is padded with the pad
    token (the end token when the model has none) until every row has finished.
    """
    greedy, processors = _processors(temperature, top_k, top_p, min_p, typical, epsilon, eta, repetition_penalty, steps)
    # Inference mode rather than no_grad (what transformers uses): the same kernels, so the same
    # numbers, without autograd's per-operation bookkeeping, about 5% of a SmolLM2-135M step.
    # The result is copied out so that the caller gets an ordinary tensor.
    with torch.inference_mode():
        ids = _generate(model, input_ids, max_new_tokens, greedy, processors, generator)
    return ids.clone()


def _processors(temperature, top_k, top_p, min_p, typical, epsilon, eta, repetition_penalty, steps):
    """Whether decoding is greedy, and the processors of one step (every setting checked)."""
    penalty = processors_for(repetition_penalty=repetition_penalty)
    if steps is not None:
        replaced = dict(top_k=top_k, top_p=top_p, min_p=min_p, typical=typical, epsilon=epsilon, eta=eta)
        given = (["temperature"] if temperature != 1.0 else []) + [k for k, v in replaced.items() if v is not None]
        if given:
            raise ValueError(
                f"steps gives the whole chain in its order: leave {', '.join(given)} unset and put "
                f"{'it' if len(given) == 1 else 'them'} in steps"
            )
        return False, penalty + chain_processors(steps)
    greedy = as_temperature(temperature, allow_zero=True) == 0.0
    # checked even when greedy, so that a typo fails the same way in both modes
    processors = processors_for(1.0 if greedy else temperature, top_k, top_p, min_p, typical, epsilon, eta)
    if greedy:
        return True, penalty  # the penalty changes the logits greedy decoding reads, as in transformers
    return False, penalty + processors


def _generate(model, input_ids, max_new_tokens, greedy, processors, generator) -> torch.Tensor:
    if not isinstance(input_ids, torch.Tensor):
        input_ids = torch.as_tensor(input_ids)
    squeeze = input_ids.ndim == 1
    ids = input_ids[None] if squeeze else input_ids
    if ids.ndim != 2 or ids.shape[1] == 0 or ids.dtype not in (torch.int64, torch.int32):
        raise ValueError(f"input_ids must be a non-empty (batch, length) tensor of token ids, got {tuple(ids.shape)} {ids.dtype}")
    ids = ids.long()
    max_new_tokens = as_int(max_new_tokens, "max_new_tokens", minimum=0)
    eos = end_token_ids(model)
    eos_tensor = torch.tensor(eos, dtype=torch.long, device=ids.device)
    pad = _pad_token_id(model, eos)
    device = ids.device

    parameters = inspect.signature(model.forward).parameters
    cache_name = _cache_argument(parameters)
    forward_kwargs = {"use_cache": True}
    if "logits_to_keep" in parameters:
        forward_kwargs["logits_to_keep"] = 1  # the prompt's other positions need no logits
    unfinished = torch.ones(ids.shape[0], dtype=torch.bool, device=device)
    step_input, past = ids, None
    for _ in range(max_new_tokens):
        # no attention mask: every row has the same length, and a mask of ones is what the model
        # assumes without one (transformers passes it and then sets it aside)
        out = model(input_ids=step_input, **{cache_name: past}, **forward_kwargs)
        past = getattr(out, cache_name)
        scores = out.logits[:, -1, :].to(dtype=torch.float32)
        for process in processors:
            scores = process(ids, scores)
        if greedy:
            next_tokens = scores.argmax(dim=-1)
        else:
            probs = torch.softmax(scores, dim=-1)
            next_tokens = torch.multinomial(probs, num_samples=1, generator=generator).squeeze(1)
        if eos:
            next_tokens = torch.where(unfinished, next_tokens, pad)
        ids = torch.cat([ids, next_tokens[:, None]], dim=-1)
        if eos:
            unfinished &= ~torch.isin(next_tokens, eos_tensor)
            if not bool(unfinished.any()):
                break
        step_input = next_tokens[:, None]
    return ids[0] if squeeze else ids
