"""lmsample: how text is sampled from language models.

The numpy half (imported here, light): every graded method of the course on a single
distribution. The torch half (batched processors, ``generate``, ``load_model``) is loaded on
first use, so ``import lmsample`` never imports torch or transformers.
"""
from __future__ import annotations

from ._lazy import lazy_getattr

from .chain import (
    STEP_NAMES,
    apply_chain,
    chain_trace,
    epsilon_filter,
    eta_filter,
    eta_threshold,
    repetition_penalty,
    sample_chain,
    top_n_sigma_filter,
    typical_filter,
    typical_order,
)
from .decoding import EOS, beam_search, exhaustive_best, greedy_decode, sequence_prob
from .metrics import Spread, distinct_n, ends_in_repetition, final_loop, ngrams, perplexity, pooled_distinct_n, repetition, seed_spread
from .sampling import derail_probability, descending_order, draw, inverse_cdf_sample, tail_mass
from .temperature import apply_temperature, entropy, softmax, softmax_t, temperature_for_max_prob, temperature_table
from .truncation import min_p_filter, nucleus_size, sample_next, top_k_filter, top_p_filter
from .tuning import choose_k, choose_p, coverage_curve, golden_cdf, golden_probability_under_top_k, golden_rank, strict_rank

__version__ = "0.1.0"

#: The exercise contracts of the curriculum, in lesson order.
EXERCISES = {
    "01-greedy": ("greedy_decode", "sequence_prob", "beam_search", "exhaustive_best"),
    "02-ancestral": ("inverse_cdf_sample", "draw", "tail_mass", "derail_probability"),
    "03-temperature": ("softmax", "apply_temperature", "temperature_table", "entropy"),
    "04-limits": ("softmax_t", "temperature_for_max_prob"),
    "05-top-k-top-p": ("top_k_filter", "top_p_filter", "nucleus_size", "min_p_filter", "sample_next"),
    "06-gpt2": ("golden_rank", "golden_cdf", "choose_k", "choose_p", "distinct_n", "perplexity"),
    "07-chain": ("typical_filter", "epsilon_filter", "eta_filter", "top_n_sigma_filter", "repetition_penalty",
                 "apply_chain", "sample_chain"),
}

# name -> submodule for the torch half, imported on first attribute access (PEP 562)
_LAZY = {
    "Temperature": "processors",
    "TopK": "processors",
    "TopP": "processors",
    "MinP": "processors",
    "processors_for": "processors",
    "Typical": "processors",
    "Epsilon": "processors",
    "Eta": "processors",
    "TopNSigma": "processors",
    "RepetitionPenalty": "processors",
    "chain_processors": "processors",
    "generate": "generation",
    "load_model": "models",
    "gpt2_tokenizer": "models",
    "tiny_gpt2": "models",
    "ModelFallbackWarning": "models",
    "golden_tokens": "golden",
    "suggest_k_p": "golden",
    "held_out_text": "golden",
    "token_logprobs": "golden",
    "quality": "golden",
    "load_generations": "precomputed",
}


__getattr__ = lazy_getattr(__name__, _LAZY, globals())


__all__ = [name for names in EXERCISES.values() for name in names] + [
    "EOS",
    "EXERCISES",
    "STEP_NAMES",
    "chain_trace",
    "eta_threshold",
    "typical_order",
    "descending_order",
    "ends_in_repetition",
    "final_loop",
    "ngrams",
    "pooled_distinct_n",
    "repetition",
    "seed_spread",
    "Spread",
    "strict_rank",
    "coverage_curve",
    "golden_probability_under_top_k",
    *_LAZY,
]
