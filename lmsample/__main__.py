"""Command line: sample from a language model, or tune k and p on a held-out text, without Jupyter.

    python -m lmsample generate "Once upon a time" --top-p 0.9 --max-new-tokens 40 --seed 0
    python -m lmsample generate "Once upon a time" --chain "min_p=0.1,temperature=2" --seed 0
    python -m lmsample tune [FILE] --coverage 0.95

The model is ``--model``, else ``$LMSAMPLE_MODEL``, else GPT-2 (SmolLM2-135M stands in offline;
see :func:`lmsample.load_model`).
"""
from __future__ import annotations

import argparse
import sys


def _generate(args) -> int:
    import torch

    from .generation import generate
    from .models import load_model

    model, tokenizer = load_model(args.model)
    ids = torch.tensor([tokenizer.encode(args.prompt, add_special_tokens=False)], dtype=torch.long)
    if ids.numel() == 0:
        print("error: the prompt has no tokens", file=sys.stderr)
        return 2
    generator = torch.Generator().manual_seed(args.seed) if args.seed is not None else None
    if args.chain is not None:
        settings = dict(steps=args.chain)
    else:
        settings = dict(
            temperature=1.0 if args.temperature is None else args.temperature, top_k=args.top_k, top_p=args.top_p,
            min_p=args.min_p, typical=args.typical, epsilon=args.epsilon, eta=args.eta,
        )
    for i in range(args.num):
        out = generate(
            model, ids, args.max_new_tokens, repetition_penalty=args.repetition_penalty, generator=generator, **settings
        )
        if args.num > 1:
            print(f"--- sample {i + 1}")
        print(args.prompt + tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True))
    return 0


def _tune(args) -> int:
    from .golden import golden_tokens, held_out_text, suggest_k_p
    from .models import load_model

    if args.file is None:
        text, source = held_out_text(), "the held-out text shipped with lmsample (US Constitution, Article I)"
    elif args.file == "-":
        text, source = sys.stdin.read(), "standard input"
    else:
        with open(args.file, encoding="utf-8") as f:
            text, source = f.read(), args.file
    model, tokenizer = load_model(args.model)
    golden = golden_tokens(model, tokenizer, text, window=args.window, progress=not args.no_progress)
    print(f"text: {source}")
    print(f"model perplexity on it: {golden.perplexity:.2f}")
    print(suggest_k_p(golden, args.coverage))
    return 0


def _fraction(text: str) -> float:
    value = float(text)
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be in (0, 1], got {text}")
    return value


#: the options of the samplers that --chain replaces (it gives them all, in its own order)
_CHAINED = ("temperature", "top_k", "top_p", "min_p", "typical", "epsilon", "eta")


def _chain(text: str) -> list:
    """``"min_p=0.1,temperature=2"`` -> ``[("min_p", 0.1), ("temperature", 2.0)]``, every step checked."""
    from .processors import CHAIN_STEPS, chain_processors

    steps = []
    for part in text.split(","):
        name, sep, value = part.partition("=")
        name, value = name.strip(), value.strip()
        if not sep or not name or not value:
            raise argparse.ArgumentTypeError(f"expected name=value steps separated by commas, got {part.strip()!r}")
        if name not in CHAIN_STEPS:
            raise argparse.ArgumentTypeError(f"unknown step {name!r}; the steps are {', '.join(CHAIN_STEPS)}")
        try:
            steps.append((name, int(value) if name == "top_k" else float(value)))
        except ValueError:
            kind = "an integer" if name == "top_k" else "a number"
            raise argparse.ArgumentTypeError(f"{name} needs {kind}, got {value!r}") from None
    try:
        chain_processors(steps)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return steps


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m lmsample", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    gen = sub.add_parser("generate", help="print a continuation of a prompt")
    gen.add_argument("prompt")
    gen.add_argument("--max-new-tokens", type=int, default=40)
    gen.add_argument("--temperature", type=float, default=None, help="0 = greedy (default 1)")
    gen.add_argument("--top-k", type=int, default=None)
    gen.add_argument("--top-p", type=float, default=None)
    gen.add_argument("--min-p", type=float, default=None)
    gen.add_argument("--typical", type=float, default=None, help="locally typical sampling: the mass to keep")
    gen.add_argument("--epsilon", type=float, default=None, help="epsilon sampling: the smallest probability kept")
    gen.add_argument("--eta", type=float, default=None, help="eta sampling: its epsilon")
    gen.add_argument(
        "--repetition-penalty", type=float, default=None,
        help="divide the positive logits of tokens already in the text by this (multiply the negative ones), "
        "before every sampler",
    )
    gen.add_argument(
        "--chain", type=_chain, default=None, metavar="STEPS",
        help="the samplers in an explicit order, e.g. 'min_p=0.1,temperature=2' (steps: temperature, top_k, top_p, "
        "min_p, typical, epsilon, eta, top_n_sigma, repetition_penalty); without it the options above apply in "
        "transformers' order: repetition penalty, temperature, top-k, top-p, min-p, typical, epsilon, eta",
    )
    gen.add_argument("--seed", type=int, default=None, help="make the sample reproducible")
    gen.add_argument("--num", type=int, default=1, help="how many samples to print")
    gen.add_argument("--model", default=None, help="Hub name or folder, 'smollm2' or 'tiny-gpt2'")
    gen.set_defaults(run=_generate)

    tune = sub.add_parser("tune", help="suggest k and p from the golden tokens of a held-out text")
    tune.add_argument("file", nargs="?", default=None, help="a UTF-8 text file, '-' for standard input (default: the shipped text)")
    tune.add_argument("--coverage", type=_fraction, default=0.95, help="fraction of positions to keep the golden token at")
    tune.add_argument("--window", type=int, default=128, help="tokens per forward pass window")
    tune.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    tune.add_argument("--model", default=None, help="Hub name or folder, 'smollm2' or 'tiny-gpt2'")
    tune.set_defaults(run=_tune)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "generate" and args.chain is not None:
        given = ["--" + name.replace("_", "-") for name in _CHAINED if getattr(args, name) is not None]
        if given:
            parser.error(f"--chain gives every sampler in its order: put {', '.join(given)} in it instead")
    try:
        return args.run(args)
    except (ValueError, RuntimeError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
