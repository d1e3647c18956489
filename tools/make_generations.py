"""Regenerate lmsample/data/generations.json, the long generations lesson 06 reads.

    .venv/bin/python tools/make_generations.py [--model smollm2] [--out lmsample/data/generations.json]

Every setting, prompt and seed is in lmsample.precomputed.PARAMETERS (a test checks that the shipped
file was made with them). With the packaged SmolLM2-135M-Instruct on one thread of a 2-core machine
shared with other jobs (load average about 5) it took 2,684 s, about 45 minutes: 54-164 s per setting
(the file records its own run time under "made_with"); it writes one progress line per setting.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lmsample.models import load_model  # noqa: E402
from lmsample.precomputed import DATA_FILE, PARAMETERS, make_generations  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=PARAMETERS["model"])
    parser.add_argument("--out", type=Path, default=ROOT / "lmsample" / DATA_FILE)
    args = parser.parse_args()
    torch.set_num_threads(1)
    model, tokenizer = load_model(args.model)
    parameters = dict(PARAMETERS, model=args.model)
    data = make_generations(model, tokenizer, parameters, progress=lambda line: print(line, flush=True))
    args.out.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.0f} KB) in {data['made_with']['seconds']} s")


if __name__ == "__main__":
    main()
