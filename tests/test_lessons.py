"""Every lesson, checked through real nbgrader.

Parameterised over whatever ``solutions/<id>/<notebook>.ipynb`` exist, so a new lesson is covered
by adding its notebook (and ``tests/fixtures/submissions/<id>.py`` for its wrong answers):

- the committed student version ``lessons/<id>`` is byte for byte what ``generate_assignment`` makes;
- notebooks are saved clean (no outputs or execution counts, kernelspec python3, nbgrader metadata);
- ``grade_id`` s are unique across the course; every exercise has >= 3 wrong answers and 1 right one;
- the solution executes top to bottom (nbclient, per-cell timeout, whole notebook under 60 s),
  without writing to stderr;
- autograding, one ``nbgrader autograde`` run per lesson in a throwaway copy of the course: the
  solution submitted as is earns every automatic point, the untouched student version earns 0
  without crashing the run, and each fixture case loses exactly the points it should.
"""
from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import nbgrading as g

NOTEBOOKS = g.source_notebooks()
ASSIGNMENTS = [a for a, _ in NOTEBOOKS]
SOLUTION_STUDENT = "solution_as_is"
RELEASE_STUDENT = "release_untouched"
#: Whole-notebook budget of the curriculum ("under 60 s"); the real-model lessons 06-gpt2 and 07-chain get 3 minutes.
TIME_BUDGET = {"06-gpt2": 180.0, "07-chain": 180.0}


def fixture_cases():
    for assignment in ASSIGNMENTS:
        module = g.load_fixture(assignment)
        for case in getattr(module, "CASES", {}):
            yield assignment, case


CASES = list(fixture_cases())


# --------------------------------------------------------------------------------------- static checks
@pytest.mark.parametrize("assignment,notebook", NOTEBOOKS)
def test_notebooks_are_saved_clean(assignment, notebook):
    for path in [g.SOLUTIONS / assignment / notebook, g.LESSONS / assignment / notebook]:
        assert path.exists(), f"{path} is missing: run nbgrader generate_assignment {assignment}"
        raw = json.loads(path.read_text())
        assert raw["metadata"]["kernelspec"]["name"] == "python3", path
        for i, cell in enumerate(raw["cells"]):
            if cell["cell_type"] == "code":
                assert cell["outputs"] == [] and cell["execution_count"] is None, f"{path} cell {i} has outputs"
        nb = g.read_notebook(path)
        assert g.autograded_test_ids(nb), f"{path} has no autograded test cell"
        assert len(g.manual_ids(nb)) >= 1, f"{path} has no manually graded question"


def test_grade_ids_unique_across_course():
    seen = {}
    for assignment, notebook in NOTEBOOKS:
        for gid in g.nbgrader_cells(g.read_notebook(g.SOLUTIONS / assignment / notebook)):
            assert gid not in seen, f"grade_id {gid!r} is used in {seen[gid]} and {assignment}/{notebook}"
            seen[gid] = f"{assignment}/{notebook}"


@pytest.mark.parametrize("assignment,notebook", NOTEBOOKS)
def test_structure_of_exercises(assignment, notebook):
    """Each solution cell is followed directly by its locked test cell; the first code cell is the
    installer that does nothing where lmsample is installed."""
    nb = g.read_notebook(g.SOLUTIONS / assignment / notebook)
    cells = g.nbgrader_cells(nb)
    for gid, meta in cells.items():
        if meta.get("solution") and meta["cell_type"] == "code":
            nxt = nb.cells[meta["index"] + 1].metadata.get("nbgrader", {})
            assert nxt.get("grade") and nxt.get("locked") and not nxt.get("solution"), f"{gid} is not followed by a test cell"
    tests = g.autograded_test_ids(nb)
    for gid in tests:
        source = nb.cells[cells[gid]["index"]].source
        assert "### BEGIN HIDDEN TESTS" in source, f"{gid} has no hidden tests"
        assert "np.allclose" not in source and "np.isclose" not in source, f"{gid} uses a name a student can rebind"
    first_code = next(c for c in nb.cells if c.cell_type == "code")
    assert 'find_spec("lmsample") is None' in first_code.source, "the first code cell must install lmsample only when missing"


@pytest.mark.parametrize("assignment,notebook", NOTEBOOKS)
def test_every_exercise_has_fixture_cases(assignment, notebook):
    module = g.load_fixture(assignment)
    assert module is not None, f"tests/fixtures/submissions/{assignment}.py is missing"
    nb = g.read_notebook(g.SOLUTIONS / assignment / notebook)
    cells = g.nbgrader_cells(nb)
    exercises = [gid for gid, m in cells.items() if m.get("solution") and m["cell_type"] == "code"]
    for gid in exercises:
        wrong = [c for c in module.CASES.values() if gid in c["answers"] and c["fails"]]
        right = [c for c in module.CASES.values() if gid in c["answers"] and not c["fails"]]
        assert len(wrong) >= 3, f"{gid}: only {len(wrong)} wrong answers in the fixtures"
        assert len(right) >= 1, f"{gid}: no differently written right answer in the fixtures"
    for name, case in module.CASES.items():
        assert set(case["fails"]) <= g.autograded_test_ids(nb), f"{name}: unknown test cells {case['fails']}"


# --------------------------------------------------------------------------------------- execution
@pytest.mark.parametrize("assignment,notebook", NOTEBOOKS)
def test_solution_executes_top_to_bottom(assignment, notebook, tmp_path):
    nb, seconds = g.execute_notebook(g.SOLUTIONS / assignment / notebook, timeout=120, scratch=tmp_path)
    print(f"{assignment}/{notebook} executed in {seconds:.1f} s")
    budget = TIME_BUDGET.get(assignment, 60.0)
    assert seconds < budget, f"{assignment} took {seconds:.1f} s (budget {budget} s)"
    assert g.stderr_outputs(nb) == [], f"{assignment} wrote to stderr: {g.stderr_outputs(nb)}"


# --------------------------------------------------------------------------------------- grading
class Graded:
    """The outcome of one lesson's batch: the release, scores per student, and who holds which case."""

    def __init__(self, assignment, notebook, release, scores, students, seconds, course):
        self.assignment, self.notebook, self.course = assignment, notebook, course
        self.release, self.scores, self.students, self.seconds = release, scores, students, seconds

    def cells(self, student):
        return self.scores[student][Path(self.notebook).stem]


def grade_lesson(assignment: str, notebook: str, workdir: Path) -> Graded:
    """One throwaway course, one generate_assignment, one autograde run over every fake student."""
    start = time.perf_counter()
    course = g.make_course(workdir, [assignment])
    release = g.generate_release(course, assignment)
    released_nb = g.read_notebook(release / notebook)
    g.submit(course, assignment, SOLUTION_STUDENT, {notebook: g.SOLUTIONS / assignment / notebook})
    g.submit(course, assignment, RELEASE_STUDENT, {notebook: release / notebook})
    module = g.load_fixture(assignment)
    cases = getattr(module, "CASES", {})
    students = {}
    for n, names in enumerate(g.pack_cases(cases)):
        student = f"fixture{n:02d}"
        answers = {gid: code for name in names for gid, code in cases[name]["answers"].items()}
        g.submit(course, assignment, student, {notebook: g.fill_notebook(released_nb, answers)})
        students.update({name: student for name in names})
    g.autograde(course, assignment)
    scores = g.read_scores(course, assignment)
    return Graded(assignment, notebook, release, scores, students, time.perf_counter() - start, course)


@pytest.fixture(scope="session")
def graded(request, tmp_path_factory):
    """The lessons the selected tests need, each graded once per session, two at a time."""
    wanted = {  # only this module's tests: test_autograder*.py have their own fixture named "graded"
        item.callspec.params["assignment"]
        for item in request.session.items
        if getattr(item, "path", None) == Path(__file__) and "graded" in getattr(item, "fixturenames", ())
        and hasattr(item, "callspec") and "assignment" in item.callspec.params
    }
    root = tmp_path_factory.mktemp("courses")
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {a: pool.submit(grade_lesson, a, nb, root / a) for a, nb in NOTEBOOKS if a in wanted}
        results = {}
        for a, future in futures.items():
            try:
                results[a] = future.result()
            except Exception as exc:  # reported by each test that needs this lesson
                results[a] = exc
    for a, r in results.items():
        if not isinstance(r, Exception):
            print(f"\n{a}: generate + autograde of {len(set(r.students.values())) + 2} submissions took {r.seconds:.1f} s")
    return results


def _lesson(graded, assignment) -> Graded:
    result = graded[assignment]
    if isinstance(result, Exception):
        raise result
    return result


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_release_is_what_nbgrader_generates(graded, assignment):
    result = _lesson(graded, assignment)
    assert g.compare_trees(result.release, g.LESSONS / assignment) == [], (
        f"lessons/{assignment} differs from what nbgrader generates: "
        f"cd autograder && nbgrader generate_assignment {assignment} --force"
    )


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_solution_as_is_earns_every_automatic_point(graded, assignment):
    result = _lesson(graded, assignment)
    cells = result.cells(SOLUTION_STUDENT)
    autos = {gid: s for gid, s in cells.items() if s.kind == "autograded_test"}
    assert autos, "no autograded cells were graded"
    lost = {gid: (s.score, s.max_score) for gid, s in autos.items() if s.score != s.max_score}
    assert lost == {}, f"the solution lost points: {lost}"
    manual = {gid: s for gid, s in cells.items() if s.kind == "manual"}
    assert manual and all(s.needs_manual_grade for s in manual.values())


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_untouched_release_earns_zero(graded, assignment):
    result = _lesson(graded, assignment)
    cells = result.cells(RELEASE_STUDENT)
    earned = {gid: s.score for gid, s in cells.items() if s.score}
    assert earned == {}, f"the unanswered student version earned points: {earned}"
    assert {gid for gid, s in cells.items() if s.kind == "autograded_test"} == g.autograded_test_ids(
        g.read_notebook(result.release / result.notebook)
    )


@pytest.mark.parametrize("assignment,case", CASES)
def test_fixture_case_earns_what_it_should(graded, assignment, case):
    result = _lesson(graded, assignment)
    expected_fail = set(g.load_fixture(assignment).CASES[case]["fails"])
    cells = result.cells(result.students[case])
    # cells this case answered: its own exercises' test cells (named after the solution cell)
    own = {gid for gid in cells if cells[gid].kind == "autograded_test"}
    failed = {gid for gid in own if cells[gid].score == 0}
    full = {gid for gid in own if cells[gid].score == cells[gid].max_score}
    # other cases share this student: only the test cells of the exercises this case answers count
    # (by convention the test cell of solution cell X is X_tests)
    answered = g.load_fixture(assignment).CASES[case]["answers"]
    mine = {f"{gid}_tests" for gid in answered} & own
    assert mine, f"{case}: none of its answers has a test cell named <solution grade_id>_tests"
    problems = g.autograded_problems(result.course, assignment, result.students[case], result.notebook)
    assert failed & mine == expected_fail, (
        f"{case}: expected {sorted(expected_fail)} to fail, failed: {sorted(failed & mine)}; "
        f"errors: { {gid: problems.get(gid) for gid in mine} }"
    )
    assert mine - expected_fail <= full, f"{case}: partial credit in {sorted(mine - expected_fail - full)}"


def test_pack_cases_groups_disjoint_answers():
    cases = {
        "a1": {"answers": {"x": ""}, "fails": set()},
        "a2": {"answers": {"x": ""}, "fails": {"x_tests"}},
        "b1": {"answers": {"y": ""}, "fails": set()},
        "ab": {"answers": {"x": "", "y": ""}, "fails": set()},
        "lonely": {"answers": {"z": ""}, "fails": set(), "alone": True},
        "c1": {"answers": {"z": ""}, "fails": set()},
    }
    students = g.pack_cases(cases)
    assert students == [["a1", "b1", "c1"], ["a2"], ["ab"], ["lonely"]]
    for names in students:
        used = [gid for name in names for gid in cases[name]["answers"]]
        assert len(used) == len(set(used))
