"""The course's one lock: ``requirements.lock``, and Binder's ``environment.yml`` derived from it.

    .venv/bin/python tools/lock.py refresh [--torch-wheels DIR_OR_URL]   # make lock
    .venv/bin/python tools/lock.py check                                  # exit 1 if they disagree

``refresh`` (``--keep``: keeping every existing pin, adding only what is new) resolves pyproject.toml's dependencies with the ``models``, ``course`` and ``test`` extras
(today's newest releases within its ranges) with ``uv pip compile`` for Python 3.11, hashes included,
and writes ``requirements.lock``; then it rewrites ``environment.yml`` so that Binder gets the same
versions. torch is resolved at the release pinned in ``tools/install.py`` (its CPU build, from
``--torch-wheels``: a folder or an index page holding ``torch-<version>+cpu`` wheels; the course's
machines have one in ``/opt/wheels``) and then left out of the lock, because PyPI's Linux wheel of
torch is a multi-GB CUDA build: ``make venv`` installs it from ``TORCH_SPEC`` and Binder from conda-forge.

After a refresh, run ``make test`` (and commit the two files only if it passes).
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from install import DEFAULT_TORCH, EXTRAS, LOCK, PIP, REPO, read_lock  # noqa: E402  (tools/install.py)

ENVIRONMENT = REPO / "environment.yml"
UV = "uv==0.13.8"
PYTHON = "3.11"
DEFAULT_TORCH_WHEELS = "/opt/wheels"
#: packages of a CUDA build of torch: a lock holding them would make every install pull gigabytes
CUDA_PACKAGES = re.compile(r"^(nvidia-|triton|cuda-)", re.M)


def torch_version() -> str:
    return DEFAULT_TORCH.split("==", 1)[1]


def environment_yml(lock: dict[str, str]) -> str:
    """Binder's environment: Python and CPU torch from conda-forge, everything else the lock's pins."""
    lines = [
        "# Binder (repo2docker) environment, written by `make lock` (tools/lock.py) from requirements.lock:",
        "# do not edit by hand. Python and CPU PyTorch come from conda-forge; every other package is the",
        "# lock's exact version from PyPI. tests/test_packaging.py checks that the two files agree.",
        "# repo2docker does not install the repository's own package from this file: see postBuild.",
        "name: lmsample",
        "channels:",
        "  - conda-forge",
        "dependencies:",
        f"  - python={PYTHON}",
        f"  - pip={PIP.split('==')[1]}",
        f"  - pytorch={torch_version()}=cpu*",
        "  - pip:",
    ]
    lines += [f"      - {name}=={version}" for name, version in sorted(lock.items()) if name != "pip"]
    return "\n".join(lines) + "\n"


def refresh(torch_wheels: str, keep: bool = False) -> None:
    if not torch_wheels:
        raise SystemExit(
            "make lock: no source of torch's CPU build. Pass TORCH_WHEELS=<folder or index page with "
            f"torch-{torch_version()}+cpu wheels> (the course's machines have /opt/wheels), so that the lock "
            "holds the CPU build's dependencies and not CUDA's."
        )
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", UV], check=True)
    with tempfile.TemporaryDirectory() as tmp:
        constraints = Path(tmp) / "torch.txt"
        constraints.write_text(DEFAULT_TORCH + "\n")
        cmd = [
            sys.executable, "-m", "uv", "pip", "compile", str(REPO / "pyproject.toml"),
            *[arg for extra in EXTRAS.split(",") for arg in ("--extra", extra)],
            "--python-version", PYTHON, "--generate-hashes", *([] if keep else ["--upgrade"]),
            "--find-links", torch_wheels, "--constraint", str(constraints), "--no-emit-package", "torch",
            "--custom-compile-command", "make lock", "--output-file", str(LOCK),
        ]
        subprocess.run(cmd, check=True, cwd=REPO, env=dict(os.environ, UV_NO_CONFIG="1"))
    text = LOCK.read_text()
    if CUDA_PACKAGES.search(text):
        raise SystemExit(f"make lock: the lock holds CUDA packages ({CUDA_PACKAGES.search(text).group(0)}...): "
                         f"torch was resolved from PyPI, not from the CPU wheels in {torch_wheels!r}.")
    # the temporary constraint file's path is not worth keeping in the header
    LOCK.write_text(re.sub(r"\s+# via\s+-c \S+torch\.txt", "", text))
    ENVIRONMENT.write_text(environment_yml(read_lock()))
    print(f"wrote {LOCK.name} ({len(read_lock())} packages) and {ENVIRONMENT.name}; now run `make test`")


def problems() -> list[str]:
    found = []
    if not LOCK.is_file():
        return [f"{LOCK.name} is missing"]
    if ENVIRONMENT.read_text() != environment_yml(read_lock()):
        found.append(f"{ENVIRONMENT.name} is not what {LOCK.name} gives: run `make lock` (or tools/lock.py env)")
    if CUDA_PACKAGES.search(LOCK.read_text()):
        found.append(f"{LOCK.name} holds CUDA packages")
    return found


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=("refresh", "env", "check"),
                        help="refresh: resolve anew; env: rewrite environment.yml from the lock; check: compare")
    parser.add_argument("--keep", action="store_true",
                        help="keep every pin the lock has; only add what pyproject.toml newly needs")
    parser.add_argument("--torch-wheels", default=DEFAULT_TORCH_WHEELS if Path(DEFAULT_TORCH_WHEELS).is_dir() else "")
    args = parser.parse_args(argv)
    if args.mode == "refresh":
        refresh(args.torch_wheels, keep=args.keep)
    elif args.mode == "env":
        ENVIRONMENT.write_text(environment_yml(read_lock()))
    found = problems()
    for p in found:
        print(p)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
