"""Time lmsample.generate against transformers' model.generate on the same model, in the same run.

Same prompt, same settings, same seed: it checks that both return the same tokens, then prints
the best time of each (interleaved runs), their ratio (transformers / lmsample: above 1 means
lmsample is faster) and the median ratio of consecutive runs.
Models: the tiny GPT-2 of the tests (where per-step overhead dominates) and the packaged
SmolLM2-135M (a real model, where the forward pass dominates), or ``--model NAME`` for any other.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/bench_generate.py [--repeats 5] [--new-tokens 48]
"""
from __future__ import annotations

import argparse
import statistics
import time
import warnings

import torch

from lmsample import generate
from lmsample.models import load_model

PROMPTS = ["The meaning of life is", "Once upon a time, in a small village,", "The capital of France is", "In 1905, Albert Einstein"]
SETTINGS = {
    "greedy": dict(temperature=0),
    "top-p 0.9": dict(top_p=0.9),
    "T 0.8, top-k 50, top-p 0.95": dict(temperature=0.8, top_k=50, top_p=0.95),
}


def hf_kwargs(settings: dict) -> dict:
    if settings.get("temperature", 1.0) == 0:
        return dict(do_sample=False)
    return dict(do_sample=True, temperature=settings.get("temperature", 1.0), top_k=settings.get("top_k") or 0,
                top_p=settings.get("top_p") or 1.0)


def timings(fns, repeats: int) -> list:
    """``repeats`` timings of each function, run in turns (so that a busy machine slows both alike)."""
    times = [[] for _ in fns]
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            start = time.perf_counter()
            fn()
            times[i].append(time.perf_counter() - start)
    return times


def bench(label: str, model, tokenizer, batch: int, new_tokens: int, repeats: int) -> None:
    ids = [tokenizer.encode(p, add_special_tokens=False) for p in PROMPTS[:batch]]
    width = min(len(i) for i in ids)
    ids = torch.tensor([i[:width] for i in ids])  # equal lengths: no padding needed
    for name, settings in SETTINGS.items():
        seed = 0

        def ours():
            return generate(model, ids, new_tokens, generator=torch.Generator().manual_seed(seed), **settings)

        def theirs():
            torch.manual_seed(seed)
            return model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=new_tokens, **hf_kwargs(settings))

        same = ours().tolist() == theirs().tolist()  # also a warm-up
        hf, us = timings([theirs, ours], repeats)
        # the best run of each (the least disturbed), and the median of the ratios of runs made
        # one after the other (robust to a machine whose speed drifts)
        paired = statistics.median(a / b for a, b in zip(hf, us))
        print(f"{label:>22} | {name:<28} | transformers {min(hf):6.2f} s | lmsample {min(us):6.2f} s | "
              f"ratio {min(hf) / min(us):4.2f}x (paired median {paired:4.2f}x) | "
              f"{'same tokens' if same else 'TOKENS DIFFER'}")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--new-tokens", type=int, default=48)
    parser.add_argument("--model", default=None, help="also time this model (a Hub name or folder)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.new_tokens} new tokens, best of {args.repeats}")
    warnings.simplefilter("ignore")
    model, tok = load_model("tiny-gpt2")
    bench("tiny GPT-2, batch 4", model, tok, 4, args.new_tokens, args.repeats)
    model, tok = load_model(args.model or "smollm2")
    bench(f"{args.model or 'SmolLM2-135M'}, batch 2", model, tok, 2, args.new_tokens, args.repeats)


if __name__ == "__main__":
    main()
