"""Time the chain lesson's batched processors against transformers' warpers on the same batches, in the same run.

Typical, Epsilon, Eta and RepetitionPenalty against transformers' TypicalLogitsWarper,
EpsilonLogitsWarper, EtaLogitsWarper and RepetitionPenaltyLogitsProcessor; TopNSigma, which
transformers does not have, against the one-line torch transcription of the paper
(``scores < max - n * std``, std over the whole row in the dtype of the scores). Batches of
(64, 50257) float32 scores, like GPT-2's vocabulary, at three scales of standard-normal logits
(peaked, medium, flat); the repetition penalty sees 256 previous tokens per row. For each it prints
the best time of both (interleaved runs), the ratio (baseline / lmsample: above 1 means lmsample
is faster), and how many rows keep a different set of tokens; where they differ it checks which
one matches the float64 numpy reference of :mod:`lmsample.chain` (when installed).

    .venv/bin/python benchmarks/bench_chain.py [--repeats 7] [--threads 2]

On a machine whose cores other processes keep busy, two torch threads time badly: every parallel
operation waits for a thread that was descheduled, and lmsample's processors run more, smaller
operations than transformers' sort (TopP's ratios of ``bench_top_p.py`` drop the same way there).
``--threads 1`` measures the work itself.
"""
from __future__ import annotations

import argparse
import time

import torch
from transformers.generation.logits_process import (
    EpsilonLogitsWarper,
    EtaLogitsWarper,
    RepetitionPenaltyLogitsProcessor,
    TypicalLogitsWarper,
)

from lmsample.processors import Epsilon, Eta, RepetitionPenalty, TopNSigma, Typical

BATCH, VOCAB, PREVIOUS = 64, 50257, 256
KINDS = {"peaked": 12.0, "medium": 3.0, "flat": 0.5}  # scale of standard-normal logits


def best_ms(fns, repeats: int) -> list:
    """The fastest of ``repeats`` timings of each function, run in turns (so that a busy machine
    slows both alike); the minimum is the least disturbed run. A function that takes a few
    milliseconds is timed over as many calls as make 50 ms (the same number for every function),
    so that one descheduling does not decide its time."""
    start = time.perf_counter()
    for fn in fns:
        fn()  # warm-up
    calls = max(1, int(0.05 / max((time.perf_counter() - start) / len(fns), 1e-6)))
    best = [float("inf")] * len(fns)
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            start = time.perf_counter()
            for _ in range(calls):
                fn()
            best[i] = min(best[i], (time.perf_counter() - start) / calls)
    return [1e3 * b for b in best]


class PlainTopNSigma:
    """The paper's rule in one line of torch: the baseline for TopNSigma."""

    def __init__(self, n: float):
        self.n = n

    def __call__(self, input_ids, scores):
        std = scores.std(dim=-1, correction=0, keepdim=True)
        return scores.masked_fill(scores < scores.amax(-1, keepdim=True) - self.n * std, float("-inf"))


def reference(name: str, value, row: torch.Tensor):
    """The float64 numpy reference's kept mask of one row, or None without lmsample.chain."""
    try:
        from lmsample import chain, softmax
    except ImportError:
        return None
    logits = row.double().numpy()
    if name == "top_n_sigma":
        return torch.from_numpy(chain.top_n_sigma_filter(logits, value) > 0)
    probs = softmax(logits)
    kept = {"typical": chain.typical_filter, "epsilon": chain.epsilon_filter, "eta": chain.eta_filter}[name](probs, value)
    return torch.from_numpy(kept > 0)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {BATCH} x {VOCAB}")
    generator = torch.Generator().manual_seed(args.seed)
    pairs = [
        ("typical", 0.9, Typical(0.9), TypicalLogitsWarper(0.9), "transformers"),
        ("typical", 0.2, Typical(0.2), TypicalLogitsWarper(0.2), "transformers"),
        ("epsilon", 3e-4, Epsilon(3e-4), EpsilonLogitsWarper(3e-4), "transformers"),
        ("eta", 3e-4, Eta(3e-4), EtaLogitsWarper(3e-4), "transformers"),
        ("top_n_sigma", 1.0, TopNSigma(1.0), PlainTopNSigma(1.0), "plain torch"),
        ("repetition_penalty", 1.3, RepetitionPenalty(1.3), RepetitionPenaltyLogitsProcessor(1.3), "transformers"),
    ]
    worst = float("inf")
    for kind, scale in KINDS.items():
        scores = torch.randn(BATCH, VOCAB, generator=generator) * scale
        ids = torch.randint(0, VOCAB, (BATCH, PREVIOUS), generator=generator)
        print(f"{kind} (logits N(0, {scale}^2)):")
        for name, value, ours, theirs, baseline in pairs:
            t_them, t_us = best_ms([lambda: theirs(ids, scores), lambda: ours(ids, scores)], args.repeats)
            a, b = ours(ids, scores), theirs(ids, scores)
            if name == "repetition_penalty":
                same = "identical output" if torch.equal(a, b) else "outputs differ"
            else:
                a, b = a.isfinite(), b.isfinite()
                differ = (a != b).any(-1).nonzero().squeeze(1).tolist()
                same = "identical output"
                if differ:
                    refs = [reference(name, value, scores[r]) for r in differ]
                    if refs[0] is None:
                        same = f"{len(differ)} of {BATCH} rows differ"
                    else:
                        us = sum(bool((ref == a[r]).all()) for r, ref in zip(differ, refs))
                        them = sum(bool((ref == b[r]).all()) for r, ref in zip(differ, refs))
                        same = (
                            f"{len(differ)} of {BATCH} rows differ; the float64 reference agrees with lmsample "
                            f"in {us}, with {baseline} in {them}"
                        )
            worst = min(worst, t_them / t_us)
            print(
                f"  {name:>18}={value:<6g} kept {int(a.sum(-1).min()) if a.dtype == torch.bool else VOCAB:>5}-"
                f"{int(a.sum(-1).max()) if a.dtype == torch.bool else VOCAB:<5} | {baseline} {t_them:7.1f} ms | "
                f"lmsample {t_us:6.1f} ms | ratio {t_them / t_us:5.1f}x | {same}"
            )
    print(f"smallest ratio: {worst:.2f}x")


if __name__ == "__main__":
    main()
