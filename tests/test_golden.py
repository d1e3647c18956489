"""Golden-token tuning on a model, and the quality measures for generated text."""
import numpy as np
import pytest
import torch

import lmsample
from lmsample import ends_in_repetition, golden_cdf, golden_rank, repetition, tiny_gpt2
from lmsample.golden import GoldenTokens, golden_tokens, held_out_text, suggest_k_p, windows


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def tiny():
    return tiny_gpt2(seed=1)


def test_windows_score_every_target_once():
    assert windows(10, 4) == [(0, 1), (2, 4), (4, 6), (6, 8)]
    assert windows(9, 4) == [(0, 1), (2, 4), (4, 6), (5, 8)]
    assert windows(3, 128) == [(0, 1)]
    for n, w in [(2, 2), (17, 5), (100, 16), (101, 16)]:
        spans = windows(n, w)
        width = min(w, n)
        scored = [j for k, (s, first) in enumerate(spans) for j in range(first, s + width)]
        assert scored == list(range(1, n)), (n, w)
    with pytest.raises(ValueError):
        windows(10, 1)


def test_golden_tokens_equal_the_numpy_contracts_on_one_window(tiny):
    model, tok = tiny
    text = "We the People of the United States, in Order to form a more perfect Union"
    ids = tok.encode(text)
    got = golden_tokens(model, tok, text, window=64, progress=False)
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0, :-1].float().numpy()
    targets = np.array(ids[1:])
    assert got.token_ids.tolist() == ids
    assert got.ranks.tolist() == golden_rank(logits, targets).tolist()
    assert np.allclose(got.cdfs, golden_cdf(logits, targets), rtol=0, atol=1e-12)
    logp = torch.log_softmax(torch.tensor(logits, dtype=torch.float64), -1).numpy()[np.arange(len(targets)), targets]
    assert np.allclose(got.logprobs, logp, rtol=0, atol=1e-12)
    assert got.perplexity == pytest.approx(float(np.exp(-logp.mean())), rel=1e-12)


def test_golden_tokens_in_batched_windows(tiny):
    model, tok = tiny
    text = held_out_text()[:600]
    n = len(tok.encode(text))
    got = golden_tokens(model, tok, text, window=16, batch_size=3, progress=False)
    assert got.ranks.shape == got.cdfs.shape == got.logprobs.shape == (n - 1,)
    assert got.ranks.min() >= 1 and got.ranks.max() <= 50257
    assert (got.cdfs > 0).all() and (got.cdfs <= 1 + 1e-9).all() and (got.logprobs <= 0).all()
    # the first window sees the same tokens as a full pass: its positions agree exactly
    first = golden_tokens(model, tok, tok.decode(tok.encode(text)[:16]), window=16, progress=False)
    assert got.ranks[:15].tolist() == first.ranks.tolist()


def test_suggest_k_p_exact_values():
    golden = GoldenTokens(
        token_ids=np.arange(5),
        ranks=np.array([1, 1, 2, 5]),
        cdfs=np.array([0.5, 0.9, 0.2, 0.99]),
        logprobs=np.log([0.5, 0.5, 0.25, 0.125]),
    )
    s = suggest_k_p(golden, 0.75)
    assert (s.k, s.p, s.k_coverage, s.p_coverage, s.positions) == (2, 0.9, 0.75, 0.75, 4)
    assert "k = 2" in str(s) and "p = 0.9000" in str(s)
    assert golden.perplexity == pytest.approx(2 ** 1.75)


def test_held_out_text_is_shipped_with_its_source():
    text = held_out_text()
    assert len(text.split()) > 2000 and text.startswith("We the People")
    from importlib import resources

    assert "public domain" in resources.files("lmsample").joinpath("data/SOURCES.md").read_text().lower()


def test_names_are_importable_from_lmsample():
    assert lmsample.golden_tokens is golden_tokens and lmsample.suggest_k_p is suggest_k_p


# --- repetition (Holtzman et al. 2020) ----------------------------------------------------------

def test_ends_in_repetition_follows_holtzman_et_al():
    # the rule of the paper's metrics/repetition.py: the most repeated final phrase (shortest among
    # ties) counts if it has >= 3 tokens and occurs >= 2 times, or occurs > 50 times
    loop = "I do not know . I do not know .".split()
    assert ends_in_repetition(loop)
    assert not ends_in_repetition(loop, min_phrase=6)  # the phrase has 5 tokens
    assert not ends_in_repetition(loop, max_phrase=4)
    assert ends_in_repetition("so I said that I know that I know".split())  # 3 tokens, twice
    assert not ends_in_repetition(["a", "b", "b", "b"])  # a one-token loop must run more than 50 times
    assert ends_in_repetition(["a"] + ["b"] * 51) and not ends_in_repetition(["a"] + ["b"] * 50)
    assert ends_in_repetition(["x"] + ["a", "b"] * 51) and not ends_in_repetition(["x"] + ["a", "b"] * 50)
    assert not ends_in_repetition(["b", "b", "b", "a"])
    assert not ends_in_repetition([])
    assert ends_in_repetition(np.array([1, 2, 3, 1, 2, 3]))
    with pytest.raises(ValueError):
        ends_in_repetition("a b a b")  # a string, not tokens


def test_shortest_phrase_wins_ties_as_in_the_paper():
    # "a a a a": length 1 repeats 4 times, length 2 twice: the one-token loop is the longest run,
    # and 4 < 51, so it is not counted, although "a a" (2 tokens) repeats twice
    assert not ends_in_repetition(["a"] * 4)
    # six tokens "a b c a b c": length 3 repeats twice and is the maximum
    assert ends_in_repetition(list("abcabc"))


def test_repetition_is_the_fraction_of_looping_generations():
    gens = [list("xyzxyz"), ["a", "b", "c", "d"], ["z"] * 60, ["p", "q"]]
    assert repetition(gens) == 0.5
    assert repetition(gens, min_short_repeats=100) == 0.25
    with pytest.raises(ValueError):
        repetition([])


def test_token_logprobs_and_quality_of_generations(tiny):
    model, tok = tiny
    from lmsample import generate, quality, token_logprobs

    ids = torch.tensor([tok.encode("The meaning of life is"), tok.encode("Once upon a time there")])
    out = generate(model, ids, 8, top_k=5, generator=torch.Generator().manual_seed(0))
    lp = token_logprobs(model, out, ids.shape[1])
    with torch.no_grad():
        full = torch.log_softmax(model(out).logits.double(), -1)
    expected = full[:, ids.shape[1] - 1 : -1].gather(2, out[:, ids.shape[1]:, None])[..., 0].numpy()
    assert lp.shape == (2, 8) and np.allclose(lp, expected, rtol=0, atol=1e-12)
    q = quality(model, out, ids.shape[1])
    assert q["perplexity"] == pytest.approx(float(np.exp(-expected.mean())), rel=1e-12)
    rows = [r[ids.shape[1]:].tolist() for r in out]
    pooled = [tuple(r[i : i + 2]) for r in rows for i in range(len(r) - 1)]
    assert q["distinct_2"] == len(set(pooled)) / len(pooled)
    assert q["repetition"] == repetition(rows)
    with pytest.raises(ValueError):
        token_logprobs(model, out, 0)


def test_golden_tokens_record_strict_ranks_entropies_and_head_masses(tiny):
    model, tok = tiny
    from lmsample import strict_rank

    text = "We the People of the United States, in Order to form a more perfect Union"
    ids = tok.encode(text)
    got = golden_tokens(model, tok, text, window=64, progress=False, head=7)
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0, :-1].float().numpy()
    targets = np.array(ids[1:])
    assert got.strict_ranks.tolist() == strict_rank(logits, targets).tolist()
    p = torch.softmax(torch.tensor(logits, dtype=torch.float64), -1).numpy()
    assert np.allclose(got.entropies, -(p * np.log(p)).sum(1), rtol=1e-12, atol=0)
    assert np.allclose(got.top_probs[:, 0], p.max(1), rtol=1e-12, atol=0)
    assert got.head_masses.shape == (len(targets), 7)
    assert np.allclose(got.head_masses, np.cumsum(-np.sort(-p, axis=1)[:, :7], axis=1), rtol=1e-12, atol=0)
