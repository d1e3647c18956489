"""Time lmsample.TopP against transformers' TopPLogitsWarper on the same batches, in the same run.

Four kinds of (64, 50257) float32 batch, like GPT-2's vocabulary, by nucleus size at p = 0.9:
peaked (a few tokens), medium (up to hundreds), broad (one to three thousand) and flat (tens of
thousands). For each it prints the
best time of both (interleaved runs), the ratio (transformers / lmsample: above 1 means lmsample is faster), the
nucleus sizes, and whether the outputs are identical. Where they differ, it checks which one
matches the nucleus computed in float64 by the numpy reference ``lmsample.top_p_filter``.

    .venv/bin/python benchmarks/bench_top_p.py [--repeats 9] [--p 0.9]
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from transformers.generation.logits_process import TopPLogitsWarper

from lmsample import softmax, top_p_filter
from lmsample.processors import TopP

BATCH, VOCAB = 64, 50257
KINDS = {"peaked": 12.0, "medium": 4.0, "broad": 3.0, "flat": 0.5}  # scale of standard-normal logits


def best_ms(fns, repeats: int) -> list:
    """The fastest of ``repeats`` timings of each function, run in turns (so that a busy machine
    slows both alike); the minimum is the least disturbed run."""
    best = [float("inf")] * len(fns)
    for fn in fns:
        fn()  # warm-up
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            start = time.perf_counter()
            fn()
            best[i] = min(best[i], time.perf_counter() - start)
    return [1e3 * b for b in best]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--p", type=float, default=0.9)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {BATCH} x {VOCAB}, p = {args.p}")
    generator = torch.Generator().manual_seed(args.seed)
    ours, theirs = TopP(args.p), TopPLogitsWarper(args.p)
    for kind, scale in KINDS.items():
        scores = torch.randn(BATCH, VOCAB, generator=generator) * scale
        t_hf, t_us = best_ms([lambda: theirs(None, scores), lambda: ours(None, scores)], args.repeats)
        a, b = ours(None, scores).isfinite(), theirs(None, scores).isfinite()
        sizes = a.sum(-1)
        differ = (a != b).any(-1).nonzero().squeeze(1).tolist()
        exact_ours = sum(
            bool((torch.from_numpy(top_p_filter(softmax(scores[r].double().numpy()), args.p) > 0) == a[r]).all())
            for r in differ
        )
        same = "identical output" if not differ else (
            f"{len(differ)} of {BATCH} rows differ; lmsample matches the float64 reference in {exact_ours} of them"
        )
        print(
            f"{kind:>6}: nucleus {int(sizes.min())}-{int(sizes.max())} tokens | transformers {t_hf:7.1f} ms | "
            f"lmsample {t_us:6.1f} ms | ratio {t_hf / t_us:5.1f}x | {same}"
        )


if __name__ == "__main__":
    main()
