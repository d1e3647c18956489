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
