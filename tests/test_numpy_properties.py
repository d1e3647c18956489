"""Property-based tests (hypothesis) of the invariants the course relies on."""
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lmsample import (
    EOS,
    apply_temperature,
    beam_search,
    entropy,
    exhaustive_best,
    greedy_decode,
    min_p_filter,
    nucleus_size,
    sequence_prob,
    top_k_filter,
    top_p_filter,
)
from toy_models import all_finished_sequences, random_lm

# derandomize: CI runs the same examples every time
settings.register_profile("lmsample", deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("lmsample")


@st.composite
def distributions(draw, max_size=12, allow_zeros=True, allow_ties=True):
    """Probability vectors: continuous, with exact zeros, or on a coarse grid (so with ties)."""
    size = draw(st.integers(1, max_size))
    kind = draw(st.sampled_from(["continuous", "grid"] if allow_ties else ["continuous"]))
    if kind == "grid":
        weights = np.array(draw(st.lists(st.integers(0 if allow_zeros else 1, 8), min_size=size, max_size=size)), float)
    else:
        weights = np.array(draw(st.lists(st.floats(1e-6, 1.0), min_size=size, max_size=size)))
        if allow_zeros:
            zeros = draw(st.lists(st.booleans(), min_size=size, max_size=size))
            weights[np.array(zeros)] = 0.0
    if weights.sum() == 0:
        weights[draw(st.integers(0, size - 1))] = 1.0
    return weights / weights.sum()


def check_filter_output(probs, out):
    assert out.shape == probs.shape
    assert abs(out.sum() - 1.0) < 1e-12
    assert np.all(out >= 0)
    kept = out > 0
    assert np.all(probs[kept] > 0), "a filter never creates mass where there was none"
    # kept tokens keep their relative sizes
    assert np.allclose(out[kept], probs[kept] / probs[kept].sum(), rtol=1e-12, atol=0)
    return kept


@given(distributions(), st.integers(1, 15))
def test_top_k_keeps_a_subset_of_size_min_k(probs, k):
    out = top_k_filter(probs, k)
    kept = check_filter_output(probs, out)
    assert kept.sum() <= k
    # every removed token is no more probable than every kept one
    if (~kept).any():
        assert probs[~kept].max() <= probs[kept].min()


@given(distributions(), st.floats(1e-6, 1.0))
def test_top_p_is_the_shortest_prefix_reaching_p(probs, p):
    out = top_p_filter(probs, p)
    kept = check_filter_output(probs, out)
    assert kept.sum() == nucleus_size(probs, p) >= 1
    kept_probs = np.sort(probs[kept])[::-1]
    if (~kept).any() and kept.sum() < np.count_nonzero(probs):
        assert probs[~kept].max() <= kept_probs[-1]
        assert kept_probs.sum() >= p - 1e-12  # reaches p ...
    if kept.sum() > 1:
        assert kept_probs[:-1].sum() < p  # ... and one token fewer would not


@given(distributions(), st.floats(0.0, 1.0))
def test_min_p_keeps_exactly_the_tokens_above_the_threshold(probs, min_p):
    out = min_p_filter(probs, min_p)
    kept = check_filter_output(probs, out)
    threshold = min_p * probs.max()
    assert np.array_equal(kept, (probs >= threshold) & (probs > 0))


@given(distributions(allow_zeros=True), st.floats(0.05, 20.0), st.floats(1.01, 5.0))
def test_entropy_falls_as_temperature_falls(probs, t, factor):
    hot, cold = apply_temperature(probs, t * factor), apply_temperature(probs, t)
    assert entropy(cold) <= entropy(hot) + 1e-12
    assert np.array_equal(cold > 0, probs > 0)  # temperature never changes the support


@given(distributions(), st.floats(0.05, 20.0))
def test_temperature_keeps_the_order_of_tokens(probs, t):
    out = apply_temperature(probs, t)
    order = np.argsort(-probs, kind="stable")
    assert np.all(np.diff(out[order]) <= 1e-15)


lm_params = st.tuples(st.integers(0, 10_000), st.integers(1, 3), st.sampled_from([0.3, 1.0, 3.0]), st.sampled_from([0, 4, 8]))


@given(lm_params, st.integers(1, 6))
def test_beam_width_1_equals_greedy(params, max_len):
    seed, vocab, eos_weight, grid = params
    lm = random_lm(seed, vocab, eos_weight, grid)
    seq, prob = beam_search(lm, 1, max_len=max_len)
    assert seq == greedy_decode(lm, max_len=max_len)
    assert prob == sequence_prob(lm, seq)


@given(lm_params, st.integers(1, 4), st.integers(1, 5))
def test_exhaustive_is_never_beaten_and_is_the_true_optimum(params, width, max_len):
    seed, vocab, eos_weight, grid = params
    lm = random_lm(seed, vocab, eos_weight, grid)
    best_seq, best_prob = exhaustive_best(lm, max_len=max_len)
    finished = all_finished_sequences(lm, max_len)
    if finished:
        truth = min(finished, key=lambda sp: (-sp[1], sp[0]))
        assert (best_seq, best_prob) == truth
    beam_seq, beam_prob = beam_search(lm, width, max_len=max_len)
    assert beam_prob == sequence_prob(lm, beam_seq)
    if beam_seq[-1] == EOS:
        assert best_prob >= beam_prob


@given(lm_params, st.integers(1, 5))
def test_a_beam_that_holds_every_path_is_exhaustive_search(params, max_len):
    # with at most (vocab + 1) ** max_len paths nothing is ever pruned, so both searches see all
    seed, vocab, eos_weight, grid = params
    lm = random_lm(seed, vocab, eos_weight, grid)
    width = (vocab + 1) ** max_len
    assert beam_search(lm, width, max_len=max_len) == exhaustive_best(lm, max_len=max_len)
