"""Long generations precomputed with the packaged model, shipped as ``lmsample/data/generations.json``.

Lesson 06 compares decoding methods on generations of 200 tokens, several seeds each: too slow to
generate live in a 3-minute lesson on a laptop CPU. ``tools/make_generations.py`` makes them with
:func:`make_generations` and :data:`PARAMETERS` (the model, the prompts, the settings);
:func:`load_generations` reads them back. A test checks that the shipped file was made with the
current :data:`PARAMETERS`.

The prompts are cut from the part of the held-out text (:func:`lmsample.held_out_text`) that the
lesson does not tune on: each starts at a paragraph and ends at the end of a word, and the human
continuation is the text's next tokens. Every generation is stored with the log-probability of each
of its tokens under the model at temperature 1 (whatever setting drew it), which is what the lesson's
perplexities are made of.

Settings are ``(name, kind, arguments)``:

- ``"generate"``: :func:`lmsample.generate` with the arguments (temperature first, then top-k,
  top-p, min-p: Hugging Face's order), once per seed;
- ``"beam"``: transformers' beam search (deterministic, stored once);
- ``"truncate-then-temperature"``: a filter (``top_p`` or ``min_p``) applied to the model's
  temperature-1 distribution, then the temperature applied to the kept tokens (the order of the
  min-p paper, Nguyen et al. 2024), token by token with the numpy functions of :mod:`lmsample`;
- ``"tuned"``: like ``"generate"``, with ``top_k`` and/or ``top_p`` set to the values that keep the
  golden token at ``PARAMETERS["coverage"]`` of the tuning text's positions (``"k"``, ``"p"``).
"""
from __future__ import annotations

import base64
import json
from importlib import resources

import numpy as np

__all__ = ["PARAMETERS", "load_generations", "make_generations", "held_out_split", "prompt_spans"]

DATA_FILE = "data/generations.json"

#: What ``tools/make_generations.py`` generates; the shipped file records the parameters it was made with.
PARAMETERS = {
    "model": "smollm2",
    "tuning_paragraph_chars": 3000,  # tune on the paragraphs that start before this character
    "prompts": 4,
    "prompt_tokens": 32,
    "new_tokens": 200,
    "samples": 3,  # continuations per prompt and sampled setting, drawn in one batch
    "seed": 0,
    "coverage": 0.95,
    "golden_window": 256,
    "settings": [
        ["greedy", "generate", {"temperature": 0}],
        ["beam search, width 4", "beam", {"num_beams": 4}],
        ["T 0.5", "generate", {"temperature": 0.5}],
        ["T 0.7", "generate", {"temperature": 0.7}],
        ["T 0.85", "generate", {"temperature": 0.85}],
        ["pure sampling (T 1)", "generate", {}],
        ["top-k 5", "generate", {"top_k": 5}],
        ["top-k 20", "generate", {"top_k": 20}],
        ["top-k 40", "generate", {"top_k": 40}],
        ["top-k 200", "generate", {"top_k": 200}],
        ["top-p 0.5", "generate", {"top_p": 0.5}],
        ["top-p 0.8", "generate", {"top_p": 0.8}],
        ["top-p 0.9", "generate", {"top_p": 0.9}],
        ["top-p 0.95", "generate", {"top_p": 0.95}],
        ["min-p 0.4", "generate", {"min_p": 0.4}],
        ["min-p 0.2", "generate", {"min_p": 0.2}],
        ["min-p 0.1", "generate", {"min_p": 0.1}],
        ["min-p 0.05", "generate", {"min_p": 0.05}],
        ["tuned k", "tuned", {"use": "k"}],
        ["tuned p", "tuned", {"use": "p"}],
        ["tuned k and p", "tuned", {"use": "kp"}],
        ["T 1.5, then top-p 0.9", "generate", {"temperature": 1.5, "top_p": 0.9}],
        ["T 1.5, then min-p 0.1", "generate", {"temperature": 1.5, "min_p": 0.1}],
        ["top-p 0.9, then T 1.5", "truncate-then-temperature", {"top_p": 0.9, "temperature": 1.5}],
        ["min-p 0.1, then T 1.5", "truncate-then-temperature", {"min_p": 0.1, "temperature": 1.5}],
        ["top-p 0.9, then T 2", "truncate-then-temperature", {"top_p": 0.9, "temperature": 2.0}],
        ["min-p 0.1, then T 2", "truncate-then-temperature", {"min_p": 0.1, "temperature": 2.0}],
    ],
}


def held_out_split(text: str, paragraph_chars: int) -> tuple:
    """``(tuning, rest)``: ``text`` cut at the first paragraph break (``"\\n\\n"``) at or after
    character ``paragraph_chars``, so that neither part starts or ends inside a word.

    >>> held_out_split("one two.\\n\\nthree four.\\n\\nfive.", 5)
    ('one two.', 'three four.\\n\\nfive.')
    """
    cut = text.find("\n\n", paragraph_chars)
    if cut < 0:
        raise ValueError(f"paragraph_chars={paragraph_chars} leaves no paragraph break after it")
    return text[:cut], text[cut + 2 :]


def prompt_spans(text: str, n_prompts: int, prompt_tokens: int, continuation_chars: int, count_tokens) -> list:
    """``(start, cut)`` character spans of ``n_prompts`` prompts in ``text``, each of exactly
    ``prompt_tokens`` tokens by ``count_tokens`` (so that they batch without padding): a prompt starts
    at a paragraph and ends at the end of a word (``text[cut]`` is a space or a line break); a
    paragraph with no such cut is skipped. The next prompt starts at a paragraph at least
    ``continuation_chars`` after the previous cut, so that the human continuations do not overlap.

    >>> prompt_spans("a b c\\n\\nd e\\n\\nf g h i", 2, 3, 1, lambda s: len(s.split()))
    [(0, 5), (7, 13)]
    """
    starts = [0] + [i + 2 for i in range(len(text)) if text.startswith("\n\n", i)]
    spans, earliest = [], 0
    for start in starts:
        if start < earliest:
            continue
        i = start
        while True:  # move i to the end of the next word
            while i < len(text) and text[i].isspace():
                i += 1
            while i < len(text) and not text[i].isspace():
                i += 1
            if i >= len(text):
                break
            n = count_tokens(text[start:i])
            if n >= prompt_tokens:
                break
        if i < len(text) and n == prompt_tokens:
            spans.append((start, i))
            earliest = i + continuation_chars
            if len(spans) == n_prompts:
                return spans
    raise ValueError(f"the text holds only {len(spans)} prompts of this kind, {n_prompts} asked for")


# --- storage: token ids as base64 uint16 (vocabularies below 65,536 tokens), log-probabilities as
# base64 float16 (about 3 significant digits: a perplexity off by less than 0.1%) --------------------
IDS, LOGPROBS = np.uint16, np.float16

def _pack(rows: list, dtype) -> dict:
    flat = np.concatenate([np.asarray(r, dtype=dtype) for r in rows]) if rows else np.zeros(0, dtype)
    return {"lengths": [len(r) for r in rows], "base64": base64.b64encode(flat.astype(dtype).tobytes()).decode("ascii")}


def _unpack(packed: dict, dtype) -> list:
    flat = np.frombuffer(base64.b64decode(packed["base64"]), dtype=dtype)
    ends = np.cumsum(packed["lengths"])
    if ends.size and ends[-1] != flat.size:
        raise ValueError("corrupt generations file: lengths do not match the data")
    return [flat[e - n : e].copy() for n, e in zip(packed["lengths"], ends)]


def load_generations() -> dict:
    """The shipped generations: a dict with

    - ``"parameters"``: the :data:`PARAMETERS` they were made with, ``"made_with"`` (model, library
      versions, run time), ``"tuned"`` (``{"k": ..., "p": ...}``);
    - ``"prompts"``: a list of token-id arrays, and ``"prompt_text"``;
    - ``"human"``: ``{"ids": [...], "logprobs": [...]}``, one array per prompt;
    - ``"settings"``: name -> ``{"kind", "arguments", "ids", "logprobs"}``, where ``ids[s][i]`` is
      sample ``s`` of the continuation of prompt ``i`` (one sample for deterministic settings),
      cut after the end token if the model produced one, and ``logprobs[s][i]`` its log-probabilities.
    """
    raw = json.loads(resources.files("lmsample").joinpath(DATA_FILE).read_text(encoding="utf-8"))
    return _decode(raw)


def _decode(raw: dict) -> dict:
    n = len(raw["prompts"]["lengths"])

    def grid(packed, dtype):
        rows = _unpack(packed, dtype)
        return [rows[s : s + n] for s in range(0, len(rows), n)]

    out = {key: raw[key] for key in ("parameters", "made_with", "tuned", "prompt_text")}
    out["prompts"] = _unpack(raw["prompts"], IDS)
    out["human"] = {"ids": _unpack(raw["human"]["ids"], IDS), "logprobs": _unpack(raw["human"]["logprobs"], LOGPROBS)}
    out["settings"] = {
        name: {"kind": s["kind"], "arguments": s["arguments"], "ids": grid(s["ids"], IDS), "logprobs": grid(s["logprobs"], LOGPROBS)}
        for name, s in raw["settings"].items()
    }
    return out


# --- making them (tools/make_generations.py) ---------------------------------------------------------

def _cut_at_end(row, eos: list) -> list:
    row = [int(t) for t in row]
    for i, t in enumerate(row):
        if t in eos:
            return row[: i + 1]
    return row


def _truncate_then_temperature(model, ids, max_new_tokens: int, arguments: dict, rng) -> "torch.Tensor":
    """Sampling with the filter applied to the temperature-1 distribution and the temperature applied
    to the kept tokens afterwards, token by token with lmsample's numpy functions (a KV cache keeps
    it linear in the length). Rows that produced an end token keep producing it."""
    import inspect

    import torch

    from .generation import _cache_argument, end_token_ids
    from .temperature import apply_temperature
    from .sampling import inverse_cdf_sample
    from .truncation import min_p_filter, top_p_filter

    eos = end_token_ids(model)
    cache_name = _cache_argument(inspect.signature(model.forward).parameters)
    temperature = float(arguments["temperature"])
    if "top_p" in arguments:
        def truncate(p):
            return top_p_filter(p, arguments["top_p"])
    else:
        def truncate(p):
            return min_p_filter(p, arguments["min_p"])
    done = np.zeros(ids.shape[0], dtype=bool)
    step, past = ids, None
    with torch.inference_mode():
        for _ in range(max_new_tokens):
            out = model(input_ids=step, use_cache=True, **{cache_name: past})
            past = getattr(out, cache_name)
            probs = torch.softmax(out.logits[:, -1].double(), -1).numpy()
            tokens = []
            for row, p in enumerate(probs):
                if done[row]:
                    tokens.append(eos[0])
                    continue
                q = apply_temperature(truncate(p / p.sum()), temperature)
                tokens.append(inverse_cdf_sample(q, rng.random()))
                done[row] = tokens[-1] in eos
            step = torch.tensor(tokens)[:, None]
            ids = torch.cat([ids, step], dim=1)
            if done.all():
                break
    return ids


def make_generations(model, tokenizer, parameters: dict = PARAMETERS, progress=print) -> dict:
    """Generate every setting of ``parameters`` with ``model``; returns the JSON-ready dict that
    :func:`load_generations` reads (``tools/make_generations.py`` writes it)."""
    import time

    import torch

    from .generation import end_token_ids, generate
    from .golden import golden_tokens, held_out_text, suggest_k_p, token_logprobs

    start_time = time.perf_counter()
    eos = end_token_ids(model)
    if len(tokenizer) > np.iinfo(IDS).max + 1:
        raise ValueError(f"the vocabulary ({len(tokenizer)} tokens) does not fit in {np.dtype(IDS).name}")
    tuning, rest = held_out_split(held_out_text(), parameters["tuning_paragraph_chars"])
    golden = golden_tokens(model, tokenizer, tuning, window=parameters["golden_window"], progress=False)
    suggestion = suggest_k_p(golden, parameters["coverage"])
    tuned = {"k": int(suggestion.k), "p": float(suggestion.p)}
    progress(f"tuned on {golden.ranks.size} positions: {tuned}")

    def encode(text):
        return tokenizer.encode(text, add_special_tokens=False)

    n_new = parameters["new_tokens"]
    spans = prompt_spans(rest, parameters["prompts"], parameters["prompt_tokens"], 6 * n_new, lambda s: len(encode(s)))
    prompts = [encode(rest[a:b]) for a, b in spans]
    human = [encode(rest[b:])[:n_new] for _, b in spans]
    if any(len(h) < n_new for h in human):
        raise ValueError("the held-out text is too short for these prompts")
    width = parameters["prompt_tokens"]
    prompt_batch = torch.tensor(prompts)

    def scored(out):
        """Continuations of a batch of generated rows, cut after the end token, and their log-probabilities."""
        out = torch.as_tensor(out)
        logprobs = token_logprobs(model, out, width)  # causal: tokens after an end token change nothing before it
        ids = [_cut_at_end(row[width:], eos) for row in out]
        return ids, [lp[: len(row)] for lp, row in zip(logprobs, ids)]

    settings = {}
    for name, kind, arguments in parameters["settings"]:
        t0 = time.perf_counter()
        if kind == "beam":
            with torch.inference_mode():
                out = model.generate(
                    prompt_batch, attention_mask=torch.ones_like(prompt_batch), do_sample=False,
                    num_beams=arguments["num_beams"], max_new_tokens=n_new, pad_token_id=eos[0] if eos else None,
                )
        elif kind == "generate" and arguments.get("temperature", 1.0) == 0:
            out = generate(model, prompt_batch, n_new, temperature=0)
        else:  # every prompt `samples` times in one batch: row s * prompts + i is sample s of prompt i
            rows = prompt_batch.repeat(parameters["samples"], 1)
            if kind == "truncate-then-temperature":
                out = _truncate_then_temperature(model, rows, n_new, arguments, np.random.default_rng(parameters["seed"]))
            else:
                kwargs = dict(arguments)
                if kind == "tuned":
                    use = kwargs.pop("use")
                    kwargs = {"top_k": tuned["k"] if "k" in use else None, "top_p": tuned["p"] if "p" in use else None}
                out = generate(model, rows, n_new, generator=torch.Generator().manual_seed(parameters["seed"]), **kwargs)
        ids, logprobs = scored(out)
        settings[name] = {"kind": kind, "arguments": arguments, "ids": _pack(ids, IDS), "logprobs": _pack(logprobs, LOGPROBS)}
        progress(f"{name}: {time.perf_counter() - t0:.0f} s")

    human_ids, human_logprobs = scored(torch.cat([prompt_batch, torch.tensor(human)], dim=1))
    import transformers

    return {
        "parameters": parameters,
        "made_with": {
            "model": getattr(model.config, "_name_or_path", ""),
            "model_type": model.config.model_type,
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "seconds": round(time.perf_counter() - start_time),
        },
        "tuned": tuned,
        "prompt_text": [rest[a:b] for a, b in spans],
        "prompts": _pack(prompts, IDS),
        "human": {"ids": _pack(human_ids, IDS), "logprobs": _pack(human_logprobs, LOGPROBS)},
        "settings": settings,
    }
