"""The lmsample that grading kernels import: the course package without its reference solutions.

lmsample implements every exercise of the course (the lessons' demonstrations and explorers use
it). A grading kernel must not reach those implementations, or an answer could call them, or
rebuild them from their code objects. The sandbox therefore binds, in place of the package, a copy
in which every function named in ``lmsample.EXERCISES``, the private helpers of the modules that
hold them, and the batched torch half (``processors``, ``generation``) raise instead. Everything else
(toy models, checks, constants, data files) is there as usual. A demonstration that needs a removed
function fails during grading; that costs nothing, because tests are judged outside the kernel.
"""
from __future__ import annotations

import ast
import functools
import hashlib
import os
import shutil
import tempfile
from pathlib import Path

#: modules replaced whole: they implement the exercises again, batched in torch
REMOVED_MODULES = {"processors", "generation"}
#: public functions that are most of an exercise by themselves (chain_trace is apply_chain step by step,
#: typical_order and eta_threshold are most of typical_filter and eta_filter)
ALSO_REMOVED = {"ngrams", "chain_trace", "typical_order", "eta_threshold"}


def _message(module: str, name: str) -> str:
    return f"lmsample.{name} is not available while grading: the grader checks your own functions"


def _strip_module(source: str, module: str, exercises: set[str]) -> str:
    tree = ast.parse(source)
    holds_exercises = any(isinstance(n, ast.FunctionDef) and n.name in exercises for n in tree.body)
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and (
                node.name in exercises or node.name in ALSO_REMOVED or (holds_exercises and node.name.startswith("_"))):
            node.body = [ast.Raise(exc=ast.Call(func=ast.Name("RuntimeError", ast.Load()),
                                                args=[ast.Constant(_message(module, node.name))], keywords=[]),
                                   cause=None)]
            node.decorator_list = []
    return ast.unparse(ast.fix_missing_locations(tree)) + "\n"


def build(package: Path, exercises: set[str], root: Path | None = None) -> Path:
    """A stripped copy of ``package`` (cached by content under ``root``); returns its folder."""
    files = sorted(p for p in package.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    digest = hashlib.sha256(repr(sorted(exercises)).encode())
    for p in files:
        digest.update(str(p.relative_to(package)).encode() + b"\0" + p.read_bytes())
    root = root or Path(tempfile.gettempdir())
    target = root / f"lmgrade-lmsample-{digest.hexdigest()[:16]}" / "lmsample"
    if target.is_dir():
        return target
    work = Path(tempfile.mkdtemp(prefix="lmgrade-lmsample-", dir=root))
    for p in files:
        rel = p.relative_to(package)
        out = work / "lmsample" / rel
        out.parent.mkdir(parents=True, exist_ok=True)
        if p.suffix != ".py":
            shutil.copyfile(p, out)
        elif rel.parent == Path(".") and rel.stem in REMOVED_MODULES:
            out.write_text(f"raise ImportError({_message(rel.stem, rel.stem)!r})\n")
        else:
            out.write_text(_strip_module(p.read_text(), ".".join(rel.with_suffix("").parts), exercises))
    for d in [work, *work.rglob("*")]:
        os.chmod(d, 0o755 if d.is_dir() else 0o644)
    try:
        os.rename(work, target.parent)
    except OSError:  # another worker built it first
        shutil.rmtree(work, ignore_errors=True)
    return target


@functools.lru_cache(maxsize=1)
def for_installed() -> tuple[str, str]:
    """(where the installed lmsample package lies, its stripped copy), built once per grader process."""
    import lmsample

    package = Path(lmsample.__file__).resolve().parent
    exercises = {name for names in lmsample.EXERCISES.values() for name in names}
    return str(package), str(build(package, exercises))
