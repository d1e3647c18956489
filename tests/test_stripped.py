"""The lmsample a grading kernel imports (autograder/lmgrade/stripped.py) has no reference solution left:
every exercise of every lesson, the public helpers that are most of one (lesson 07's chain_trace,
typical_order, eta_threshold) and the private helpers of the modules that hold them raise; the rest
of the package still imports."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import lmsample

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "autograder"))
from lmgrade import stripped  # noqa: E402

PROBE = r"""
import inspect, sys
sys.path.insert(0, sys.argv[1])
import lmsample, lmsample.chain, lmsample.explorers.chain
assert lmsample.__file__.startswith(sys.argv[1]), lmsample.__file__
names = sys.argv[2].split(",")
alive = []
for owner, name in [(lmsample, n) for n in names] + [(lmsample.chain, n) for n in ("_step", "_sigma_keep", "_typical_order", "_eta")]:
    try:
        f = getattr(owner, name)
        required = [p for p in inspect.signature(f).parameters.values() if p.default is p.empty and p.kind <= p.POSITIONAL_OR_KEYWORD]
        f(*[None] * len(required))
    except RuntimeError as e:
        assert "not available while grading" in str(e), (name, e)
    except Exception:
        alive.append(name)
    else:
        alive.append(name)
print(",".join(alive) or "none")
print(lmsample.STEP_NAMES[0], lmsample.softmax.__name__)
"""


def test_the_stripped_copy_has_no_chain_solution(tmp_path):
    package = Path(lmsample.__file__).resolve().parent
    exercises = {n for names in lmsample.EXERCISES.values() for n in names}
    assert set(lmsample.EXERCISES["07-chain"]) == {"typical_filter", "epsilon_filter", "eta_filter", "top_n_sigma_filter",
                                                   "repetition_penalty", "apply_chain", "sample_chain"}
    copy = stripped.build(package, exercises, tmp_path)
    names = sorted(exercises | {"chain_trace", "typical_order", "eta_threshold"})
    out = subprocess.run([sys.executable, "-c", PROBE, str(copy.parent), ",".join(names)],
                         capture_output=True, text=True, check=True).stdout.split()
    assert out == ["none", "temperature", "softmax"], out
