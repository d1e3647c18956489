"""Every lesson in JupyterLab in a real browser (Chromium driven by Playwright), as a student meets it.

For each lesson, the solution and the student version: open the notebook, Run > Run All Cells,
check that no cell shows an error (in the student version the unanswered exercises raise
``NotImplementedError``: those cells and the test cells that fail because of them are expected,
and the student carries on with Run > Run Selected Cell and All Below), check every widget
rendered, then use every explorer (keys and drags on sliders, clicks, dropdowns, text boxes) and
check that its picture or its text changed each time. A screenshot of every explorer lands in
``artifacts/screenshots/``; the input-to-picture latencies are printed at the end of the run.

Skipped, with the reason in the ``-ra`` summary, when Chromium is not installed.
"""
from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import pytest

from .conftest import RESULTS, SCREENSHOTS
from .explorers import ExplorerDriver, image_renders
from .lab import REPO, NotebookPage, chromium_missing_reason

SOLUTIONS, LESSONS = REPO / "solutions", REPO / "lessons"

#: CI sets LMSAMPLE_REQUIRE_BROWSER=1 (.ci/run): there a missing Chromium fails instead of skipping.
REQUIRED = os.environ.get("LMSAMPLE_REQUIRE_BROWSER", "") not in ("", "0")
pytestmark = pytest.mark.skipif(chromium_missing_reason() is not None and not REQUIRED, reason=chromium_missing_reason() or "")


def lessons():
    found = []
    for folder in sorted(p for p in SOLUTIONS.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for nb in sorted(folder.glob("*.ipynb")):
            found.append((folder.name, nb.name))
    return found


LESSONS_FOUND = lessons()
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


def _cell_meta(path: Path) -> list[dict]:
    return [c.get("metadata", {}).get("nbgrader", {}) for c in json.loads(path.read_text())["cells"]]


def _errors(cell) -> list[dict]:
    return [o for o in cell.get("outputs", []) if o["output_type"] == "error"]


def _expected_student_error(meta: dict, error: dict) -> bool:
    """An unanswered exercise: its solution cell, or a test cell failing on it, with NotImplementedError."""
    if not (meta.get("solution") or meta.get("grade")):
        return False
    return error.get("ename") == "NotImplementedError" or "NotImplementedError" in (error.get("traceback") or "")


def _ran_before_an_earlier_cell(cells: list[dict], cell: dict):
    """The first code cell above ``cell`` that has not run, or ran after it: ``cell``'s error may be a name
    that cell defines. After an error in Run All, JupyterLab has already sent the later cells' requests and
    the kernel aborts only those it has received, so in the student version a later cell sometimes runs
    while the cells above it were aborted. None when every cell above ran before it."""
    count = cell.get("execution_count")
    for other in cells[: cell["index"]]:
        if other["type"] == "code" and other["source"].strip():
            ran = other.get("execution_count")
            if ran is None or (count is not None and ran > count):
                return other["index"]
    return None


def run_every_cell(nbp: NotebookPage, metas: list[dict], student: bool) -> dict:
    """Run all cells as a student would; return the final state and the expected errors seen."""
    nbp.run_all_from_menu()
    expected = {}
    for _ in range(len(metas) + 1):
        state = nbp.wait_until_done()
        cells = state["cells"]
        rerun = []
        for c in cells:
            for e in _errors(c):
                where = f"cell {c['index']}: {e['ename']}: {e['evalue']}"
                if student and _expected_student_error(metas[c["index"]], e):
                    expected[c["index"]] = where
                elif student and (above := _ran_before_an_earlier_cell(cells, c)) is not None:
                    rerun.append(above)  # run again in order below; an error that stays then fails
                else:
                    tb = (e.get("traceback") or "")[-1500:]
                    pytest.fail(f"{nbp.relpath} {where}\n{tb}\nsource:\n{c['source'][:800]}")
        pending = [c["index"] for c in cells
                   if c["type"] == "code" and c["source"].strip() and c.get("execution_count") is None]
        if not pending and not rerun:
            return {"state": state, "expected_errors": expected}
        assert student, f"{nbp.relpath}: Run All Cells stopped before cells {pending} without an error"
        nbp.run_from(min(pending[:1] + rerun))
    pytest.fail(f"{nbp.relpath}: cells never finished running")


def _explorer_name(source: str, n: int) -> str:
    names = re.findall(r"\b(\w+Explorer)\(", source)
    return names[-1] if names else f"explorer{n}"


def showcase_truncation(page, root):
    """The README's picture: the flat "car" prompt at T = 1 with top-p 0.8 after 200 draws, set with
    the keyboard and the mouse. Saved as artifacts/screenshots/readme-explorer.png (docs/explorer.png
    is a copy of it)."""
    root.locator(".widget-dropdown select").first.select_option(index=1)
    sliders = {root.locator(".widget-slider").nth(i).locator(".widget-label").inner_text(): root.locator(".widget-slider").nth(i)
               for i in range(root.locator(".widget-slider").count())}

    def set_slider(label, key, presses):
        handle = sliders[label].locator(".noUi-handle")
        handle.focus()
        for _ in range(presses):
            page.keyboard.press(key)

    page.wait_for_timeout(500)
    set_slider("temperature", "Home", 1)
    set_slider("temperature", "ArrowRight", 19)  # 0.05 + 19 * 0.05 = 1.00
    # (not End: after the prompt changed top-k's maximum from 12 to 18, End still jumps to 12, a
    # quirk of the ipywidgets 8.1 slider; arrow keys and the mouse reach the new maximum)
    set_slider("top-k", "ArrowRight", 30)
    set_slider("top-p", "ArrowRight", 100)
    set_slider("top-p", "ArrowLeft", 20)  # 0.80
    set_slider("min-p", "Home", 1)
    page.wait_for_timeout(800)
    root.locator("button.jupyter-button", has_text="100 more").click()
    page.wait_for_timeout(800)
    root.locator("button.jupyter-button", has_text="100 more").click()
    page.wait_for_timeout(800)
    root.locator("button.jupyter-button", has_text="generate the next token").click()
    page.wait_for_timeout(1500)
    root.screenshot(path=str(SCREENSHOTS / "readme-explorer.png"))


@pytest.mark.parametrize("version", ["solution", "student"])
@pytest.mark.parametrize("assignment,notebook", LESSONS_FOUND)
def test_lesson_in_a_real_browser(lab, page, assignment, notebook, version):
    folder = "solutions" if version == "solution" else "lessons"
    path = REPO / folder / assignment / notebook
    assert path.exists(), f"{path.relative_to(REPO)} is missing (cd autograder && nbgrader generate_assignment {assignment})"
    metas = _cell_meta(path)
    start = time.perf_counter()
    nbp = NotebookPage(lab, page, f"{folder}/{assignment}/{notebook}").open()
    opened = time.perf_counter() - start
    try:
        outcome = run_every_cell(nbp, metas, student=version == "student")
        ran = time.perf_counter() - start
        if version == "student":
            assert outcome["expected_errors"], "the student version ran without a single unanswered exercise"
        cells = outcome["state"]["cells"]

        # stderr in a cell: warnings a student would see
        stderr = [(c["index"], o["text"][:300]) for c in cells for o in c.get("outputs", [])
                  if o["output_type"] == "stream" and o.get("name") == "stderr"
                  and not (version == "student" and c["index"] in outcome["expected_errors"])]
        assert stderr == [], f"cells wrote to stderr: {stderr}"

        # every widget output rendered (no "Error displaying widget"); every explorer shows its figure
        widget_cells = [c["index"] for c in cells if any(WIDGET_MIME in o.get("mimes", []) for o in c.get("outputs", []))]
        assert widget_cells, f"{path.relative_to(REPO)} displays no widget: every lesson has an explorer"
        explorer_cells = [i for i in widget_cells if re.search(r"\b\w+Explorer\(", cells[i]["source"])]
        assert explorer_cells, f"{path.relative_to(REPO)}: no cell makes an explorer"
        for i in explorer_cells:
            nbp.cell_locator(i).locator("img.widget-image").first.wait_for(state="visible", timeout=30_000)
        for i in widget_cells:
            text = nbp.cell_locator(i).locator(".jp-Cell-outputArea").inner_text()
            assert "Error displaying widget" not in text, f"cell {i}: {text[:300]}"

        # use every explorer
        nbp.clear_kernel_problems()
        runs = []
        for n, i in enumerate(explorer_cells):
            root = nbp.cell_locator(i).locator(".jp-OutputArea-output", has=page.locator("img.widget-image")).last
            name = _explorer_name(cells[i]["source"], n)
            driver = ExplorerDriver(page, root, name)
            root.scroll_into_view_if_needed()
            renders = image_renders(page, driver.img)
            # the picture a student first sees is the one the code asked for: nothing re-rendered it
            # without an input (a slider whose value is off its step grid snaps and re-renders)
            assert renders == 1, f"{name}: the figure rendered {renders} times before any input (a control changed by itself?)"
            # the latency figures come mostly from the solution run; the student run uses every
            # control once (one key press per slider) to keep the whole suite within minutes
            run = driver.drive(key_presses=3 if version == "solution" else 1)
            shot = SCREENSHOTS / f"{assignment}-{version}-{n}-{name}.png"
            shot.parent.mkdir(parents=True, exist_ok=True)
            root.screenshot(path=str(shot))
            if name == "TruncationExplorer" and version == "solution":
                showcase_truncation(page, root)
            runs.append(run)
        assert runs, f"{path.relative_to(REPO)}: no explorer (a widget with a figure) found"
        RESULTS[f"{assignment}/{version}"] = [r.summary() for r in runs]
        problems = [f"{r.name}: {p}" for r in runs for p in r.problems]
        kernel = nbp.kernel_problems()
        for r in runs:
            s = r.summary()
            print(f"{assignment}/{version} {r.name}: {s['inputs']} inputs, median {s['median_ms']} ms, max {s['max_ms']} ms")
        print(f"{assignment}/{version}: JupyterLab and kernel ready in {opened:.1f} s, cells ran by {ran:.1f} s, "
              f"explorers used by {time.perf_counter() - start:.1f} s")
        assert kernel == [], f"the kernel reported errors while the explorers were used: {kernel}"
        assert problems == [], "explorers did not respond as expected:\n" + "\n".join(problems)
    finally:
        nbp.close()
