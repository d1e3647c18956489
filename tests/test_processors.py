"""Batched torch processors: same semantics as the numpy filters, same output as transformers' warpers."""
import math
import subprocess
import sys

import numpy as np
import pytest
import torch
from transformers import LogitsProcessorList
from transformers.generation.logits_process import (
    MinPLogitsWarper,
    TemperatureLogitsWarper,
    TopKLogitsWarper,
    TopPLogitsWarper,
)

import lmsample
from lmsample import min_p_filter, softmax, top_k_filter, top_p_filter
from lmsample.processors import MinP, Temperature, TopK, TopP, processors_for

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
