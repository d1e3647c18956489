"""The precomputed long generations of lesson 06 (lmsample/data/generations.json): shipped, loadable,
made by tools/make_generations.py with the current lmsample.precomputed.PARAMETERS."""
import fnmatch
import json
import tomllib
from pathlib import Path

import numpy as np
import pytest
import torch

import lmsample
from lmsample import precomputed as pc

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def shipped():
    return lmsample.load_generations()


def test_the_file_is_package_data():
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["lmsample"]
    assert any(fnmatch.fnmatch(pc.DATA_FILE, p) for p in patterns)
    size = (ROOT / "lmsample" / pc.DATA_FILE).stat().st_size
    print(f"\n{pc.DATA_FILE}: {size / 1024:.0f} KB")
    assert size < 400_000


def test_made_with_the_current_parameters(shipped):
    assert shipped["parameters"] == json.loads(json.dumps(pc.PARAMETERS))
    assert list(shipped["settings"]) == [name for name, _, _ in pc.PARAMETERS["settings"]]
    assert shipped["made_with"]["model_type"] == "llama"  # SmolLM2, the packaged model


def test_shapes_and_values(shipped):
    p = pc.PARAMETERS
    n_prompts, n_new = p["prompts"], p["new_tokens"]
    assert [len(x) for x in shipped["prompts"]] == [p["prompt_tokens"]] * n_prompts
    assert [len(x) for x in shipped["human"]["ids"]] == [n_new] * n_prompts
    assert 1 <= shipped["tuned"]["k"] and 0 < shipped["tuned"]["p"] <= 1
    for name, kind, _ in p["settings"]:
        s = shipped["settings"][name]
        deterministic = kind == "beam" or s["arguments"].get("temperature", 1) == 0
        assert len(s["ids"]) == (1 if deterministic else p["samples"]), name
        for ids_row, lp_row in zip(s["ids"], s["logprobs"]):
            assert len(ids_row) == len(lp_row) == n_prompts
            for ids, lp in zip(ids_row, lp_row):
                assert 1 <= len(ids) <= n_new and len(lp) == len(ids), name
                assert ids.max() < 49152 and np.all(lp <= 0) and np.all(np.isfinite(lp)), name
    for lp in shipped["human"]["logprobs"]:
        assert np.all(lp <= 0) and np.all(np.isfinite(lp))


def test_prompts_and_human_text_are_the_held_out_text(shipped):
    """With SmolLM2's tokenizer (cached by lmsample.load_model("smollm2")), the prompts and the human
    continuations are the held-out text cut as PARAMETERS says."""
    from transformers import AutoTokenizer

    from lmsample.models import _SMOLLM2_FOLDER, cache_dir

    folder = cache_dir() / _SMOLLM2_FOLDER
    if not (folder / "tokenizer.json").is_file():
        pytest.skip("SmolLM2's tokenizer is not cached yet (run lmsample.load_model('smollm2') once)")
    tok = AutoTokenizer.from_pretrained(str(folder))

    def encode(text):
        return tok.encode(text, add_special_tokens=False)

    p = pc.PARAMETERS
    _, rest = pc.held_out_split(lmsample.held_out_text(), p["tuning_paragraph_chars"])
    spans = pc.prompt_spans(rest, p["prompts"], p["prompt_tokens"], 6 * p["new_tokens"], lambda s: len(encode(s)))
    assert shipped["prompt_text"] == [rest[a:b] for a, b in spans]
    assert [x.tolist() for x in shipped["prompts"]] == [encode(rest[a:b]) for a, b in spans]
    assert [x.tolist() for x in shipped["human"]["ids"]] == [encode(rest[b:])[: p["new_tokens"]] for _, b in spans]
    for a, b in spans:  # a prompt starts at a paragraph and ends at the end of a word
        assert (a == 0 or rest[a - 2 : a] == "\n\n") and rest[b].isspace() and not rest[b - 1].isspace()


def test_held_out_split_and_prompt_spans():
    assert pc.held_out_split("ab cd\n\nef\n\ngh", 3) == ("ab cd", "ef\n\ngh")
    assert pc.held_out_split("ab cd\n\nef\n\ngh", 6) == ("ab cd\n\nef", "gh")
    with pytest.raises(ValueError, match="paragraph_chars"):
        pc.held_out_split("ab cd", 1)
    text = "a b c\n\nd e f g\n\nh i\n\nj k l m n"
    words = lambda s: len(s.split())  # noqa: E731
    assert pc.prompt_spans(text, 2, 2, 0, words) == [(0, 3), (7, 10)]
    assert pc.prompt_spans(text, 2, 2, 8, words) == [(0, 3), (16, 19)]
    with pytest.raises(ValueError, match="only 1 prompts"):
        pc.prompt_spans(text, 2, 2, 100, words)


@pytest.mark.usefixtures("one_torch_thread")
def test_make_generations_round_trip_on_a_tiny_model():
    model, tok = lmsample.tiny_gpt2(seed=1)
    settings = [s for s in pc.PARAMETERS["settings"] if s[0] in ("greedy", "top-p 0.9", "min-p 0.1, then T 2", "tuned k and p")]
    params = dict(pc.PARAMETERS, new_tokens=6, samples=2, settings=settings)
    raw = json.loads(json.dumps(pc.make_generations(model, tok, params, progress=lambda line: None)))
    got = pc._decode(raw)
    assert list(got["settings"]) == ["greedy", "top-p 0.9", "tuned k and p", "min-p 0.1, then T 2"]
    prompts = torch.tensor(np.array(got["prompts"], dtype=np.int64))
    greedy = lmsample.generate(model, prompts, 6, temperature=0)[:, prompts.shape[1]:]
    assert [x.tolist() for x in got["settings"]["greedy"]["ids"][0]] == greedy.tolist()
    sampled = lmsample.generate(model, prompts.repeat(2, 1), 6, top_p=0.9, generator=torch.Generator().manual_seed(0))
    grid = got["settings"]["top-p 0.9"]["ids"]
    assert [x.tolist() for row in grid for x in row] == sampled[:, prompts.shape[1]:].tolist()
    expected = lmsample.token_logprobs(model, sampled, prompts.shape[1])
    stored = np.array([x for row in got["settings"]["top-p 0.9"]["logprobs"] for x in row], dtype=np.float64)
    assert np.allclose(stored, expected, rtol=1e-3, atol=0)  # float16: 3 significant digits
    assert len(got["settings"]["min-p 0.1, then T 2"]["ids"]) == 2
