"""The sampler chain (lesson 07): typical, epsilon, eta, top-n-sigma, the repetition penalty and chains.

Expected values are computed by hand in the comments; the dyadic distribution D keeps the sums exact.
"""
import math

import numpy as np
import pytest

from lmsample import (
    apply_chain,
    chain_trace,
    entropy,
    epsilon_filter,
    eta_filter,
    eta_threshold,
    inverse_cdf_sample,
    min_p_filter,
    repetition_penalty,
    sample_chain,
    softmax,
    top_k_filter,
    top_n_sigma_filter,
    top_p_filter,
    typical_filter,
    typical_order,
)
from stats import assert_frequencies_match

D = [0.5, 0.25, 0.125, 0.125]  # H = 1.75 bits = 1.75 ln 2 nats; -log2 p = 1, 2, 3, 3 bits
P4 = [0.4, 0.3, 0.2, 0.1]


def close(got, expected, tol=1e-12):
    got, expected = np.asarray(got), np.asarray(expected, dtype=float)
    return got.shape == expected.shape and bool(np.all(np.abs(got - expected) <= tol)) and bool(np.all(got[expected == 0] == 0))


# ------------------------------------------------------------------------------------ typical
def test_typical_order_by_distance_from_the_entropy():
    # distances in bits: |1 - 1.75| = 0.75, |2 - 1.75| = 0.25, |3 - 1.75| = 1.25 (twice): token 1 first, ties by index
    assert math.isclose(entropy(D), 1.75 * math.log(2), rel_tol=1e-15)
    assert typical_order(D).tolist() == [1, 0, 2, 3]


@pytest.mark.parametrize("mass, kept", [
    (0.2, [0.0, 1.0, 0.0, 0.0]),  # only the most typical token: the argmax (0.5) is dropped
    (0.25, [0.0, 1.0, 0.0, 0.0]),  # the sum equals mass exactly: one token
    (0.75, [2 / 3, 1 / 3, 0.0, 0.0]),  # 0.25 + 0.5 = 0.75 exactly
    (0.7500001, [4 / 7, 2 / 7, 1 / 7, 0.0]),  # the crossing token (index 2, lower than 3) is kept
    (1.0, D),
])
def test_typical_filter_dyadic(mass, kept):
    assert close(typical_filter(D, mass), kept)


def test_typical_drops_the_argmax_at_a_common_mass():
    # H = -0.4 ln 0.4 - 0.6 ln 0.2 = 1.3322; -ln 0.4 = 0.9163 is 0.416 away, -ln 0.2 = 1.6094 only 0.277
    probs = [0.4, 0.2, 0.2, 0.2]
    assert typical_order(probs).tolist() == [1, 2, 3, 0]
    out = typical_filter(probs, 0.5)
    assert close(out, [0.0, 1 / 3, 1 / 3, 1 / 3])
    assert out[int(np.argmax(probs))] == 0.0


def test_typical_never_keeps_a_zero_and_does_not_modify_its_input():
    probs = np.array([0.5, 0.0, 0.25, 0.25])
    before = probs.copy()
    assert close(typical_filter(probs, 1.0), [0.5, 0.0, 0.25, 0.25])
    assert typical_order(probs).tolist()[0] != 1 and 1 not in typical_order(probs).tolist()
    assert np.array_equal(probs, before)


@pytest.mark.parametrize("mass", [0.0, -0.5, 1.0000001, float("nan"), "0.5"])
def test_typical_invalid_mass(mass):
    with pytest.raises(ValueError, match="mass"):
        typical_filter(D, mass)


# ------------------------------------------------------------------------------------ epsilon and eta
@pytest.mark.parametrize("epsilon, kept", [
    (0.0, D),
    (0.125, D),  # at the floor: kept
    (0.2, [2 / 3, 1 / 3, 0.0, 0.0]),
    (0.5, [1.0, 0.0, 0.0, 0.0]),
    (0.6, [1.0, 0.0, 0.0, 0.0]),  # nothing reaches 0.6: the most probable token alone
])
def test_epsilon_filter(epsilon, kept):
    assert close(epsilon_filter(D, epsilon), kept)


def test_epsilon_fallback_ties_to_the_lower_index():
    assert epsilon_filter([0.25, 0.25, 0.25, 0.25], 0.5).tolist() == [1.0, 0.0, 0.0, 0.0]
    assert epsilon_filter([0.2, 0.4, 0.4], 0.9).tolist() == [0.0, 1.0, 0.0]


@pytest.mark.parametrize("epsilon", [1.0, -0.1, float("nan"), None])
def test_epsilon_invalid(epsilon):
    with pytest.raises(ValueError, match="epsilon"):
        epsilon_filter(D, epsilon)


def test_eta_threshold_is_the_smaller_of_epsilon_and_the_entropy_floor():
    # exp(-H(D)) = 2 ** -1.75 = 0.29730; sqrt(0.25) * 0.2973 = 0.14865 < 0.25
    assert math.isclose(eta_threshold(D, 0.25), 0.5 * 2 ** -1.75, rel_tol=1e-12)
    # sqrt(0.01) * 0.2973 = 0.0297 > 0.01: eta = epsilon
    assert eta_threshold(D, 0.01) == 0.01
    # uniform over 4: exp(-H) = 1/4, sqrt(0.3) / 4 = 0.1369
    assert math.isclose(eta_threshold([0.25] * 4, 0.3), math.sqrt(0.3) / 4, rel_tol=1e-12)


def test_eta_keeps_more_than_epsilon_when_the_distribution_is_broad():
    # eps = 0.15: eta = sqrt(0.15) * 2 ** -1.75 = 0.1151 < 0.125, so all four of D survive; epsilon keeps two
    assert close(eta_filter(D, 0.15), D)
    assert close(epsilon_filter(D, 0.15), [2 / 3, 1 / 3, 0.0, 0.0])
    # uniform: epsilon 0.3 keeps only the fallback token; eta's floor 0.137 keeps all four
    assert epsilon_filter([0.25] * 4, 0.3).tolist() == [1.0, 0.0, 0.0, 0.0]
    assert eta_filter([0.25] * 4, 0.3).tolist() == [0.25] * 4
    # eta = 0.1487: 0.5 and 0.25 survive
    assert close(eta_filter(D, 0.25), [2 / 3, 1 / 3, 0.0, 0.0])


def test_eta_fallback():
    # two tokens of 0.5: H = ln 2, eta = min(0.9, sqrt(0.9) / 2 = 0.474) -> both pass
    assert eta_filter([0.5, 0.5], 0.9).tolist() == [0.5, 0.5]
    # one token of 0.999 and ten of 1e-4: eta = min(0.99, ...) is above 1e-4 and below 0.999
    probs = np.array([0.999] + [1e-4] * 10)
    assert eta_filter(probs, 0.99).tolist() == [1.0] + [0.0] * 10


@pytest.mark.parametrize("epsilon", [0.0, 1.0, -0.1, float("nan")])
def test_eta_invalid(epsilon):
    with pytest.raises(ValueError, match="epsilon"):
        eta_filter(D, epsilon)


# ------------------------------------------------------------------------------------ top-n-sigma
def test_top_n_sigma_hand_computed():
    z = [3.0, 2.0, 1.0, 0.0, -1.0]  # mean 1, variance (4 + 1 + 0 + 1 + 4) / 5 = 2, sigma = 1.4142
    # n = 1: threshold 3 - 1.414 = 1.586 keeps logits 3 and 2: softmax([3, 2]) = (1, e^-1) / (1 + e^-1)
    assert close(top_n_sigma_filter(z, 1.0), [1 / (1 + math.exp(-1)), math.exp(-1) / (1 + math.exp(-1)), 0, 0, 0])
    # n = 2: threshold 3 - 2.828 = 0.172 keeps 3, 2, 1
    w = np.exp([0.0, -1.0, -2.0])
    assert close(top_n_sigma_filter(z, 2.0), [*(w / w.sum()), 0, 0])
    # n = 0: the maximum only; with ties, every tied maximum
    assert top_n_sigma_filter(z, 0.0).tolist() == [1.0, 0, 0, 0, 0]
    assert top_n_sigma_filter([1.0, 3.0, 3.0], 0).tolist() == [0.0, 0.5, 0.5]


def test_top_n_sigma_ignores_and_never_keeps_minus_infinity():
    z = np.array([0.0, -np.inf, 1.0, 2.0])  # finite (0, 1, 2): sigma = sqrt(2/3) = 0.8165
    assert top_n_sigma_filter(z, 1.0).tolist() == [0.0, 0.0, 0.0, 1.0]  # threshold 1.18
    w = np.exp([-1.0, 0.0])
    assert close(top_n_sigma_filter(z, 2.0), [0.0, 0.0, *(w / w.sum())])  # threshold 0.367
    w = np.exp([-2.0, -1.0, 0.0])  # n = 100: every finite logit
    assert close(top_n_sigma_filter(z, 100.0), [w[0] / w.sum(), 0.0, w[1] / w.sum(), w[2] / w.sum()])


def test_top_n_sigma_kept_set_does_not_change_with_temperature():
    # property: (z / T) >= max(z / T) - n * std(z / T) is z >= max(z) - n * std(z) divided by T > 0
    rng = np.random.default_rng(0)
    checked = 0
    for _ in range(3000):
        z = rng.normal(0, rng.uniform(0.1, 10), size=int(rng.integers(2, 60)))
        n = float(rng.uniform(0, 4))
        # T >= 0.1 keeps every kept probability above float64's underflow ((max - min) / T < 700)
        t = float(np.exp(rng.uniform(np.log(0.1), np.log(50))))
        threshold = z.max() - n * z.std()
        if np.min(np.abs(z - threshold)) < 1e-9 * (1 + abs(threshold)):
            continue  # a logit on the threshold: rounding decides, not the temperature
        assert np.array_equal(top_n_sigma_filter(z, n) > 0, top_n_sigma_filter(z / t, n) > 0), (z, n, t)
        assert np.array_equal(apply_chain(z, [("temperature", t), ("top_n_sigma", n)]) > 0,
                              apply_chain(z, [("top_n_sigma", n), ("temperature", t)]) > 0)
        checked += 1
    assert checked > 2900


def test_top_n_sigma_with_infinite_n_keeps_every_finite_logit():
    assert top_n_sigma_filter([1.0, -np.inf, 1.0], np.inf).tolist() == [0.5, 0.0, 0.5]
    assert close(top_n_sigma_filter([0.0, np.log(3.0)], np.inf), [0.25, 0.75])


@pytest.mark.parametrize("bad", [dict(n=-0.5), dict(n=float("nan")), dict(logits=[0.0, float("nan")]),
                                 dict(logits=[0.0, float("inf")]), dict(logits=[-float("inf")] * 2)])
def test_top_n_sigma_invalid(bad):
    args = {"logits": [1.0, 2.0], "n": 1.0, **bad}
    with pytest.raises(ValueError, match="n must|logits"):
        top_n_sigma_filter(args["logits"], args["n"])


# ------------------------------------------------------------------------------------ repetition penalty
def test_repetition_penalty_divides_positive_and_multiplies_negative_logits():
    z = np.array([2.0, -1.0, 0.5, 0.0])
    before = z.copy()
    assert repetition_penalty(z, [0, 1, 1, 3], 2.0).tolist() == [1.0, -2.0, 0.5, 0.0]  # duplicates count once
    assert repetition_penalty(z, [0, 1], 0.5).tolist() == [4.0, -0.5, 0.5, 0.0]  # < 1 rewards repeating
    assert repetition_penalty(z, [], 1.3).tolist() == z.tolist()
    assert repetition_penalty(z, np.array([2]), 1.0).tolist() == z.tolist()
    # an infinite penalty: positive logits to 0, negative ones to -inf, zero stays zero
    assert repetition_penalty(z, [0, 1, 3], np.inf).tolist() == [0.0, -np.inf, 0.5, 0.0]
    assert np.array_equal(z, before)


@pytest.mark.parametrize("previous, penalty, word", [([0], 0.0, "penalty"), ([0], -1.0, "penalty"), ([4], 1.2, "previous"),
                                                     ([-1], 1.2, "previous"), ([0.5], 1.2, "previous")])
def test_repetition_penalty_invalid(previous, penalty, word):
    with pytest.raises(ValueError, match=word):
        repetition_penalty([2.0, -1.0, 0.5, 0.0], previous, penalty)


def test_repetition_penalty_breaks_a_greedy_loop():
    # a bigram table where greedy decoding cycles 0 -> 1 -> 0 -> ...; token 2 is each row's runner-up
    table = np.log(np.array([[0.05, 0.6, 0.35], [0.6, 0.05, 0.35], [0.45, 0.45, 0.1]]))

    def greedy(penalty, steps=8):
        seq = [0]
        for _ in range(steps):
            z = repetition_penalty(table[seq[-1]], seq, penalty) if penalty != 1 else table[seq[-1]]
            seq.append(int(np.argmax(z)))
        return seq

    assert greedy(1.0) == [0, 1, 0, 1, 0, 1, 0, 1, 0]
    # log-probabilities are negative, so the penalty multiplies them;
    # penalty 2: a seen log 0.6 = -0.51 becomes -1.02, still above log 0.35 = -1.05: the loop goes on
    assert greedy(2.0) == [0, 1, 0, 1, 0, 1, 0, 1, 0]
    # penalty 3: after "0 1", token 0's log 0.6 becomes -1.53 < -1.05: token 2 is taken and the loop is broken
    assert greedy(3.0)[:3] == [0, 1, 2]


# ------------------------------------------------------------------------------------ chains
def test_min_p_and_top_p_do_not_commute():
    # the curriculum's fact, with the filters and with a chain on the logits
    assert close(top_p_filter(min_p_filter(P4, 0.5), 0.75), [4 / 7, 3 / 7, 0, 0])  # (0.571, 0.429, 0, 0)
    assert close(min_p_filter(top_p_filter(P4, 0.75), 0.5), [4 / 9, 3 / 9, 2 / 9, 0])  # (0.444, 0.333, 0.222, 0)
    z = np.log(P4)
    assert close(apply_chain(z, [("min_p", 0.5), ("top_p", 0.75)]), [4 / 7, 3 / 7, 0, 0])
    assert close(apply_chain(z, [("top_p", 0.75), ("min_p", 0.5)]), [4 / 9, 3 / 9, 2 / 9, 0])


def test_min_p_and_top_k_commute_on_random_tie_heavy_distributions():
    rng = np.random.default_rng(1)
    for _ in range(2000):
        w = rng.integers(1, 5, size=int(rng.integers(1, 9))).astype(float)
        z = np.log(w / w.sum())
        k, m = int(rng.integers(1, 10)), float(rng.choice([0.0, 1.0, rng.random()]))
        a, b = apply_chain(z, [("top_k", k), ("min_p", m)]), apply_chain(z, [("min_p", m), ("top_k", k)])
        assert np.array_equal(a > 0, b > 0) and np.abs(a - b).max() < 1e-12


def test_temperature_before_or_after_min_p():
    # min-p 0.45 keeps 0.4, 0.3, 0.2 (threshold 0.18); then T = 2: proportional to their square roots
    z = np.log(P4)
    r = np.sqrt([0.4, 0.3, 0.2])
    assert close(apply_chain(z, [("min_p", 0.45), ("temperature", 2.0)]), [*(r / r.sum()), 0.0])
    # T = 2 first: sqrt ratios 1, 0.866, 0.707, 0.5 all pass 0.45; every token survives
    s = np.sqrt(P4)
    assert close(apply_chain(z, [("temperature", 2.0), ("min_p", 0.45)]), s / s.sum())


def test_temperature_zero_and_infinity_in_a_chain():
    assert apply_chain([1.0, 3.0, 3.0], [("temperature", 0)]).tolist() == [0.0, 0.5, 0.5]
    assert apply_chain([1.0, 3.0, 3.0], [("temperature", 0), ("top_k", 1)]).tolist() == [0.0, 1.0, 0.0]
    # T = inf after top-k 2: uniform over the kept tokens, the cut one stays cut
    assert apply_chain(np.log(D), [("top_k", 2), ("temperature", np.inf)]).tolist() == [0.5, 0.5, 0.0, 0.0]


def test_each_step_name_in_a_chain_matches_its_filter():
    z = np.log(D)
    for name, value, f in [("top_k", 3, top_k_filter), ("top_p", 0.8, top_p_filter), ("min_p", 0.3, min_p_filter),
                           ("typical", 0.5, typical_filter), ("epsilon", 0.2, epsilon_filter), ("eta", 0.15, eta_filter)]:
        assert close(apply_chain(z, [(name, value)]), f(D, value)), name
    assert close(apply_chain([3.0, 2.0, 1.0, 0.0, -1.0], [("top_n_sigma", 1.0)]), top_n_sigma_filter([3.0, 2.0, 1.0, 0.0, -1.0], 1.0))
    assert close(apply_chain(z, []), D)


def test_filters_after_a_cut_see_the_renormalised_distribution():
    # top-k 2 leaves (2/3, 1/3): epsilon 0.3 keeps both (1/3 >= 0.3), though 0.25 < 0.3 before the cut
    z = np.log(D)
    assert close(apply_chain(z, [("top_k", 2), ("epsilon", 0.3)]), [2 / 3, 1 / 3, 0, 0])
    assert close(apply_chain(z, [("epsilon", 0.3), ("top_k", 2)]), [1.0, 0, 0, 0])


def test_chain_trace_has_one_distribution_per_step_and_leaves_the_logits_alone():
    z = np.log(np.array(P4))
    before = z.copy()
    trace = chain_trace(z, [("temperature", 2.0), ("top_k", 3), ("top_p", 0.5)])
    assert len(trace) == 4 and close(trace[0], P4, 1e-15)
    assert [int(np.count_nonzero(t)) for t in trace] == [4, 4, 3, 2]
    assert np.array_equal(trace[-1], apply_chain(z, [("temperature", 2.0), ("top_k", 3), ("top_p", 0.5)]))
    assert np.array_equal(z, before)


@pytest.mark.parametrize("steps, word", [
    ([("top_q", 0.5)], "unknown step name"),
    ([("top_k", 0)], "top_k"),
    ([("top_k", 2.0)], "top_k"),
    ([("top_p", 0.0)], "p must"),
    ([("temperature", -1.0)], "temperature"),
    ([("min_p", 1.5)], "min_p"),
    ([("typical", 0.0)], "mass"),
    ([("epsilon", 1.0)], "epsilon"),
    ([("eta", 0.0)], "epsilon"),
    ([("top_n_sigma", -1)], "n must"),
    ([("top_k", 2), ("top_p",)], r"steps\[1\]"),
    ("top_k", "steps"),
])
def test_apply_chain_invalid(steps, word):
    with pytest.raises(ValueError, match=word):
        apply_chain([0.0, 1.0, 2.0], steps)


# ------------------------------------------------------------------------------------ sample_chain
def test_sample_chain_is_one_inverse_cdf_draw_from_apply_chain():
    steps = [("temperature", 0.7), ("top_k", 3)]
    z = np.log(P4)
    a, b = np.random.default_rng(5), np.random.default_rng(5)
    probs = apply_chain(z, steps)
    assert [sample_chain(z, steps, a) for _ in range(200)] == [inverse_cdf_sample(probs, b.random()) for _ in range(200)]


def test_sample_chain_frequencies():
    # top-k 3 of D: (4/7, 2/7, 1/7, 0); 20,000 draws, false-failure probability <= 1e-6
    rng = np.random.default_rng(11)
    draws = np.array([sample_chain(np.log(D), [("top_k", 3)], rng) for _ in range(20_000)])
    assert_frequencies_match(draws, [4 / 7, 2 / 7, 1 / 7, 0.0])


def test_sample_chain_needs_a_generator():
    with pytest.raises(ValueError, match="rng"):
        sample_chain([0.0, 1.0], [], 0)
