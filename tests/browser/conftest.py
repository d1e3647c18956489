"""Fixtures of the real-browser tests: one JupyterLab server and one Chromium for the session, and
the latency table printed at the end of the run (and written to artifacts/browser-latency.json)."""
from __future__ import annotations

import json
import os
import statistics
import time

import pytest

from .lab import CHROMIUM, CHROMIUM_ARGS, REPO, Lab, chromium_missing_reason

ARTIFACTS = REPO / "artifacts"
SCREENSHOTS = ARTIFACTS / "screenshots"
LATENCY_JSON = ARTIFACTS / "browser-latency.json"
#: explorer runs recorded by the tests: {"01-greedy/solution": [summary, ...]}
RESULTS: dict[str, list[dict]] = {}
#: the goal of the course for the median input-to-picture time of each explorer
GOAL_MS = 250


@pytest.fixture(scope="session")
def lab(tmp_path_factory):
    reason = chromium_missing_reason()
    if reason:
        if os.environ.get("LMSAMPLE_REQUIRE_BROWSER", "") not in ("", "0"):
            pytest.fail(reason.replace("skipped", "required (LMSAMPLE_REQUIRE_BROWSER=1)"))
        pytest.skip(reason)
    with Lab(tmp_path_factory.mktemp("jupyterlab")) as server:
        yield server


@pytest.fixture(scope="session")
def browser(lab):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def _context(browser):
    from .explorers import INIT_SCRIPT

    context = browser.new_context(viewport={"width": 1280, "height": 1000}, device_scale_factor=1)
    context.add_init_script(INIT_SCRIPT)
    yield context
    context.close()


_PAGE = {}


@pytest.fixture
def page(_context, request):
    """One JupyterLab page for the whole session (loading JupyterLab takes seconds); a test that
    failed leaves it behind and the next test starts from a fresh page."""
    page = _PAGE.get("page")
    if page is None or page.is_closed():
        page = _PAGE["page"] = _context.new_page()
        page.set_default_timeout(30_000)
    failed_before = request.session.testsfailed
    yield page
    if request.session.testsfailed != failed_before:
        page.close()
        _PAGE.pop("page", None)


def _load_average() -> str:
    try:
        with open("/proc/loadavg") as fh:
            return " ".join(fh.read().split()[:3])
    except OSError:
        return "unknown"


def pytest_terminal_summary(terminalreporter):
    if not RESULTS:
        return
    tr = terminalreporter
    tr.section("explorers in a real browser: input -> new picture (median over inputs)")
    rows = []
    for where in sorted(RESULTS):
        for s in RESULTS[where]:
            rows.append((where, s))
            med = "n/a" if s["median_ms"] is None else f"{s['median_ms']:7.1f} ms"
            flag = "" if s["median_ms"] is None or s["median_ms"] < GOAL_MS else f"  (over the {GOAL_MS} ms goal)"
            tr.write_line(f"{where:32s} {s['explorer']:20s} median {med}  p90 {s['p90_ms']} ms  "
                          f"max {s['max_ms']} ms  over {s['timed']} inputs{flag}")
            slow = {c: ms for c, ms in s.get("median_ms_by_control", {}).items() if ms >= GOAL_MS}
            if slow:
                tr.write_line(f"{'':32s}   slower controls: " + ", ".join(f"{c} {ms:.0f} ms" for c, ms in slow.items()))
    # per explorer, every timed input of both versions together
    combined = {}
    for where, s in rows:
        combined.setdefault((where.split("/")[0], s["explorer"]), []).extend(
            a["first_ms"] for a in s["actions"] if a["first_ms"] is not None)
    tr.write_line("")
    tr.write_line("per explorer, solution and student runs together:")
    summary = {}
    for (lesson, name), lat in sorted(combined.items()):
        if lat:
            med = statistics.median(lat)
            summary[f"{lesson}/{name}"] = {"median_ms": round(med, 1), "inputs": len(lat)}
            tr.write_line(f"  {lesson:16s} {name:20s} median {med:6.1f} ms over {len(lat)} inputs"
                          + ("" if med < GOAL_MS else f"  (over the {GOAL_MS} ms goal)"))
    load = _load_average()
    tr.write_line(f"load average (1, 5, 15 min) at the end: {load}; 2 shared cores, so expect noise")
    ARTIFACTS.mkdir(exist_ok=True)
    LATENCY_JSON.write_text(json.dumps({
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "load_average": load,
        "goal_ms": GOAL_MS,
        "per_explorer": summary,
        "explorers": {where: RESULTS[where] for where in sorted(RESULTS)},
    }, indent=1))
    tr.write_line(f"written to {LATENCY_JSON.relative_to(REPO)}; screenshots in {SCREENSHOTS.relative_to(REPO)}/")
