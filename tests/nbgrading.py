"""Helpers to check the lessons through real nbgrader: regenerate, execute, autograde.

Plain functions with no global state, so the lesson tests and the instructor's grading tests can
share them. Every nbgrader command runs in a *temporary copy* of the course (a folder holding
``autograder/nbgrader_config.py`` and ``solutions/<id>``), never in the real ``autograder/``: its
gradebook is never touched.

Typical use::

    course = make_course(tmp_path, ["01-greedy"])
    release = generate_release(course, "01-greedy")          # tmp_path/lessons/01-greedy
    assert compare_trees(release, LESSONS / "01-greedy") == []
    nb = fill_notebook(read_notebook(release / "greedy.ipynb"), {"greedy_decode": "def ..."})
    submit(course, "01-greedy", "alice", {"greedy.ipynb": nb})
    autograde(course, "01-greedy")
    read_scores(course, "01-greedy")["alice"]["greedy"]["greedy_decode_tests"].score

A fixture module (``tests/fixtures/submissions/<id>.py``) defines ``NOTEBOOK`` (the notebook's
file name) and ``CASES``: ``{case name: {"answers": {solution grade_id: code}, "fails": {test
grade_id, ...}}}``, optionally ``"alone": True`` for a case that must not share a notebook with
others. :func:`pack_cases` puts cases that answer different exercises into the same fake student,
so one ``nbgrader autograde`` run grades them all. The test cell of solution cell ``X`` is named
``X_tests`` (the lesson tests rely on it to know which cells a case answers for). A case's code should
not call the student's other exercises, so that its outcome does not depend on the cases it shares a
notebook with.

Command line: ``python tests/nbgrading.py release 01-greedy`` regenerates ``lessons/01-greedy``
through a throwaway course.
"""
from __future__ import annotations

import copy
import filecmp
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[1]
SOLUTIONS = REPO / "solutions"
LESSONS = REPO / "lessons"
AUTOGRADER = REPO / "autograder"
VENV_BIN = Path(sys.executable).parent  # the environment running the tests (.venv, or .venv-latest)
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "submissions"

#: Files nbgrader or Jupyter may leave in a folder that are not part of a lesson.
IGNORED_NAMES = {".ipynb_checkpoints", "__pycache__", ".DS_Store"}


# --------------------------------------------------------------------------------------- discovery
def source_notebooks(solutions: Path = SOLUTIONS) -> list[tuple[str, str]]:
    """``(assignment id, notebook file name)`` for every ``solutions/<id>/<name>.ipynb``, sorted."""
    return sorted(
        (p.parent.name, p.name)
        for p in solutions.glob("*/*.ipynb")
        if not any(part in IGNORED_NAMES for part in p.parts)
    )


def read_notebook(path) -> nbformat.NotebookNode:
    return nbformat.read(str(path), as_version=4)


def nbgrader_cells(nb) -> dict[str, dict]:
    """``{grade_id: nbgrader metadata (plus 'cell_type' and 'index')}`` of a notebook's nbgrader cells."""
    cells = {}
    for index, cell in enumerate(nb.cells):
        meta = cell.get("metadata", {}).get("nbgrader")
        if meta and "grade_id" in meta:
            cells[meta["grade_id"]] = dict(meta, cell_type=cell.cell_type, index=index)
    return cells


def autograded_test_ids(nb) -> set[str]:
    """grade_ids of the autograded test cells (locked, graded code cells that are not solutions)."""
    return {
        gid
        for gid, m in nbgrader_cells(nb).items()
        if m.get("grade") and not m.get("solution") and m["cell_type"] == "code"
    }


def manual_ids(nb) -> set[str]:
    """grade_ids of the manually graded answer cells (graded solution cells)."""
    return {gid for gid, m in nbgrader_cells(nb).items() if m.get("grade") and m.get("solution")}


def load_fixture(assignment: str, fixtures: Path = FIXTURES):
    """The fixture module ``fixtures/<assignment>.py`` (``None`` when the lesson has none)."""
    path = fixtures / f"{assignment}.py"
    if not path.exists():
        return None
    spec = importlib.util.spec_from_file_location(f"fixture_{assignment.replace('-', '_')}", path)
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(fixtures))  # fixture modules share helpers that live beside them
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(fixtures))
    return module


# --------------------------------------------------------------------------------------- environment
def tool_env(scratch: Path | None = None, **extra: str) -> dict[str, str]:
    """``os.environ`` with ``.venv/bin`` first on PATH (nbgrader shells out to ``alembic``), Jupyter,
    IPython and matplotlib folders in ``scratch`` (nothing lands in the home folder), and ``extra``."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(VENV_BIN), str(Path(sys.executable).parent), env.get("PATH", "")])
    if scratch is not None:
        for var, sub in [
            ("JUPYTER_CONFIG_DIR", "jupyter-config"),
            ("JUPYTER_RUNTIME_DIR", "jupyter-runtime"),
            ("JUPYTER_DATA_DIR", "jupyter-data"),
            ("IPYTHONDIR", "ipython"),
            ("MPLCONFIGDIR", "matplotlib"),
        ]:
            folder = Path(scratch) / sub
            folder.mkdir(parents=True, exist_ok=True)
            env[var] = str(folder)
    env.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")  # silences a debugger warning on kernel start
    env.update(extra)
    return env


def nbgrader_executable() -> list[str]:
    exe = VENV_BIN / "nbgrader"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "nbgrader"]


def run_nbgrader(course: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run ``nbgrader ARGS`` from ``course/autograder``; raise with its output if it fails."""
    cwd = Path(course) / "autograder"
    proc = subprocess.run(
        [*nbgrader_executable(), *args],
        cwd=cwd,
        env=tool_env(Path(course) / ".scratch"),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if proc.returncode != 0:
        raise RuntimeError(
            f"nbgrader {' '.join(args)} failed with exit code {proc.returncode}\n"
            f"--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"
        )
    return proc


# --------------------------------------------------------------------------------------- course copies
#: What lives in ``autograder/`` but is grading state, not configuration: never copied.
AUTOGRADER_STATE = ("gradebook.db*", "submitted", "autograded", "feedback", "release", "source", "*.csv",
                    "__pycache__", ".ipynb_checkpoints")


def make_course(workdir, assignments, solutions: Path = SOLUTIONS, autograder: Path = AUTOGRADER) -> Path:
    """A throwaway course in ``workdir``: a copy of ``autograder/`` (its config and any helper code
    the config imports, without gradebook or submissions) and copies of the given lessons' sources.
    Returns ``workdir``; nbgrader runs in ``workdir/autograder``."""
    course = Path(workdir)
    course.mkdir(parents=True, exist_ok=True)
    shutil.copytree(autograder, course / "autograder", ignore=shutil.ignore_patterns(*AUTOGRADER_STATE),
                    dirs_exist_ok=True)
    for assignment in assignments:
        dest = course / "solutions" / assignment
        if dest.exists():
            shutil.rmtree(dest)
        shutil.copytree(solutions / assignment, dest, ignore=shutil.ignore_patterns(*IGNORED_NAMES))
    return course


def generate_release(course: Path, assignment: str) -> Path:
    """``nbgrader generate_assignment`` in the course copy (this also records the assignment in its
    gradebook); returns the generated student folder ``course/lessons/<assignment>``."""
    run_nbgrader(course, "generate_assignment", assignment, "--force")
    return Path(course) / "lessons" / assignment


def compare_trees(left: Path, right: Path) -> list[str]:
    """Differences between two folders, byte for byte: missing files and files whose bytes differ."""
    def files(root: Path) -> set[str]:
        return {
            str(p.relative_to(root))
            for p in Path(root).rglob("*")
            if p.is_file() and not any(part in IGNORED_NAMES for part in p.relative_to(root).parts)
        }

    a, b = files(left), files(right)
    problems = [f"only in {left}: {name}" for name in sorted(a - b)]
    problems += [f"only in {right}: {name}" for name in sorted(b - a)]
    problems += [
        f"differs: {name}" for name in sorted(a & b) if not filecmp.cmp(Path(left) / name, Path(right) / name, shallow=False)
    ]
    return problems


# --------------------------------------------------------------------------------------- submissions
def fill_notebook(released, answers: dict[str, str]):
    """A copy of the released notebook whose solution cells ``answers`` names hold the given code."""
    nb = copy.deepcopy(released)
    cells = nbgrader_cells(nb)
    for grade_id, source in answers.items():
        meta = cells.get(grade_id)
        if meta is None or not meta.get("solution"):
            raise KeyError(f"{grade_id!r} is not a solution cell of this notebook (have {sorted(cells)})")
        nb.cells[meta["index"]].source = source
    return nb


def submit(course: Path, assignment: str, student: str, notebooks: dict) -> Path:
    """Put a submission in ``course/autograder/submitted/<student>/<assignment>``.

    ``notebooks`` maps file names to notebooks (``NotebookNode``) or paths to copy."""
    folder = Path(course) / "autograder" / "submitted" / student / assignment
    folder.mkdir(parents=True, exist_ok=True)
    for name, nb in notebooks.items():
        if isinstance(nb, (str, os.PathLike)):
            shutil.copy2(nb, folder / name)
        else:
            nbformat.write(nb, str(folder / name))
    (folder / "timestamp.txt").write_text("2026-01-01 00:00:00.000000 UTC\n")
    return folder


def autograde(course: Path, assignment: str, timeout: float = 1200) -> subprocess.CompletedProcess:
    """``nbgrader autograde ASSIGNMENT --create --force``: every submitted student in one run."""
    return run_nbgrader(course, "autograde", assignment, "--create", "--force", timeout=timeout)


@dataclass(frozen=True)
class Score:
    score: float
    max_score: float
    auto_score: float | None
    needs_manual_grade: bool
    kind: str  # "autograded_test", "manual", or nbgrader's own cell type name


def read_scores(course: Path, assignment: str) -> dict[str, dict[str, dict[str, Score]]]:
    """``{student: {notebook name (no .ipynb): {grade_id: Score}}}`` from the course copy's gradebook."""
    from nbgrader.api import Gradebook

    db_url = "sqlite:///" + str(Path(course) / "autograder" / "gradebook.db")
    out: dict[str, dict[str, dict[str, Score]]] = {}
    with Gradebook(db_url) as gb:
        for submission in gb.assignment_submissions(assignment):
            per_nb = out.setdefault(submission.student.id, {})
            for snb in submission.notebooks:
                cells = per_nb.setdefault(snb.name, {})
                for grade in snb.grades:
                    if grade.cell_type == "code" and grade.auto_score is not None:
                        kind = "autograded_test"
                    elif grade.cell_type == "markdown":
                        kind = "manual"
                    else:
                        kind = grade.cell_type
                    cells[grade.name] = Score(
                        score=float(grade.score),
                        max_score=float(grade.max_score),
                        auto_score=None if grade.auto_score is None else float(grade.auto_score),
                        needs_manual_grade=bool(grade.needs_manual_grade),
                        kind=kind,
                    )
    return out


def pack_cases(cases: dict) -> list[list[str]]:
    """Group fixture cases into fake students: cases answering disjoint sets of solution cells share
    a notebook (their exercises are graded independently); ``"alone": True`` cases get their own."""
    students: list[tuple[set, list[str]]] = []
    for name, case in cases.items():
        used = set(case["answers"])
        if not case.get("alone"):
            for taken, names in students:
                if taken is not None and not taken & used:
                    taken |= used
                    names.append(name)
                    break
            else:
                students.append((set(used), [name]))
        else:
            students.append((None, [name]))
    return [names for _, names in students]


# --------------------------------------------------------------------------------------- execution
def execute_notebook(path: Path, timeout: float = 120, nbgrader_execution: str | None = None, scratch: Path | None = None):
    """Run a notebook top to bottom with nbclient in its own folder; return ``(notebook, seconds)``.

    Errors raise ``nbclient.exceptions.CellExecutionError``. ``nbgrader_execution`` sets the
    ``NBGRADER_EXECUTION`` variable the kernel sees (as nbgrader does: "autograde", "validate").
    ``timeout`` is per cell.
    """
    from nbclient import NotebookClient

    nb = read_notebook(path)
    extra = {} if nbgrader_execution is None else {"NBGRADER_EXECUTION": nbgrader_execution}
    with tempfile.TemporaryDirectory(prefix="nbexec-") as own_scratch:
        env = tool_env(Path(scratch) if scratch else Path(own_scratch), **extra)
        if nbgrader_execution is None:
            env.pop("NBGRADER_EXECUTION", None)
        client = NotebookClient(
            nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(Path(path).parent)}}
        )
        start = time.perf_counter()
        client.execute(env=env)
        return nb, time.perf_counter() - start


def stderr_outputs(nb) -> list[tuple[int, str]]:
    """``(cell index, text)`` of every stderr stream output of an executed notebook."""
    return [
        (i, out.get("text", ""))
        for i, cell in enumerate(nb.cells)
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
        if out.get("output_type") == "stream" and out.get("name") == "stderr"
    ]


def autograded_problems(course: Path, assignment: str, student: str, notebook: str) -> dict[str, str]:
    """``{grade_id: error or stderr text}`` of the graded cells of an autograded submission (for messages)."""
    path = Path(course) / "autograder" / "autograded" / student / assignment / notebook
    if not path.exists():
        return {}
    problems = {}
    for cell in read_notebook(path).cells:
        gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        for out in cell.get("outputs", []) if gid else []:
            if out.get("output_type") == "error":
                problems[gid] = f"{out.get('ename')}: {out.get('evalue')}"[:500]
            elif out.get("output_type") == "stream" and out.get("name") == "stderr":
                problems.setdefault(gid, "stderr: " + out.get("text", "")[:500])
    return problems


def release(assignments, lessons: Path = LESSONS) -> None:
    """Regenerate ``lessons/<id>`` for each assignment through a throwaway course (the real
    ``autograder/gradebook.db`` is not touched) and replace the committed folder with the result."""
    with tempfile.TemporaryDirectory(prefix="release-") as tmp:
        course = make_course(Path(tmp), assignments)
        for assignment in assignments:
            generated = generate_release(course, assignment)
            dest = Path(lessons) / assignment
            if dest.exists():
                shutil.rmtree(dest)
            shutil.copytree(generated, dest)
            print(f"lessons/{assignment}: regenerated from solutions/{assignment}")


if __name__ == "__main__":
    # python tests/nbgrading.py release 01-greedy [02-ancestral ...]   (no ids: every lesson)
    if len(sys.argv) >= 2 and sys.argv[1] == "release":
        release(sys.argv[2:] or sorted({a for a, _ in source_notebooks()}))
    else:
        sys.exit("usage: python tests/nbgrading.py release [ASSIGNMENT ...]")
