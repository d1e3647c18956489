"""lmsample.generate on a small GPT-2-architecture model: token for token what transformers does."""
import inspect
import warnings
from types import SimpleNamespace

import pytest
import torch

from transformers import LogitsProcessorList

from lmsample import chain_processors, generate, tiny_gpt2


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def tiny():
    model, tokenizer = tiny_gpt2(seed=0)
    return model, tokenizer


def prompt_ids(tokenizer, *texts):
    return torch.tensor([tokenizer.encode(t) for t in texts], dtype=torch.long)


HF_NAMES = dict(typical="typical_p", epsilon="epsilon_cutoff", eta="eta_cutoff", repetition_penalty="repetition_penalty")


def hf_generate(model, ids, n, seed=None, **settings):
    """transformers' generate with the same settings (None means 'off', as in lmsample)."""
    kwargs = dict(max_new_tokens=n, attention_mask=torch.ones_like(ids))
    kwargs.update({HF_NAMES[k]: settings.pop(k) for k in list(settings) if k in HF_NAMES})
    if settings.get("temperature", 1.0) == 0:
        kwargs.update(do_sample=False)
    else:
        kwargs.update(
            do_sample=True,
            temperature=settings.get("temperature", 1.0),
            top_k=settings.get("top_k") or 0,
            top_p=settings.get("top_p") or 1.0,
            min_p=settings.get("min_p"),
        )
    if seed is not None:
        torch.manual_seed(seed)
    return model.generate(ids, **kwargs)


SETTINGS = [
    dict(),
    dict(temperature=0.7),
    dict(top_k=50),
    dict(top_p=0.9),
    dict(temperature=1.3, top_k=200, top_p=0.95),
    dict(min_p=0.2),
    dict(temperature=0.8, top_p=0.8, min_p=0.1),
    dict(typical=0.9),
    dict(typical=0.3),
    dict(epsilon=3e-4),
    dict(eta=3e-4),
    dict(repetition_penalty=1.5),
    dict(temperature=0.8, top_k=100, typical=0.8, epsilon=1e-3, eta=1e-3, repetition_penalty=1.3),
]


@pytest.mark.parametrize("settings", SETTINGS, ids=[str(s) for s in SETTINGS])
def test_sampling_reproduces_transformers_token_for_token(tiny, settings):
    import transformers

    if settings.get("min_p") is not None and not hasattr(transformers.GenerationConfig(), "min_p"):
        pytest.skip(f"transformers {transformers.__version__} has no min_p to compare with (added in 4.41)")
    model, tok = tiny
    ids = prompt_ids(tok, "The meaning of life is", "Once upon a time there")
    for seed in (0, 1):
        ours = generate(model, ids, 12, generator=torch.Generator().manual_seed(seed), **settings)
        theirs = hf_generate(model, ids, 12, seed=seed, **settings)
        assert ours.tolist() == theirs.tolist(), (settings, seed)


def test_greedy_reproduces_transformers_greedy_search(tiny):
    model, tok = tiny
    ids = prompt_ids(tok, "Hello world, this is", "A quick brown fox jumps")
    ours = generate(model, ids, 15, temperature=0)
    assert ours.tolist() == hf_generate(model, ids, 15, temperature=0).tolist()
    # top-k, top-p, min-p never remove the maximum: greedy is unchanged by them
    assert generate(model, ids, 15, temperature=0, top_k=3, top_p=0.5, min_p=0.5).tolist() == ours.tolist()


def test_greedy_with_repetition_penalty_reproduces_transformers(tiny):
    # the penalty is a processor of the raw logits, not a filter: greedy decoding reads it too
    model, tok = tiny
    ids = prompt_ids(tok, "Hello world, this is", "A quick brown fox jumps")
    ours = generate(model, ids, 15, temperature=0, repetition_penalty=1.5)
    assert ours.tolist() == hf_generate(model, ids, 15, temperature=0, repetition_penalty=1.5).tolist()
    assert ours.tolist() != generate(model, ids, 15, temperature=0).tolist()


def test_steps_give_the_chain_in_its_order(tiny):
    model, tok = tiny
    ids = prompt_ids(tok, "The meaning of life is", "Once upon a time there")
    g = lambda: torch.Generator().manual_seed(2)  # noqa: E731
    # transformers' order spelled as steps: the same tokens as the keywords
    hf_order = generate(model, ids, 10, temperature=0.8, top_k=100, top_p=0.9, generator=g())
    steps = [("temperature", 0.8), ("top_k", 100), ("top_p", 0.9)]
    assert generate(model, ids, 10, steps=steps, generator=g()).tolist() == hf_order.tolist()
    # another order: what transformers' generate does with the same processors passed in that order
    steps = [("min_p", 0.05), ("temperature", 2.0), ("typical", 0.9), ("top_n_sigma", 1.5)]
    ours = generate(model, ids, 10, steps=steps, repetition_penalty=1.3, generator=g())
    torch.manual_seed(2)
    processors = LogitsProcessorList(chain_processors([("repetition_penalty", 1.3)] + steps))
    theirs = model.generate(
        ids, do_sample=True, top_k=0, max_new_tokens=10, attention_mask=torch.ones_like(ids), logits_processor=processors
    )
    assert ours.tolist() == theirs.tolist()
    # temperature 0 as a step keeps the tied maxima: greedy, when the maximum is unique
    assert generate(model, ids, 8, steps=[("temperature", 0)], generator=g()).tolist() == generate(
        model, ids, 8, temperature=0
    ).tolist()


def test_steps_leave_the_keywords_unset(tiny):
    model, tok = tiny
    with pytest.raises(ValueError, match="leave temperature, top_p unset"):
        generate(model, prompt_ids(tok, "Hi"), 3, temperature=0.7, top_p=0.9, steps=[("min_p", 0.1)])
    with pytest.raises(ValueError, match=r"steps\[0\]: unknown step name 'nucleus'"):
        generate(model, prompt_ids(tok, "Hi"), 3, steps=[("nucleus", 0.9)])


def test_returns_prompt_then_new_tokens_and_accepts_1d_input(tiny):
    model, tok = tiny
    ids = torch.tensor(tok.encode("Hello world"))
    out = generate(model, ids, 5, temperature=0)
    assert out.ndim == 1 and out.shape[0] == ids.shape[0] + 5
    assert out[: ids.shape[0]].tolist() == ids.tolist()
    assert generate(model, ids, 0).tolist() == ids.tolist()


def test_returns_an_ordinary_tensor_the_caller_can_change(tiny):
    # generate runs under torch.inference_mode; what it returns must not be an inference tensor
    model, tok = tiny
    out = generate(model, torch.tensor([tok.encode("Hello world")]), 3, temperature=0)
    assert not out.is_inference()
    out[0, 0] = 7  # an in-place change to an inference tensor would raise here
    assert not torch.is_inference_mode_enabled()


def test_generator_is_the_only_randomness(tiny):
    model, tok = tiny
    ids = prompt_ids(tok, "Hello world")
    a = generate(model, ids, 10, top_p=0.95, generator=torch.Generator().manual_seed(5))
    torch.manual_seed(123)  # the global generator does not matter
    b = generate(model, ids, 10, top_p=0.95, generator=torch.Generator().manual_seed(5))
    assert a.tolist() == b.tolist()


def test_rows_stop_at_the_end_token_like_transformers(tiny):
    model, tok = tiny
    ids = prompt_ids(tok, "The meaning of life is", "Once upon a time there")
    settings = dict(top_k=20)
    free = generate(model, ids, 10, generator=torch.Generator().manual_seed(0), **settings)
    n = ids.shape[1]
    row0, row1 = free[0, n:].tolist(), free[1, n:].tolist()
    # the end token: one that row 0 produces first at step s >= 1 and row 1 never produces
    s = next(i for i in range(1, 10) if row0[i] not in row0[:i] and row0[i] not in row1)
    eos = row0[s]
    saved = model.generation_config.eos_token_id, model.generation_config.pad_token_id
    try:
        model.generation_config.eos_token_id = eos
        model.generation_config.pad_token_id = 0
        ours = generate(model, ids, 10, generator=torch.Generator().manual_seed(0), **settings)
        assert ours.tolist() == hf_generate(model, ids, 10, seed=0, **settings).tolist()
        assert ours[0, : n + s + 1].tolist() == free[0, : n + s + 1].tolist()
        assert ours[0, n + s + 1 :].tolist() == [0] * (9 - s)  # padded after the end token
        assert ours[1].tolist() == free[1].tolist()  # the other row is not disturbed
        # when every row has finished, generation stops
        single = generate(model, ids[:1], 10, generator=torch.Generator().manual_seed(0), **settings)
        new = single[0, n:].tolist()
        assert eos not in new[:-1] and (new[-1] == eos or len(new) == 10)
        assert single.tolist() == hf_generate(model, ids[:1], 10, seed=0, **settings).tolist()
    finally:
        model.generation_config.eos_token_id, model.generation_config.pad_token_id = saved


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(temperature=-1), dict(top_k=0), dict(top_p=0.0), dict(min_p=2.0), dict(temperature=0, top_p=1.5),
        dict(typical=0.0), dict(epsilon=1.0), dict(eta=0.0), dict(temperature=0, eta=1.5), dict(repetition_penalty=0.0),
        dict(steps=[("typical", 1.5)]),
    ],
)
def test_invalid_settings_raise_value_error(tiny, kwargs):
    model, tok = tiny
    with pytest.raises(ValueError):
        generate(model, prompt_ids(tok, "Hi"), 3, **kwargs)


def test_invalid_input_ids_raise_value_error(tiny):
    model, _ = tiny
    with pytest.raises(ValueError):
        generate(model, torch.zeros(1, 0, dtype=torch.long), 3)
    with pytest.raises(ValueError):
        generate(model, torch.zeros(1, 3), 3)  # float ids
    with pytest.raises(ValueError):
        generate(model, torch.zeros(1, 3, dtype=torch.long), -1)


@pytest.mark.parametrize(
    "settings",
    [dict(temperature=0), dict(top_k=20, top_p=0.9), dict(steps=[("typical", 0.9), ("eta", 1e-3)], repetition_penalty=1.2)],
    ids=["greedy", "sampled", "chain"],
)
def test_generation_emits_no_warning(tiny, settings):
    # transformers 5.24 deprecated the `past_key_values` argument of forward ("Use `cache`"):
    # whatever the installed release calls it, generate must not trigger a warning of any kind
    model, tok = tiny
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        generate(model, prompt_ids(tok, "Hello world"), 6, generator=torch.Generator().manual_seed(0), **settings)


class OldStyleModel(torch.nn.Module):
    """The tiny GPT-2 behind the forward signature of transformers before 5.24 (``past_key_values``
    in, ``.past_key_values`` out, no ``cache``), as on a Colab with an older release."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner
        self.config, self.generation_config = inner.config, inner.generation_config
        self.name = "cache" if "cache" in inspect.signature(inner.forward).parameters else "past_key_values"

    def forward(self, input_ids=None, past_key_values=None, use_cache=None):
        out = self.inner(input_ids=input_ids, use_cache=use_cache, **{self.name: past_key_values})
        return SimpleNamespace(logits=out.logits, past_key_values=getattr(out, self.name))


def test_the_cache_argument_is_chosen_by_what_forward_declares(tiny):
    model, tok = tiny
    ids = prompt_ids(tok, "The meaning of life is", "Once upon a time there")
    old = OldStyleModel(model)
    for settings in (dict(temperature=0), dict(top_p=0.9)):
        ours = generate(model, ids, 8, generator=torch.Generator().manual_seed(1), **settings)
        assert generate(old, ids, 8, generator=torch.Generator().manual_seed(1), **settings).tolist() == ours.tolist()
