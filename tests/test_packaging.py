"""The package installs and imports lightly, and Binder's environment matches pyproject.toml."""
import doctest
import importlib
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

# pyproject (PyPI) name -> conda-forge name, where they differ
CONDA_NAME = {"torch": "pytorch"}
# extras Binder needs: the package itself, its real-model half and the course tools (not the test tools)
BINDER_EXTRAS = ("models", "course")


def _name(requirement: str) -> str:
    return re.split(r"[\s<>=!~\[;]", requirement.strip(), maxsplit=1)[0].lower()


def test_environment_yml_names_the_same_dependencies_as_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = [*project["dependencies"]] + [r for extra in BINDER_EXTRAS for r in project["optional-dependencies"][extra]]
    wanted_names = {CONDA_NAME.get(_name(r), _name(r)) for r in wanted}
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert env["channels"] == ["conda-forge"]
    conda = [d for d in env["dependencies"] if isinstance(d, str)]
    conda_names = {_name(d) for d in conda} - {"python", "pip"}
    assert conda_names == wanted_names, (
        f"only in pyproject: {sorted(wanted_names - conda_names)}; only in environment.yml: {sorted(conda_names - wanted_names)}"
    )
    assert "pytorch=*=cpu*" in conda  # CPU PyTorch on Binder


def test_binder_installs_the_package_itself():
    post_build = (ROOT / "postBuild").read_text()
    assert re.search(r"pip install .*-e \.", post_build)
    assert (ROOT / "postBuild").stat().st_mode & 0o111, "postBuild must be executable"


def test_every_exercise_is_exported():
    names = [name for names in lmsample.EXERCISES.values() for name in names]
    assert len(names) == 25 == len(set(names))
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
