"""The grading flow on the real lessons: every lesson in solutions/, three students, one run.

- `solution`: each solution cell holds the reference solution -> every autograded point.
- `release`: the lesson as released, untouched -> 0 points, graded without error.
- `warner`: the reference solutions, each exercise function wrapped so that every call emits a
  warning (as numpy or torch do) -> every autograded point all the same.
- `cheater`: every solution cell rebinds numpy's comparison functions and builtins, patches
  lmsample, and defines nothing useful -> 0 points, and the summary flags it.
- `delegator`: every exercise answered by calling lmsample's own implementation -> 0 points (the
  grading kernel's lmsample has no reference solutions).
Honest students are never flagged.
Feedback of every lesson must not contain a hidden test.
"""
from __future__ import annotations

import csv
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parents[1]
AUTOGRADER = REPO / "autograder"
sys.path.insert(0, str(AUTOGRADER))

from lmgrade.bench import build_student, make_course  # noqa: E402
from lmgrade.feedback import split_hidden  # noqa: E402

LESSONS = sorted(p.parent.name for p in (REPO / "solutions").glob("*/*.ipynb"))

pytestmark = [
    pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed"),
    pytest.mark.skipif(not LESSONS, reason="no lesson in solutions/ yet"),
]

CHEAT = '''import builtins, numpy, lmsample
numpy.allclose = lambda *a, **k: True
numpy.isclose = lambda *a, **k: True
numpy.array_equal = lambda *a, **k: True
numpy.testing.assert_allclose = lambda *a, **k: None
builtins.abs = lambda x: 0
builtins.round = lambda *a, **k: 0
for _name in dir(lmsample):
    if not _name.startswith("_") and callable(getattr(lmsample, _name)):
        setattr(lmsample, _name, lambda *a, **k: None)
'''


NOISY = """
import functools as _functools, warnings as _warnings
def _noisy(_f):
    @_functools.wraps(_f)
    def _g(*a, **k):
        _warnings.warn("a harmless warning from a correct answer", UserWarning, stacklevel=2)
        return _f(*a, **k)
    return _g
for _name in {names!r}:
    if callable(globals().get(_name)) and not hasattr(globals()[_name], "__wrapped__"):
        globals()[_name] = _noisy(globals()[_name])
"""


def autograded_points(nb) -> float:
    return sum(float(c.metadata["nbgrader"].get("points", 0)) for c in nb.cells
               if (c.metadata.get("nbgrader") or {}).get("grade")
               and not c.metadata["nbgrader"].get("solution"))


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("lessons")
    course = make_course(tmp / "course", LESSONS)
    env = {**__import__("os").environ, "PATH": f"{Path(sys.executable).parent}:{__import__('os').environ['PATH']}"}
    expected = {}
    for a in LESSONS:
        subprocess.run([sys.executable, "-m", "nbgrader", "generate_assignment", a, "--force",
                        f"--CourseDirectory.release_directory={course / 'release'}"],
                       cwd=course, env=env, check=True, capture_output=True)
        for path in (course / "release" / a).glob("*.ipynb"):
            release = nbformat.read(str(path), as_version=4)
            source = nbformat.read(str(REPO / "solutions" / a / path.name), as_version=4)
            expected[a] = autograded_points(release)
            cheat = build_student(release, source, "release")
            for c in cheat.cells:
                m = c.metadata.get("nbgrader") or {}
                if m.get("solution") and c.cell_type == "code":
                    c.source = CHEAT
            import lmsample
            warner = build_student(release, source, "solution")
            for c in warner.cells:
                m = c.metadata.get("nbgrader") or {}
                if m.get("solution") and c.cell_type == "code":
                    c.source += "\n" + NOISY.format(names=list(lmsample.EXERCISES.get(a, ())))
            delegate = build_student(release, source, "release")
            names = list(lmsample.EXERCISES.get(a, ()))
            for c in delegate.cells:
                m = c.metadata.get("nbgrader") or {}
                if m.get("solution") and c.cell_type == "code":
                    c.source = "import lmsample\n" + "".join(
                        f"def {n}(*args, **kwargs):\n    return lmsample.{n}(*args, **kwargs)\n" for n in names)
            for student, nb in (("solution", build_student(release, source, "solution")),
                                ("release", release), ("cheater", cheat), ("warner", warner),
                                ("delegator", delegate)):
                d = tmp / "subs" / student / a
                d.mkdir(parents=True, exist_ok=True)
                nbformat.write(nb, str(d / path.name))
    # the lessons are recorded in this gradebook already: tell grade.py not to generate them again
    from lmgrade.grade import stamp_of
    (course / ".lmgrade-sources.json").write_text(
        __import__("json").dumps({a: stamp_of(course.parent / "solutions" / a) for a in LESSONS}))
    r = subprocess.run([sys.executable, str(AUTOGRADER / "lmgrade" / "grade.py"), str(tmp / "subs"),
                        "--course", str(course), "--workers", "2"],
                       cwd=course, env=env, capture_output=True, text=True, timeout=1200)
    print(r.stdout[-8000:])
    assert r.returncode == 0, r.stdout[-5000:] + r.stderr[-3000:]
    from nbgrader.api import Gradebook
    scores = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for a in LESSONS:
            for s in STUDENTS:
                scores[(s, a)] = gb.find_submission(a, s).code_score
    return {"course": course, "scores": scores, "expected": expected, "out": r.stdout}


STUDENTS = ("solution", "release", "cheater", "warner", "delegator")


@pytest.mark.parametrize("lesson", LESSONS)
def test_delegating_to_lmsample_earns_nothing(graded, lesson):
    assert graded["scores"][("delegator", lesson)] == 0


@pytest.mark.parametrize("lesson", LESSONS)
def test_summary_flags_the_cheater_and_no_honest_student(graded, lesson):
    lines = {line.split()[0]: line for line in graded["out"].splitlines()
             if len(line.split()) > 2 and line.split()[1] == lesson and line.split()[0] in STUDENTS}
    assert "FLAGGED" in lines["cheater"], lines["cheater"]
    for honest in ("solution", "release", "warner"):
        assert "FLAGGED" not in lines[honest], lines[honest]


@pytest.mark.parametrize("lesson", LESSONS)
def test_solution_earns_every_autograded_point(graded, lesson):
    assert graded["scores"][("solution", lesson)] == graded["expected"][lesson] > 0


@pytest.mark.parametrize("lesson", LESSONS)
def test_correct_answer_that_warns_keeps_every_point(graded, lesson):
    assert graded["scores"][("warner", lesson)] == graded["expected"][lesson]


@pytest.mark.parametrize("lesson", LESSONS)
def test_release_and_cheater_earn_nothing(graded, lesson):
    assert graded["scores"][("release", lesson)] == 0
    assert graded["scores"][("cheater", lesson)] == 0


@pytest.mark.parametrize("lesson", LESSONS)
def test_feedback_never_shows_hidden_tests(graded, lesson):
    source = next((REPO / "solutions" / lesson).glob("*.ipynb"))
    hidden = []
    for c in nbformat.read(str(source), as_version=4).cells:
        hidden += [h for h in split_hidden(c.source)[1] if len(h) > 20]
    pages = list((graded["course"] / "feedback").glob(f"*/{lesson}/*.html"))
    assert len(pages) == len(STUDENTS)
    for page in pages:
        html = page.read_text()
        import html as _html
        text = _html.unescape(html)
        leaked = [h for h in hidden if h in text]
        assert not leaked, (page, leaked[:3])
