"""Redraw cost of every explorer: blitted refresh against a full redraw of the same figure, same run.

Each explorer draws into a ``BlitFigure`` (``lmsample/explorers/_blit.py``) that keeps the static
part of the figure as a cached bitmap and redraws only the artists that move. The baseline is the
same control change with the cache dropped first, i.e. a full Agg draw of the figure plus the PNG
encoding: what an explorer that redraws from scratch costs. The curriculum's budget is 100 ms of
Python work per redraw. Timings are interleaved (baseline, blitted, baseline, ...) so a busy
machine slows both alike; the ratio is baseline / blitted (above 1: blitting is faster).

    .venv/bin/python benchmarks/bench_explorers.py [--rounds 5]
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from lmsample.explorers import (
    BeamExplorer,
    ChainExplorer,
    DerailExplorer,
    HistogramExplorer,
    LimitsExplorer,
    TemperatureExplorer,
    TruncationExplorer,
)

EOS = "<eos>"
TOY = {
    (): {"The": 0.3, "A": 0.2, "My": 0.18, "One": 0.17, "This": 0.15},
    ("The",): {"dog": 0.2, "cat": 0.16, "car": 0.16, "end": 0.16, "man": 0.16, "sun": 0.16},
    ("A",): {"cat": 0.5, "dog": 0.25, "man": 0.25},
}


def toy_lm(context):
    if context in TOY:
        return TOY[context]
    return {"dog": 0.4, "cat": 0.3, "car": 0.3} if len(context) == 1 else {EOS: 1.0}


def real_model_cases():
    """The real-model explorers on a tiny GPT-2 (random weights, real 50,257-token vocabulary): a slider
    costs what the vocabulary's size makes it cost (the model does not run), a step one forward pass of
    the tiny model (a real one adds its own forward time, and the step relabels the bars: always a full draw)."""
    import lmsample
    from lmsample.explorers import GoldenPositionExplorer, NextTokenExplorer
    from lmsample.models import tiny_gpt2

    model, tokenizer = tiny_gpt2()
    ex = NextTokenExplorer(model, tokenizer)
    yield "NextTokenExplorer (p)", ex, ex.top_p, [0.95, 0.9, 0.8, 0.6, 0.4, 0.2, 0.7, 0.5]
    yield "NextTokenExplorer (T)", ex, ex.temperature, [0.5, 0.8, 1.2, 1.5, 0.7, 1.0, 1.9, 0.3]
    ex = NextTokenExplorer(model, tokenizer)
    ex.top_k.value = 40
    yield "NextTokenExplorer (step)", ex, lambda _: ex.take_step(), [1] * 8
    golden = lmsample.golden_tokens(model, tokenizer, lmsample.held_out_text()[:1500], window=256, progress=False)
    ex = GoldenPositionExplorer(golden, tokenizer, position=0)
    yield "GoldenPosition (position)", ex, ex.position, [5, 40, 41, 100, 7, 200, 150, 3]
    yield "GoldenPosition (p)", ex, ex.p, [0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.4]


def cases():
    """(name, explorer, control, values): the control a student moves most (or a function of the value that
    acts like a button), and values to move it through."""
    ex = BeamExplorer(toy_lm, max_width=4, max_len=8)
    yield "BeamExplorer (step)", ex, ex.step, [1, 2, 3, 2, 1, 3, 2, 3]
    ex = HistogramExplorer({"p": (["a", "b", "c", "d"], np.array([0.5, 0.3, 0.15, 0.05]))}, seed=1)
    yield "HistogramExplorer (draw 100)", ex, None, [100] * 6
    ex = DerailExplorer(tail_mass=0.3, n_steps=20)
    yield "DerailExplorer (steps)", ex, ex.steps, [5, 10, 50, 80, 30, 60]
    ex = TemperatureExplorer()
    yield "TemperatureExplorer (T)", ex, ex.temperature, [0.2, 0.5, 1.0, 2.0, 5.0, 12.0]
    ex = LimitsExplorer()
    yield "LimitsExplorer (T)", ex, ex.temperature, np.logspace(-3, 3, 8).tolist()
    ex = TruncationExplorer()
    yield "TruncationExplorer (p)", ex, ex.p, [0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.4]
    ex = ChainExplorer()
    yield "ChainExplorer (step 2 value)", ex, ex.values[1], [0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.4]
    try:
        yield from real_model_cases()
    except ImportError as exc:  # torch or transformers missing
        print(f"real-model explorers skipped: {exc}")


def move(ex, control, value):
    if control is None:
        ex.draw(value)
    elif callable(control):
        control(value)
    else:
        control.value = value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="passes over each control's values")
    args = parser.parse_args()
    print(f"{'explorer (control)':<30} {'full redraw':>12} {'blitted':>9} {'ratio':>7}")
    for name, ex, control, values in cases():
        full, blit = [], []
        for round_ in range(args.rounds):
            for i, value in enumerate(values):  # consecutive values differ, so every move redraws
                baseline = (i + round_) % 2 == 0
                if baseline:
                    ex.live.invalidate()  # the whole figure is drawn again
                start = time.perf_counter()
                move(ex, control, value)
                (full if baseline else blit).append(time.perf_counter() - start)
        f, b = statistics.median(full) * 1e3, statistics.median(blit) * 1e3
        print(f"{name:<30} {f:>9.1f} ms {b:>6.1f} ms {f / b:>6.1f}x")


if __name__ == "__main__":
    main()
