"""One public address, and the first cell of every lesson behaves on JupyterLab, Binder and Colab.

- ``tools/links.py``: the lessons' install line and the README's Binder and Colab badges all derive
  from ``[project.urls] Repository`` in pyproject.toml;
- the first code cell of every notebook, executed in a real kernel where lmsample is importable (as
  in JupyterLab and on Binder), installs nothing, imports nothing from Colab and prints nothing;
- the same cell where lmsample is missing and ``google.colab`` is loaded (Colab, simulated: pip and
  Colab's ``output`` module are stand-ins that record their calls) installs
  ``lmsample @ git+<address>@v<version>`` (the release, not the default branch) with the kernel's own
  Python, then enables Colab's widget manager.
"""
from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import nbformat
import pytest

import nbgrading as g

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("course_links", ROOT / "tools" / "links.py")
links = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(links)

NOTEBOOKS = [p for folder in ("solutions", "lessons") for p in links.notebooks(folder)]


def test_the_address_is_in_pyproject_only():
    address = links.repository()
    assert address.startswith("https://github.com/"), address
    assert links.binder_url().startswith("https://mybinder.org/v2/gh/")
    assert links.binder_url().endswith("?urlpath=lab/tree/lessons/01-greedy/greedy.ipynb")
    assert (ROOT / links.FIRST_LESSON).exists(), "the Binder badge opens a lesson that does not exist"


def test_links_agree_with_the_address():
    problems = links.problems()
    assert problems == [], "run `python tools/links.py --write` (then commit):\n" + "\n".join(problems)


def test_readme_has_a_colab_badge_per_lesson_and_a_binder_badge():
    readme = (ROOT / "README.md").read_text()
    paths = links.lesson_paths_in_readme(readme)
    on_disk = {f"lessons/{p.parent.name}/{p.name}" for p in links.notebooks("solutions")}
    assert on_disk <= set(paths), f"lessons missing from the README table: {sorted(on_disk - set(paths))}"
    for path in paths:
        assert links.colab_url(path) in readme
    assert links.binder_url() in readme


def test_readme_screenshot_is_small():
    images = [m for m in __import__("re").findall(r"!\[[^\]]*\]\(((?:docs)/[^)]+\.png)\)", (ROOT / "README.md").read_text())]
    assert images, "the README shows an explorer near the top"
    for image in images:
        assert (ROOT / image).exists(), image
        assert (ROOT / image).stat().st_size < 300_000, f"{image} is over 300 KB"


def _first_cells():
    return [(str(p.relative_to(ROOT)), links._source(links.first_code_cell(json.loads(p.read_text())))) for p in NOTEBOOKS]


RECORD = """\
import importlib, importlib.util, json, subprocess, sys, types
_calls = {"pip": [], "widgets": 0, "invalidate": 0}
def _run(cmd, *a, **k):
    _calls["pip"].append([str(c) for c in cmd])
    return subprocess.CompletedProcess(cmd, 0)
subprocess.run = _run
_invalidate = importlib.__dict__.setdefault("_real_invalidate_caches", importlib.invalidate_caches)
def _inv():
    _calls["invalidate"] += 1
    _invalidate()
importlib.invalidate_caches = _inv
"""
COLAB = """\
_find_spec = importlib.util.__dict__.setdefault("_real_find_spec", importlib.util.find_spec)
importlib.util.find_spec = lambda name, *a: None if name == "lmsample" else _find_spec(name, *a)
_output = types.SimpleNamespace(enable_custom_widget_manager=lambda: _calls.__setitem__("widgets", _calls["widgets"] + 1))
_colab = types.ModuleType("google.colab"); _colab.output = _output
sys.modules["google.colab"] = _colab
"""
REPORT = "print(json.dumps(dict(_calls, colab='google.colab' in sys.modules, executable=sys.executable)))"


def _run_cells(cells, tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    path = tmp_path / "first_cells.ipynb"
    nbformat.write(nb, path)
    executed, _ = g.execute_notebook(path, timeout=60, scratch=tmp_path)
    return executed


def test_first_cell_does_nothing_where_lmsample_is_installed(tmp_path):
    """JupyterLab and Binder: lmsample importable, no google.colab -> no pip, no output, no error."""
    cells = []
    firsts = _first_cells()
    for _, src in firsts:
        cells += [RECORD, src, REPORT]
    executed = _run_cells(cells, tmp_path)
    for n, (name, _) in enumerate(firsts):
        first, report = executed.cells[3 * n + 1], executed.cells[3 * n + 2]
        assert first.outputs == [], f"{name}: the first cell printed {first.outputs}"
        calls = json.loads(report.outputs[0]["text"])
        assert calls["pip"] == [] and calls["widgets"] == 0 and not calls["colab"], f"{name}: {calls}"


def test_first_cell_installs_lmsample_and_enables_widgets_on_colab(tmp_path):
    """Colab (simulated): lmsample missing, google.colab loaded -> pip install from the address, widgets on."""
    cells = []
    firsts = _first_cells()
    for _, src in firsts:
        cells += [RECORD + COLAB, src, REPORT]
    executed = _run_cells(cells, tmp_path)
    for n, (name, _) in enumerate(firsts):
        calls = json.loads(executed.cells[3 * n + 2].outputs[0]["text"])
        assert len(calls["pip"]) == 1, f"{name}: {calls}"
        cmd = calls["pip"][0]
        assert cmd[:4] == [calls["executable"], "-m", "pip", "install"], cmd
        assert cmd[-1].startswith("lmsample") and cmd[-1].endswith(f" @ git+{links.repository()}@{links.release()}"), cmd
        assert calls["invalidate"] >= 1, f"{name}: no importlib.invalidate_caches() after installing"
        assert calls["widgets"] == 1, f"{name}: Colab's custom widget manager was not enabled"
