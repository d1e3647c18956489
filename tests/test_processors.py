"""Batched torch processors: same semantics as the numpy filters, same output as transformers' warpers."""
import math
import subprocess
import sys

import numpy as np
import pytest
import torch
from transformers import LogitsProcessorList
from transformers.generation.logits_process import (
    EpsilonLogitsWarper,
    EtaLogitsWarper,
    MinPLogitsWarper,
    RepetitionPenaltyLogitsProcessor,
    TemperatureLogitsWarper,
    TopKLogitsWarper,
    TopPLogitsWarper,
    TypicalLogitsWarper,
)

import lmsample
from lmsample import min_p_filter, softmax, top_k_filter, top_p_filter
from lmsample.processors import (
    Epsilon,
    Eta,
    MinP,
    RepetitionPenalty,
    Temperature,
    TopK,
    TopNSigma,
    TopP,
    Typical,
    chain_processors,
    processors_for,
)

INF = float("inf")


def kept(scores: torch.Tensor) -> list:
    return torch.isfinite(scores).tolist()


def random_scores(seed, batch, vocab, scale, dtype=torch.float32):
    return torch.randn(batch, vocab, generator=torch.Generator().manual_seed(seed), dtype=dtype) * scale


def test_import_lmsample_does_not_import_torch():
    code = "import lmsample, sys; assert 'torch' not in sys.modules and 'transformers' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_names_are_importable_from_lmsample():
    assert lmsample.TopP is TopP and lmsample.TopK is TopK and lmsample.MinP is MinP
    assert lmsample.Temperature is Temperature
    assert (lmsample.Typical, lmsample.Epsilon, lmsample.Eta) == (Typical, Epsilon, Eta)
    assert (lmsample.TopNSigma, lmsample.RepetitionPenalty) == (TopNSigma, RepetitionPenalty)
    assert lmsample.chain_processors is chain_processors
    from lmsample import generate, load_model  # noqa: F401


# --- exact values ---------------------------------------------------------------------------

def test_top_k_keeps_exactly_k_ties_to_lower_index():
    scores = torch.tensor([[1.0, 3.0, 1.0, 1.0, 0.0]])
    assert kept(TopK(2)(None, scores)) == [[True, True, False, False, False]]
    assert kept(TopK(3)(None, scores)) == [[True, True, True, False, False]]
    assert kept(TopK(10)(None, scores)) == [[True] * 5]
    # transformers keeps every token tied with the k-th: more than k
    assert sum(kept(TopKLogitsWarper(2)(None, scores))[0]) == 4


def test_top_k_values_are_unchanged():
    scores = torch.tensor([[0.5, -1.0, 2.0]])
    assert TopK(2)(None, scores).tolist() == [[0.5, -INF, 2.0]]


def test_top_p_keeps_the_crossing_token_on_an_exact_boundary():
    # equal logits give exactly 0.25 each: p = 0.5 is reached after exactly two tokens
    scores = torch.zeros(1, 4, dtype=torch.float64)
    assert kept(TopP(0.5)(None, scores)) == [[True, True, False, False]]
    assert kept(TopP(0.5000001)(None, scores)) == [[True, True, True, False]]
    assert kept(TopP(0.75)(None, scores)) == [[True, True, True, False]]
    assert kept(TopP(1.0)(None, scores)) == [[True] * 4]
    assert kept(TopP(1e-9)(None, scores)) == [[True, False, False, False]]


def test_top_p_dyadic_distribution_matches_numpy():
    probs = np.array([0.125, 0.5, 0.25, 0.125])
    scores = torch.tensor(np.log(probs))[None]
    for p, expected in [(0.5, 2), (0.75, 3), (0.8, 3), (0.9, 4), (1.0, 4)]:
        mask = torch.isfinite(TopP(p)(None, scores))[0].numpy()
        assert mask.tolist() == (top_p_filter(softmax(np.log(probs)), p) > 0).tolist(), p
    # tied 0.125s: the lower index goes first
    assert kept(TopP(0.9)(None, torch.tensor(np.log([0.5, 0.25, 0.125, 0.125]))[None])) == [[True, True, True, True]]


def test_top_p_p_one_keeps_exactly_the_nonzero_tokens():
    scores = torch.tensor([[0.0, -INF, 1.0, -INF]])
    assert kept(TopP(1.0)(None, scores)) == [[True, False, True, False]]


def test_min_p_threshold_is_inclusive():
    scores = torch.tensor(np.log([[0.4, 0.2, 0.3, 0.1]]))
    assert kept(MinP(0.5)(None, scores)) == [[True, True, True, False]]
    assert kept(MinP(0.0)(None, scores)) == [[True] * 4]
    assert kept(MinP(1.0)(None, scores)) == [[True, False, False, False]]


def test_temperature_divides_and_infinity_flattens():
    scores = torch.tensor([[2.0, -INF, 0.0]])
    assert Temperature(2)(None, scores).tolist() == [[1.0, -INF, 0.0]]
    assert Temperature(math.inf)(None, scores).tolist() == [[0.0, -INF, 0.0]]


@pytest.mark.parametrize(
    "make, bad",
    [(Temperature, 0), (Temperature, -1.0), (TopK, 0), (TopK, 2.5), (TopP, 0.0), (TopP, 1.5), (MinP, -0.1), (MinP, 1.1)],
)
def test_invalid_arguments_raise_value_error(make, bad):
    with pytest.raises(ValueError):
        make(bad)


def test_scores_must_be_a_2d_float_tensor():
    with pytest.raises(ValueError):
        TopP(0.9)(None, torch.zeros(4))


def test_inputs_are_not_modified():
    scores = random_scores(0, 4, 1000, 3.0)
    before = scores.clone()
    for proc in (Temperature(0.7), TopK(5), TopP(0.8), MinP(0.1)):
        proc(None, scores)
    assert torch.equal(scores, before)


def test_processors_for_order_and_omissions():
    procs = processors_for(temperature=0.7, top_k=40, top_p=0.9, min_p=0.05)
    assert [type(p).__name__ for p in procs] == ["Temperature", "TopK", "TopP", "MinP"]
    assert processors_for() == [] and processors_for(top_p=1.0) == []


# --- one implementation: the numpy filters ----------------------------------------------------

@pytest.mark.parametrize("scale", [0.1, 1.0, 5.0])
def test_batched_filters_match_numpy_filters(scale):
    scores = random_scores(1, 6, 500, scale, torch.float64)
    for p in (0.3, 0.9, 0.999):
        mask = torch.isfinite(TopP(p)(None, scores)).numpy()
        for r in range(scores.shape[0]):
            assert (mask[r] == (top_p_filter(softmax(scores[r].numpy()), p) > 0)).all(), (p, r)
    for k in (1, 7, 499):
        mask = torch.isfinite(TopK(k)(None, scores)).numpy()
        for r in range(scores.shape[0]):
            assert (mask[r] == (top_k_filter(softmax(scores[r].numpy()), k) > 0)).all(), (k, r)
    for m in (0.01, 0.5):
        mask = torch.isfinite(MinP(m)(None, scores)).numpy()
        for r in range(scores.shape[0]):
            assert (mask[r] == (min_p_filter(softmax(scores[r].numpy()), m) > 0)).all(), (m, r)


def test_top_p_with_ties_matches_numpy():
    # logits on a coarse grid: many exact ties, some straddling the cut
    g = torch.Generator().manual_seed(2)
    scores = torch.randint(0, 4, (8, 300), generator=g).double()
    for p in (0.2, 0.5, 0.77):
        mask = torch.isfinite(TopP(p)(None, scores)).numpy()
        for r in range(8):
            assert (mask[r] == (top_p_filter(softmax(scores[r].numpy()), p) > 0)).all(), (p, r)
    for k in (3, 100):
        mask = torch.isfinite(TopK(k)(None, scores)).numpy()
        for r in range(8):
            assert mask[r].sum() == k
            assert (mask[r] == (top_k_filter(softmax(scores[r].numpy()), k) > 0)).all(), (k, r)


def test_top_p_radix_path_matches_numpy_on_a_large_vocabulary():
    # flat rows: the nucleus has thousands of tokens, so the crossing bucket holds many
    scores = random_scores(3, 3, 50257, 0.3, torch.float64)
    mask = torch.isfinite(TopP(0.9)(None, scores)).numpy()
    assert mask.sum(1).min() > 4096
    for r in range(3):
        assert (mask[r] == (top_p_filter(softmax(scores[r].numpy()), 0.9) > 0)).all()


def test_top_p_matches_numpy_on_random_shapes_and_scales():
    # float64 scores: every row of every shape must give the reference nucleus exactly, including a
    # vocabulary of one token and rows that mix peaked and flat distributions in one batch
    g = torch.Generator().manual_seed(5)
    for trial in range(40):
        vocab = int(torch.randint(1, 3000, (), generator=g))
        batch = int(torch.randint(1, 6, (), generator=g))
        scales = torch.rand(batch, 1, generator=g, dtype=torch.float64) * 10
        scores = torch.randn(batch, vocab, generator=g, dtype=torch.float64) * scales
        p = float(torch.rand((), generator=g)) * 0.999 + 0.001
        mask = torch.isfinite(TopP(p)(None, scores)).numpy()
        for r in range(batch):
            expected = top_p_filter(softmax(scores[r].numpy()), p) > 0
            assert (mask[r] == expected).all(), (trial, vocab, p, r)


def test_top_p_orders_by_score_when_float32_probabilities_tie():
    # two adjacent float32 scores share one float32 probability; the higher one (at the higher
    # index) is the one the float64 reference keeps, so ties of probability must not go by index
    a = np.float32(-0.5766990184783936)
    scores = torch.tensor([[a, np.nextafter(a, np.float32(1)), 3.0]], dtype=torch.float32)
    q32 = torch.softmax(scores, -1)[0]
    assert q32[0] == q32[1]  # the premise of the test
    q = softmax(scores[0].double().numpy())
    p = float(q[2] + q[1] / 2)  # the nucleus is {2, 1}
    assert (top_p_filter(q, p) > 0).tolist() == [False, True, True]
    assert kept(TopP(p)(None, scores)) == [[False, True, True]]


def test_top_p_rows_are_independent_of_the_batch_they_come_in():
    # TopP works a few rows at a time; 25 rows of 50,257 span three such chunks, and each row
    # must come out as it does alone
    g = torch.Generator().manual_seed(6)
    scales = torch.tensor([12.0, 4.0, 3.0, 0.5, 0.1]).repeat(5)[:, None]
    scores = torch.randn(25, 50257, generator=g) * scales
    batched = TopP(0.9)(None, scores)
    for r in range(25):
        assert torch.equal(batched[r : r + 1], TopP(0.9)(None, scores[r : r + 1])), r
    assert torch.equal(batched, TopPLogitsWarper(0.9)(None, scores))


def test_top_p_accepts_half_precision_and_non_contiguous_scores():
    logits = torch.randn(3, 7, 1000, generator=torch.Generator().manual_seed(7)) * 3
    last = logits[:, -1, :]  # what a model's output looks like: a strided view
    assert not last.is_contiguous()
    assert torch.equal(TopP(0.8)(None, last), TopP(0.8)(None, last.contiguous()))
    half = last.to(torch.bfloat16)
    out = TopP(0.8)(None, half)
    assert out.dtype == torch.bfloat16
    for r in range(3):
        expected = top_p_filter(softmax(half[r].double().numpy()), 0.8) > 0
        assert (torch.isfinite(out[r]).numpy() == expected).all()


def test_top_p_rejects_an_empty_vocabulary():
    with pytest.raises(ValueError, match="vocabulary"):
        TopP(0.9)(None, torch.zeros(2, 0))


# --- the same output as transformers ----------------------------------------------------------

@pytest.mark.parametrize("scale, seed", [(12.0, 0), (4.0, 1), (0.5, 2)])
def test_outputs_equal_transformers_warpers(scale, seed):
    scores = random_scores(seed, 16, 50257, scale)
    pairs = [
        (Temperature(0.7), TemperatureLogitsWarper(0.7)),
        (TopK(50), TopKLogitsWarper(50)),
        (TopP(0.9), TopPLogitsWarper(0.9)),
        (TopP(0.5), TopPLogitsWarper(0.5)),
        (MinP(0.05), MinPLogitsWarper(0.05)),
    ]
    for ours, theirs in pairs:
        assert torch.equal(ours(None, scores), theirs(None, scores)), ours


def test_drops_into_transformers_logits_processor_list():
    scores = random_scores(4, 2, 1000, 2.0)
    ours = LogitsProcessorList([Temperature(0.8), TopK(20), TopP(0.9)])(None, scores)
    theirs = LogitsProcessorList([TemperatureLogitsWarper(0.8), TopKLogitsWarper(20), TopPLogitsWarper(0.9)])(None, scores)
    assert torch.equal(ours, theirs)


# --- the sampler chain (lesson 07): exact values -----------------------------------------------

DYADIC = torch.tensor(np.log([[0.5, 0.25, 0.125, 0.125]]))  # H = 1.75 bits; -log2 p = 1, 2, 3, 3


@pytest.mark.parametrize(
    "mass, expected",
    [
        # distances from H in bits: 0.75, 0.25, 1.25, 1.25, so the order is 1, 0, 2, 3
        (0.25, [False, True, False, False]),  # the most probable token is not the most typical
        (0.26, [True, True, False, False]),
        (0.74, [True, True, False, False]),
        (0.76, [True, True, True, False]),  # 2 and 3 tie: the lower index first
        (0.875, [True, True, True, False]),
        (0.8751, [True, True, True, True]),
        (1.0, [True, True, True, True]),
    ],
)
def test_typical_hand_computed(mass, expected):
    assert kept(Typical(mass)(None, DYADIC)) == [expected]
    if mass not in (0.25, 0.875):  # exact boundaries hold in float64; float32 logits round the masses
        assert kept(Typical(mass)(None, DYADIC.float())) == [expected]


def test_typical_never_keeps_a_token_of_probability_zero():
    scores = torch.tensor([[0.0, -INF, 0.0, -INF]])
    assert kept(Typical(1.0)(None, scores)) == [[True, False, True, False]]
    assert kept(Typical(0.5)(None, scores)) == [[True, False, False, False]]
    assert Typical(0.9)(None, scores)[0, 0] == 0.0  # kept scores are unchanged


def test_epsilon_hand_computed():
    assert kept(Epsilon(0.2)(None, DYADIC)) == [[True, True, False, False]]
    assert kept(Epsilon(0.125)(None, DYADIC)) == [[True] * 4]  # inclusive
    assert kept(Epsilon(0.6)(None, DYADIC)) == [[True, False, False, False]]  # none passes: the most probable
    assert kept(Epsilon(0.0)(None, DYADIC)) == [[True] * 4]
    # none passes and the maxima tie: the lower index alone
    assert kept(Epsilon(0.3)(None, torch.tensor([[0.0, 1.0, 1.0, 1.0]]))) == [[False, True, False, False]]


def test_eta_hand_computed():
    # uniform over 4: H = ln 4, sqrt(0.04) * 1/4 = 0.05 > 0.04, so eta = 0.04: every token passes
    assert kept(Eta(0.04)(None, torch.zeros(1, 4))) == [[True] * 4]
    # dyadic: exp(-H) = 2**-1.75 = 0.2973; eps 0.25 gives eta = 0.5 * 0.2973 = 0.1487 (< 0.25)
    assert kept(Eta(0.25)(None, DYADIC)) == [[True, True, False, False]]
    # eps 0.15 gives eta = 0.3873 * 0.2973 = 0.1152 < 0.125: all four
    assert kept(Eta(0.15)(None, DYADIC)) == [[True] * 4]
    assert kept(Eta(0.1)(None, DYADIC)) == [[True] * 4]  # eta = min(0.1, 0.094) = 0.094


def test_eta_always_keeps_the_most_probable_token():
    # max p >= exp(-H) > sqrt(eps) exp(-H) >= eta for eps < 1: the fallback of eta_filter is never needed
    scores = random_scores(11, 8, 5000, 1.0) * torch.tensor([0.1, 0.5, 1, 2, 4, 8, 16, 32])[:, None]
    out = Eta(0.999)(None, scores)
    assert torch.isfinite(out.gather(1, scores.argmax(-1, keepdim=True))).all()
    probs = torch.softmax(scores.double(), -1)
    entropy = -(probs * probs.log()).sum(-1)
    assert (probs.amax(-1) >= torch.exp(-entropy)).all()


@pytest.mark.parametrize(
    "n, expected",
    [
        # finite logits 3, 2, 1, 0, -1: mean 1, population variance 2, sigma = 1.414
        (0.0, [True, False, False, False, False, False]),
        (1.0, [True, False, True, False, False, False]),  # threshold 1.586
        (2.0, [True, False, True, True, False, False]),  # threshold 0.172
        (10.0, [True, False, True, True, True, True]),  # -inf is never kept
    ],
)
def test_top_n_sigma_hand_computed(n, expected):
    scores = torch.tensor([[3.0, -INF, 2.0, 1.0, 0.0, -1.0]])
    assert kept(TopNSigma(n)(None, scores)) == [expected]
    assert kept(TopNSigma(n)(None, scores.double())) == [expected]


def test_top_n_sigma_threshold_is_inclusive_and_n_zero_keeps_tied_maxima():
    assert kept(TopNSigma(2.0)(None, torch.tensor([[2.0, 0.0]]))) == [[True, True]]  # 2 - 2 * 1 = 0
    assert kept(TopNSigma(1.999)(None, torch.tensor([[2.0, 0.0]]))) == [[True, False]]
    assert kept(TopNSigma(0.0)(None, torch.tensor([[3.0, 1.0, 3.0]]))) == [[True, False, True]]


def test_top_n_sigma_kept_set_does_not_depend_on_temperature():
    scores = random_scores(12, 16, 50257, 1.0) * torch.linspace(0.2, 12.0, 16)[:, None]
    scores[0, :1000] = -INF  # sigma of the finite logits only
    for n in (0.5, 1.0, 2.0):
        base = torch.isfinite(TopNSigma(n)(None, scores))
        for t in (0.25, 0.5, 0.7, 1.3, 2.0, 3.7):
            assert torch.equal(torch.isfinite(TopNSigma(n)(None, Temperature(t)(None, scores))), base), (n, t)
    # unlike top-p and min-p, whose kept sets grow with the temperature
    assert (torch.isfinite(TopP(0.9)(None, scores / 2)).sum() > torch.isfinite(TopP(0.9)(None, scores)).sum())
    assert (torch.isfinite(MinP(0.1)(None, scores / 2)).sum() > torch.isfinite(MinP(0.1)(None, scores)).sum())


def test_repetition_penalty_hand_computed():
    scores = torch.tensor([[2.0, -1.0, 0.5, 0.0, 3.0], [2.0, -1.0, 0.5, 0.0, 3.0]])
    ids = torch.tensor([[0, 1, 1, 3], [4, 4, 4, 4]])  # each distinct token once, whatever its count
    assert RepetitionPenalty(2.0)(ids, scores).tolist() == [[1.0, -2.0, 0.5, 0.0, 3.0], [2.0, -1.0, 0.5, 0.0, 1.5]]
    assert RepetitionPenalty(0.5)(ids, scores).tolist() == [[4.0, -0.5, 0.5, 0.0, 3.0], [2.0, -1.0, 0.5, 0.0, 6.0]]
    assert RepetitionPenalty(2)(ids[:, :0], scores).tolist() == scores.tolist()  # nothing seen yet
    assert RepetitionPenalty(2.0)(ids, torch.tensor([[-INF, 1, 1, 1, 1.0]] * 2))[0, 0] == -INF


def test_repetition_penalty_checks_input_ids():
    scores = torch.zeros(2, 5)
    for bad in (None, torch.tensor([[5], [0]]), torch.tensor([[-1], [0]]), torch.tensor([[0]]), torch.zeros(2, 1)):
        with pytest.raises(ValueError, match="input_ids"):
            RepetitionPenalty(1.2)(bad, scores)


@pytest.mark.parametrize(
    "make, bad",
    [
        (Typical, 0.0), (Typical, 1.5), (Typical, math.nan), (Epsilon, -0.1), (Epsilon, 1.0), (Eta, 0.0),
        (Eta, 1.0), (TopNSigma, -1.0), (TopNSigma, math.nan), (RepetitionPenalty, 0.0), (RepetitionPenalty, -1.2),
        (RepetitionPenalty, math.nan), (Typical, "0.9"),
    ],
)
def test_chain_processors_refuse_bad_arguments(make, bad):
    with pytest.raises(ValueError):
        make(bad)


def test_new_processors_do_not_modify_their_input():
    scores = random_scores(13, 3, 1000, 3.0)
    ids = torch.tensor([[1, 2, 3]] * 3)
    before = scores.clone()
    for proc in (Typical(0.9), Epsilon(1e-3), Eta(1e-3), TopNSigma(1.0), RepetitionPenalty(1.3)):
        proc(ids, scores)
    assert torch.equal(scores, before)


# --- chains: the order is data --------------------------------------------------------------

def test_chain_processors_keep_the_given_order():
    procs = chain_processors([("min_p", 0.1), ("temperature", 2), ("typical", 0.9), ("repetition_penalty", 1.2)])
    assert [type(p).__name__ for p in procs] == ["MinP", "Temperature", "Typical", "RepetitionPenalty"]
    assert chain_processors([]) == []
    # transformers' order with the new settings (the repetition penalty first, on the raw logits)
    procs = processors_for(temperature=0.7, top_k=40, top_p=0.9, min_p=0.05, typical=0.9, epsilon=3e-4, eta=3e-4,
                           repetition_penalty=1.2)
    names = ["RepetitionPenalty", "Temperature", "TopK", "TopP", "MinP", "Typical", "Epsilon", "Eta"]
    assert [type(p).__name__ for p in procs] == names
    assert processors_for(typical=1.0, epsilon=0.0, repetition_penalty=1.0) == []


def test_min_p_and_top_p_do_not_commute():
    scores = torch.tensor(np.log([[0.4, 0.3, 0.2, 0.1]]))

    def run(steps):
        out = scores
        for process in chain_processors(steps):
            out = process(None, out)
        return torch.softmax(out, -1)[0].numpy().round(3).tolist()

    assert run([("min_p", 0.45), ("top_p", 0.75)]) == [0.571, 0.429, 0.0, 0.0]
    assert run([("top_p", 0.75), ("min_p", 0.45)]) == [0.444, 0.333, 0.222, 0.0]


def test_chain_temperature_zero_keeps_the_tied_maxima():
    (proc,) = chain_processors([("temperature", 0)])
    assert kept(proc(None, torch.tensor([[1.0, 3.0, 3.0, 2.0]]))) == [[False, True, True, False]]


@pytest.mark.parametrize(
    "steps, message",
    [
        ([("top_q", 0.9)], r"steps\[0\]: unknown step name 'top_q'"),
        ([("top_k", 5), ("top_p", 1.5)], r"steps\[1\] \('top_p'\): p must be in \(0, 1\]"),
        ([("typical", 0.0)], r"steps\[0\] \('typical'\): mass must be in \(0, 1\]"),
        ([("temperature", -1)], r"steps\[0\] \('temperature'\): temperature must be >= 0"),
        ([("eta",)], r"steps\[0\] must be a \(name, value\) pair"),
        ("top_p=0.9", "steps must be a sequence"),
    ],
)
def test_chain_processors_bad_steps_raise_value_error(steps, message):
    with pytest.raises(ValueError, match=message):
        chain_processors(steps)


@pytest.fixture(scope="module")
def chain():
    """The numpy reference of lesson 07 (lmsample.chain)."""
    import lmsample.chain

    return lmsample.chain


def test_batched_chain_processors_match_numpy_row_by_row(chain):
    # float64 scores, ties, removed tokens, every filter; each row must give the numpy reference
    g = torch.Generator().manual_seed(14)
    scores = torch.randn(6, 2000, generator=g, dtype=torch.float64) * torch.tensor([0.3, 1, 3, 12, 1, 2.0])[:, None]
    scores[4] = torch.randint(0, 4, (2000,), generator=g).double()  # coarse grid: many exact ties
    scores[5, ::3] = -INF
    single = [("typical", 0.2), ("typical", 0.9), ("typical", 1.0), ("epsilon", 0.0), ("epsilon", 1e-3),
              ("epsilon", 0.5), ("eta", 1e-4), ("eta", 0.3), ("top_n_sigma", 0.0), ("top_n_sigma", 1.5),
              ("top_n_sigma", math.inf)]
    chains = [[step] for step in single] + [
        [("min_p", 0.05), ("temperature", 2.0), ("typical", 0.8)],
        [("temperature", 0.5), ("top_k", 50), ("eta", 0.01), ("top_p", 0.9)],
        [("top_n_sigma", 1.0), ("temperature", 0.7), ("epsilon", 0.01)],
        [("temperature", 0), ("typical", 0.5)],
    ]
    for steps in chains:
        out = scores
        for process in chain_processors(steps):
            out = process(None, out)
        probs = torch.softmax(out, -1).numpy()
        for r in range(scores.shape[0]):
            expected = chain.apply_chain(scores[r].numpy(), steps)
            assert ((probs[r] > 0) == (expected > 0)).all(), (steps, r)
            np.testing.assert_allclose(probs[r], expected, rtol=1e-9, atol=1e-15)


# --- the same output as transformers, and where it differs by design ---------------------------

def seeded_batches():
    """Rows transformers and lmsample are compared on: three scales of 50,257 random logits, and
    rows with ties (logits on a coarse grid)."""
    yield "scale 12", random_scores(20, 8, 50257, 12.0)
    yield "scale 3", random_scores(21, 8, 50257, 3.0)
    yield "scale 0.5", random_scores(22, 8, 50257, 0.5)
    yield "ties", torch.randint(0, 5, (8, 50257), generator=torch.Generator().manual_seed(23)).float()


def test_repetition_penalty_equals_transformers():
    ids = torch.randint(0, 50257, (8, 300), generator=torch.Generator().manual_seed(24))
    for _, scores in seeded_batches():
        for penalty in (1.3, 0.7):
            assert torch.equal(RepetitionPenalty(penalty)(ids, scores), RepetitionPenaltyLogitsProcessor(penalty)(ids, scores))


def test_repetition_penalty_differs_from_transformers_only_on_arguments():
    scores = torch.tensor([[2.0, -1.0, 0.5]])
    # transformers refuses an int penalty, and ignores a token id outside the vocabulary
    with pytest.raises(ValueError):
        RepetitionPenaltyLogitsProcessor(2)
    assert RepetitionPenalty(2)(torch.tensor([[0]]), scores).tolist() == [[1.0, -1.0, 0.5]]
    assert RepetitionPenaltyLogitsProcessor(2.0)(torch.tensor([[0, 7]]), scores).tolist() == [[1.0, -1.0, 0.5]]
    with pytest.raises(ValueError, match="outside range"):
        RepetitionPenalty(2.0)(torch.tensor([[0, 7]]), scores)


def test_epsilon_equals_transformers_except_tied_maxima():
    differ = {}
    for kind, scores in seeded_batches():
        for eps in (3e-4, 0.05):
            ours, theirs = Epsilon(eps)(None, scores), EpsilonLogitsWarper(eps)(None, scores)
            same = (ours == theirs).all(-1)
            differ[kind] = differ.get(kind, 0) + int((~same).sum())
            # rows that differ: none passes eps, and transformers keeps every tied maximum, we the first
            for r in (~same).nonzero().squeeze(1).tolist():
                top = scores[r] == scores[r].max()
                assert int(top.sum()) > 1 and kept(ours[r : r + 1]) == [(torch.arange(50257) == top.int().argmax()).tolist()]
                assert torch.equal(torch.isfinite(theirs[r]), top)
    assert differ == {"scale 12": 0, "scale 3": 0, "scale 0.5": 0, "ties": 16}
    # the ties row: every token below eps, five tied maxima
    assert sum(kept(EpsilonLogitsWarper(0.3)(None, torch.zeros(1, 5)))[0]) == 5
    assert sum(kept(Epsilon(0.3)(None, torch.zeros(1, 5)))[0]) == 1
    with pytest.raises(ValueError):
        EpsilonLogitsWarper(0.0)  # transformers refuses epsilon = 0; it keeps everything here
    assert kept(Epsilon(0.0)(None, torch.zeros(1, 5))) == [[True] * 5]


def test_eta_equals_transformers(chain):
    differ = 0
    for _, scores in seeded_batches():
        for eps in (3e-4, 0.02):
            ours, theirs = Eta(eps)(None, scores), EtaLogitsWarper(eps)(None, scores)
            for r in (~(ours == theirs).all(-1)).nonzero().squeeze(1).tolist():
                # float32 rounding of eta or p at the threshold: lmsample gives the float64 reference
                differ += 1
                expected = chain.eta_filter(softmax(scores[r].double().numpy()), eps) > 0
                assert (torch.isfinite(ours[r]).numpy() == expected).all()
                assert (torch.isfinite(ours[r]) != torch.isfinite(theirs[r])).sum() == 1
    assert differ <= 1


def test_eta_is_the_paper_formula_as_in_transformers_code_not_its_docstring():
    # eta = min(eps, sqrt(eps) * exp(-H)) (Hewitt et al. 2022, and transformers' code); its docstring
    # says min(eps, sqrt(eps * exp(-H))), which would give 0.15 here and remove the two 0.125 tokens
    h = 1.75 * math.log(2)
    assert min(0.15, math.sqrt(0.15) * math.exp(-h)) < 0.125 < min(0.15, math.sqrt(0.15 * math.exp(-h)))
    assert kept(EtaLogitsWarper(0.15)(None, DYADIC.float())) == [[True] * 4]
    assert kept(Eta(0.15)(None, DYADIC)) == [[True] * 4]


def test_typical_equals_transformers_except_ties_and_float32_rounding(chain):
    n_ties = n_rounding = 0
    for kind, scores in seeded_batches():
        for mass in (0.2, 0.9):
            ours = torch.isfinite(Typical(mass)(None, scores))
            theirs = torch.isfinite(TypicalLogitsWarper(mass)(None, scores))
            for r in (ours != theirs).any(-1).nonzero().squeeze(1).tolist():
                logits = scores[r].double().numpy()
                expected = chain.typical_filter(softmax(logits), mass) > 0
                assert (ours[r].numpy() == expected).all(), (kind, mass, r)
                if kind == "ties":
                    # transformers keeps every token as close to H as the crossing one: a superset
                    n_ties += 1
                    assert not (ours[r] & ~theirs[r]).any()
                    distance = torch.from_numpy(np.abs(np.log(softmax(logits)) + lmsample.entropy(softmax(logits))))
                    crossing = distance[ours[r]].max()
                    assert torch.equal(distance[theirs[r] & ~ours[r]], torch.full_like(distance[theirs[r] & ~ours[r]], crossing))
                else:
                    # float32 distances (differences of numbers near log(50257) = 10.8): tokens swap at the crossing
                    n_rounding += 1
                    assert (ours[r] != theirs[r]).sum() <= 2, (kind, mass, r)
    assert n_ties > 0  # the ties rows show the difference
    assert n_rounding > 0  # and so do flat rows (scale 0.5)


def test_typical_ties_and_mass_one_differ_from_transformers():
    # 2 and 3 are equally typical: lmsample keeps the lower index, transformers both
    assert kept(Typical(0.76)(None, DYADIC)) == [[True, True, True, False]]
    assert kept(TypicalLogitsWarper(0.76)(None, DYADIC.float())) == [[True, True, True, True]]
    with pytest.raises(ValueError):
        TypicalLogitsWarper(1.0)
    assert kept(Typical(1.0)(None, DYADIC)) == [[True] * 4]


def test_new_processors_drop_into_transformers_logits_processor_list():
    scores = random_scores(25, 4, 50257, 4.0)
    ids = torch.randint(0, 50257, (4, 50), generator=torch.Generator().manual_seed(26))
    ours = LogitsProcessorList([RepetitionPenalty(1.3), Temperature(0.8), Typical(0.95), Epsilon(1e-4), Eta(1e-4)])
    theirs = LogitsProcessorList([
        RepetitionPenaltyLogitsProcessor(1.3), TemperatureLogitsWarper(0.8), TypicalLogitsWarper(0.95),
        EpsilonLogitsWarper(1e-4), EtaLogitsWarper(1e-4),
    ])
    assert torch.equal(ours(ids, scores), theirs(ids, scores))


def test_new_processors_accept_half_precision_and_non_contiguous_scores():
    logits = torch.randn(3, 7, 1000, generator=torch.Generator().manual_seed(27)) * 3
    last = logits[:, -1, :]  # a model's output: a strided view
    ids = torch.randint(0, 1000, (3, 5), generator=torch.Generator().manual_seed(28))
    for proc in (Typical(0.8), Epsilon(1e-3), Eta(1e-3), TopNSigma(1.0), RepetitionPenalty(1.3)):
        assert torch.equal(proc(ids, last), proc(ids, last.contiguous())), proc
        half = last.to(torch.bfloat16)
        assert proc(ids, half).dtype == torch.bfloat16, proc
    # typical computes in float64, top-n-sigma's statistics in float32 at least: the values of the
    # bfloat16 scores give the same kept set as in float64
    for proc in (Typical(0.8), TopNSigma(1.0)):
        assert torch.equal(torch.isfinite(proc(None, half)), torch.isfinite(proc(None, half.double()))), proc


def test_chain_step_names_are_those_of_the_numpy_chain(chain):
    from lmsample.processors import CHAIN_STEPS

    # the torch chain adds the repetition penalty, which reads the previous tokens from input_ids
    assert list(CHAIN_STEPS) == [*chain.STEP_NAMES, "repetition_penalty"]
    for bad in [("typical", 0.0), ("epsilon", 1.0), ("eta", 0.0), ("top_n_sigma", -1.0)]:
        with pytest.raises(ValueError) as numpy_error:
            chain.apply_chain([0.0, 1.0], [bad])
        with pytest.raises(ValueError) as torch_error:
            chain_processors([bad])
        assert str(torch_error.value) == str(numpy_error.value), bad


def test_infinite_n_and_penalty_are_the_numpy_chain_limits(chain):
    # n = inf keeps every finite score, also on a row of equal scores (sigma = 0: no inf * 0);
    # an infinite penalty sends seen positive logits to 0 and seen negative ones to -inf, zero stays 0
    scores = torch.tensor([[1.0, 1.0, 1.0, -INF], [3.0, -2.0, 0.0, 0.5]], dtype=torch.float64)
    kept = TopNSigma(math.inf)(None, scores)
    assert torch.isfinite(kept).tolist() == [[True, True, True, False], [True, True, True, True]]
    ids = torch.tensor([[0, 1, 2], [0, 1, 2]])
    out = RepetitionPenalty(math.inf)(ids, scores)
    assert out[1].tolist() == [0.0, -INF, 0.0, 0.5]
    for row in range(2):
        expected = chain.repetition_penalty(scores[row].numpy(), [0, 1, 2], math.inf)
        assert out[row].tolist() == expected.tolist()
