"""Exact tests of greedy decoding, sequence probability, beam search and exhaustive search."""
import pytest

from lmsample import EOS, beam_search, exhaustive_best, greedy_decode, sequence_prob
from toy_models import counterexample_lm, table_lm


def test_greedy_counterexample_finds_0_06():
    lm = counterexample_lm()
    seq = greedy_decode(lm)
    # "The" is most probable; its five continuations tie at 0.2, so the alphabetically first wins
    assert seq == ("The", "cat", EOS)
    assert sequence_prob(lm, seq) == 0.3 * 0.2 * 1.0


def test_beam_width_2_and_exhaustive_find_0_10():
    lm = counterexample_lm()
    assert beam_search(lm, beam_width=2) == (("A", "cat", EOS), 0.2 * 0.5)
    assert exhaustive_best(lm) == (("A", "cat", EOS), 0.2 * 0.5)


def test_beam_width_1_is_greedy_on_counterexample():
    lm = counterexample_lm()
    seq, prob = beam_search(lm, beam_width=1)
    assert seq == greedy_decode(lm)
    assert prob == sequence_prob(lm, seq)


def test_greedy_ties_go_to_alphabetically_smallest():
    lm = table_lm({(): {"b": 0.4, "a": 0.4, EOS: 0.2}}, default={EOS: 1.0})
    assert greedy_decode(lm) == ("a", EOS)


def test_greedy_stops_at_max_len_without_eos():
    lm = table_lm({}, default={"la": 0.9, EOS: 0.1})
    assert greedy_decode(lm, max_len=3) == ("la", "la", "la")
    assert greedy_decode(lm, max_len=1) == ("la",)


def test_greedy_includes_eos_and_stops():
    lm = table_lm({(): {EOS: 0.6, "x": 0.4}}, default={"x": 1.0})
    assert greedy_decode(lm) == (EOS,)


def test_sequence_prob_products_and_missing_tokens():
    lm = counterexample_lm()
    assert sequence_prob(lm, ()) == 1.0
    assert sequence_prob(lm, ("A",)) == 0.2
    assert sequence_prob(lm, ("A", "dog", EOS)) == 0.2 * 0.3
    assert sequence_prob(lm, ("A", "fox", EOS)) == 0.0  # "fox" absent after "A"
    assert sequence_prob(lm, ["The", "owl"]) == 0.3 * 0.2  # any sequence type


def test_beam_search_finished_sequence_keeps_its_place():
    # Step 1 keeps ("<eos>",) 0.4 and ("a",) 0.35 with width 2; ("<eos>",) is finished, so only
    # ("a",) goes on, and the best finished sequence is ("<eos>",).
    lm = table_lm({(): {EOS: 0.4, "a": 0.35, "b": 0.25}, ("a",): {EOS: 1.0}, ("b",): {EOS: 1.0}})
    assert beam_search(lm, beam_width=2) == ((EOS,), 0.4)
    assert beam_search(lm, beam_width=3) == ((EOS,), 0.4)


def test_beam_search_can_beat_greedy_and_lose_to_exhaustive():
    # Width 2 keeps "a" (0.5) and "b" (0.3), missing "c" (0.2) whose continuation is certain.
    lm = table_lm(
        {
            (): {"a": 0.5, "b": 0.3, "c": 0.2},
            ("a",): {"x": 0.25, "y": 0.25, "z": 0.25, "w": 0.25},
            ("b",): {EOS: 0.5, "x": 0.5},
            ("c",): {EOS: 1.0},
        },
        default={EOS: 1.0},
    )
    assert greedy_decode(lm) == ("a", "w", EOS)
    assert beam_search(lm, 2) == (("b", EOS), 0.3 * 0.5)
    assert exhaustive_best(lm) == (("c", EOS), 0.2)
    assert beam_search(lm, 3) == (("c", EOS), 0.2)


def test_beam_search_ties_prefer_alphabetically_smaller_sequence():
    lm = table_lm({(): {"b": 0.5, "a": 0.5}}, default={EOS: 1.0})
    assert beam_search(lm, 2) == (("a", EOS), 0.5)
    assert exhaustive_best(lm) == (("a", EOS), 0.5)


def test_nothing_finishes_returns_most_probable_of_max_len():
    lm = table_lm({}, default={"x": 0.6, "y": 0.4})
    assert beam_search(lm, 2, max_len=3) == (("x", "x", "x"), 0.6 * 0.6 * 0.6)
    assert exhaustive_best(lm, max_len=3) == (("x", "x", "x"), 0.6 * 0.6 * 0.6)


def test_max_len_bounds_finished_sequences():
    # the only finished sequences have 3 tokens; with max_len 2 none finishes
    lm = table_lm({(): {"a": 1.0}, ("a",): {"b": 1.0}}, default={EOS: 1.0})
    assert exhaustive_best(lm, max_len=3) == (("a", "b", EOS), 1.0)
    assert exhaustive_best(lm, max_len=2) == (("a", "b"), 1.0)
    assert beam_search(lm, 1, max_len=2) == (("a", "b"), 1.0)


def test_zero_probability_tokens_are_never_explored():
    lm = table_lm({(): {"a": 0.0, EOS: 1.0}}, default={EOS: 1.0})
    assert beam_search(lm, 5) == ((EOS,), 1.0)
    assert exhaustive_best(lm) == ((EOS,), 1.0)


@pytest.mark.parametrize("width", [0, -1, 1.5, True, "2"])
def test_beam_width_invalid(width):
    with pytest.raises(ValueError, match="beam_width"):
        beam_search(counterexample_lm(), width)


@pytest.mark.parametrize("func", [greedy_decode, exhaustive_best])
def test_max_len_invalid(func):
    with pytest.raises(ValueError, match="max_len"):
        func(counterexample_lm(), max_len=0)


def test_lm_returning_non_dict_is_a_clear_error():
    with pytest.raises(ValueError, match="dict"):
        greedy_decode(lambda ctx: [0.5, 0.5])


# ----------------------------------------------------------------------------- log-probabilities, variants
import math  # noqa: E402

import numpy as np  # noqa: E402

from lmsample.decoding import beam_search_keep_k, finished_sequences, sample_sentences, sequence_logprob  # noqa: E402
from toy_models import all_finished_sequences, random_lm  # noqa: E402


def test_sequence_logprob_is_the_log_of_sequence_prob_and_does_not_underflow():
    lm = counterexample_lm()
    assert sequence_logprob(lm, ("A", "cat", EOS)) == pytest.approx(math.log(0.1), abs=1e-15)
    assert sequence_logprob(lm, ("A", "fox")) == -math.inf
    loop = table_lm({}, default={"la": 0.5, EOS: 0.5})
    long = ("la",) * 1100
    assert sequence_prob(loop, long) == 0.0  # 2**-1100 underflows
    assert sequence_logprob(loop, long) == pytest.approx(-1100 * math.log(2), rel=1e-12)


@pytest.mark.parametrize("seed", range(60))
@pytest.mark.parametrize("width", [1, 2, 3, 5])
def test_keeping_k_unfinished_beams_returns_the_same_sequence(seed, width):
    lm = random_lm(seed, vocab_size=3, eos_weight=0.7)
    seq, prob = beam_search(lm, width, max_len=6)
    full = beam_search_keep_k(lm, width, max_len=6)
    early = beam_search_keep_k(lm, width, max_len=6, stop_early=True)
    assert full[:2] == early[:2] == (seq, prob)
    assert early[2] <= full[2]


def test_keep_k_costs_more_calls_at_width_1_unless_it_stops_early():
    lm = table_lm({(): {"a": 0.6, "b": 0.4}, ("a",): {EOS: 0.7, "c": 0.3}}, default={"c": 0.5, EOS: 0.5})
    assert beam_search(lm, 1) == (("a", EOS), 0.6 * 0.7) == greedy_and_prob(lm)
    seq, prob, calls = beam_search_keep_k(lm, 1, max_len=20)
    assert (seq, prob, calls) == (("a", EOS), 0.6 * 0.7, 20)
    assert beam_search_keep_k(lm, 1, max_len=20, stop_early=True)[2] == 2


def greedy_and_prob(lm):
    seq = greedy_decode(lm)
    return seq, sequence_prob(lm, seq)


@pytest.mark.parametrize("seed", range(20))
def test_finished_sequences_enumerates_every_path(seed):
    lm = random_lm(seed, vocab_size=3)
    got = finished_sequences(lm, 4)
    brute = sorted(all_finished_sequences(lm, 4), key=lambda c: (-c[1], c[0]))
    assert got == brute
    assert exhaustive_best(lm, 4) == got[0]


def test_sample_sentences_follows_sequence_prob():
    lm = counterexample_lm()
    n = 200_000
    counts = sample_sentences(lm, n, np.random.default_rng(1))
    assert sum(counts.values()) == n and all(seq[-1] == EOS for seq in counts)
    for seq, prob in finished_sequences(lm, 3):
        # 6 standard deviations: a correct sampler fails with probability about 2e-9 per sentence
        assert abs(counts[seq] / n - prob) < 6 * math.sqrt(prob * (1 - prob) / n), seq
    again = sample_sentences(lm, 1000, np.random.default_rng(5))
    assert again == sample_sentences(lm, 1000, np.random.default_rng(5))
    cut = sample_sentences(table_lm({}, default={"la": 1.0}), 10, np.random.default_rng(0), max_len=4)
    assert cut == {("la",) * 4: 10}
