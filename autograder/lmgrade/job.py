"""One grading job: one student's submission of one lesson, graded wherever it runs.

`grade_job(job, lesson)` is what a Dask worker runs (see `cluster.py`). It is a plain function of
plain data, and needs nothing of the coordinator's disk: every input travels with the task.

- ``job``: ``student``, ``assignment``, ``notebooks`` ({file name: notebook JSON text}, already
  checked by the coordinator), ``timestamp`` (the text of ``timestamp.txt`` or None), ``feedback``
  (write the feedback page), ``timeout`` (per-cell seconds or None), ``env`` (the settings that
  decide a grade: ``LMGRADE_*`` limits, the sandbox opt-out) and ``workdir`` (a folder to work in
  on the worker, or None for the system's temporary folder).
- ``lesson``: ``config`` (the text of the course's ``nbgrader_config.py``), ``gradebook`` (the
  bytes of a gradebook holding the lessons and no student: the grading data, hidden tests
  included) and ``files`` ({relative path: bytes}: the lesson's data files, no notebook).

The job builds a one-student course in a folder of its own, runs nbgrader's autograde (and
feedback) in this process with the sandboxed executor, and returns plain data: the scores,
comments and flags as the gradebook holds them, the autograded and feedback files as bytes, and
notes on what happened. The coordinator merges that into the one gradebook (``grade.merge``).
The worker needs the course's environment (the virtualenv, bubblewrap, ``autograder/`` on its
``PYTHONPATH``), not the course's files.
"""
from __future__ import annotations

import logging
import os
import shutil
import sys
import tempfile
import threading
import time
import warnings
from contextlib import contextmanager
from pathlib import Path

import nbformat

AUTOGRADER = Path(__file__).resolve().parent.parent
#: environment variables that decide a grade: the coordinator's values travel with each job
SETTINGS_ENV = ("LMGRADE_MEM_MB", "LMGRADE_NPROC", "LMGRADE_FSIZE_MB", "LMGRADE_CPU_S", "LMGRADE_THREADS",
                "LMGRADE_NO_SANDBOX")
#: a worker process grades one job at a time (the job sets its process's environment), even when
#: it was started with several threads
_ONE_AT_A_TIME = threading.Lock()


def grade_id(cell) -> str | None:
    return (cell.get("metadata", {}).get("nbgrader") or {}).get("grade_id")


KNOWN_ERRORS = [
    ("LmgradeKernelKilled", "kernel killed ({evalue})"),
    ("LmgradeNotebookTimeout", "notebook time budget used up; later cells not run"),
    ("LmgradeTampering", "FLAGGED, look at it: {evalue}"),
    ("CellTimeoutError", "a cell exceeded the time limit and was interrupted"),
    ("MemoryError", "memory limit hit (MemoryError)"),
    ("BlockingIOError", "process limit hit (BlockingIOError)"),
]


def analyse_graded(nb) -> list[str]:
    """What happened while a notebook was graded, read from its autograded copy's error outputs."""
    notes: list[str] = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        where = grade_id(cell) or f"cell {i + 1}"
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                ename, evalue = out.get("ename", ""), str(out.get("evalue", ""))
                if ename == "LmgradeTestFailed" and evalue.startswith("no answer from your notebook"):
                    notes.append(f"{where}: {evalue[len('no answer from your notebook: '):][:120]}")
                    continue
                for known, text in KNOWN_ERRORS:
                    if ename == known:
                        notes.append(f"{where}: " + text.format(evalue=evalue))
                        break
                else:
                    low = evalue.lower()
                    if "network is unreachable" in low or "connection refused" in low or "name or service not known" in low or "temporary failure in name resolution" in low or ename == "gaierror":
                        notes.append(f"{where}: network blocked by the sandbox")
                    elif ename in ("PermissionError", "FileNotFoundError", "OSError") and ("/" in evalue):
                        notes.append(f"{where}: {ename} {evalue[:80]} (sandbox)")
            elif out.get("output_type") == "stream":
                text = out.get("text", "")
                if "[grader: output truncated" in text:
                    notes.append(f"{where}: output truncated")
    return list(dict.fromkeys(notes))


def worker_name() -> str:
    """The Dask worker's name (its index in the embedded cluster), or this process's id outside Dask."""
    try:
        from distributed import get_worker

        return str(get_worker().name)
    except (ImportError, ValueError):
        return f"pid {os.getpid()}"


def sandbox_uid_for(name: str) -> str:
    """The unprivileged uid of this worker's kernels when grading as root: 61000 + the worker's
    index in the embedded cluster, else 62000-64999 from the process id (distinct per worker
    process of a machine, so that one worker's kernels do not use up another's process limit)."""
    return str(61000 + (int(name) if name.isdigit() and int(name) < 1000 else 1000 + os.getpid() % 3000))


@contextmanager
def _environ(values: dict[str, str | None]):
    """Set (a value) and unset (None) environment variables for the duration of a job."""
    saved = {k: os.environ.get(k) for k in values}

    def apply(vals):
        for k, v in vals.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v

    apply(values)
    try:
        yield
    finally:
        apply(saved)


def _write_tree(folder: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        path = (folder / rel).resolve()
        if not path.is_relative_to(folder.resolve()):
            raise ValueError(f"files: {rel!r} leaves its folder")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def _read_tree(folder: Path) -> dict[str, bytes]:
    if not folder.is_dir():
        return {}
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _submission_data(db: Path, student: str, assignment: str) -> dict | None:
    """The autograded part of one submission in a gradebook, as plain data."""
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(f"sqlite:///{db}") as gb:
        try:
            sub = gb.find_submission(assignment, student)
        except MissingEntry:
            return None
        return {
            "timestamp": sub.timestamp.isoformat() if sub.timestamp else None,
            "late_submission_penalty": sub.late_submission_penalty,
            "notebooks": {
                nb.name: {
                    "grades": {g.name: [g.auto_score, bool(g.needs_manual_grade)] for g in nb.grades},
                    "comments": {c.name: c.auto_comment for c in nb.comments},
                    "flagged": bool(nb.flagged),
                } for nb in sub.notebooks},
        }


def _run(app_class, root: Path, job: dict, config_text: str, **settings) -> dict:
    """Run one nbgrader app (Autograde, GenerateFeedback) on this job's course, in this process."""
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.utils import capture_log
    from traitlets.config import Config, PyFileConfigLoader

    (root / "nbgrader_config.py").write_text(config_text)
    config = PyFileConfigLoader("nbgrader_config.py", path=str(root)).load_config()
    override = Config()
    override.CourseDirectory.root = str(root)
    override.CourseDirectory.db_url = f"sqlite:///{root / 'gradebook.db'}"
    override.CourseDirectory.source_directory = str(root / "source")
    override.CourseDirectory.release_directory = str(root / "release")
    if job.get("timeout"):
        override.Execute.timeout = int(job["timeout"])
    for section_option, value in settings.items():
        section, option = section_option.split("__")
        override[section][option] = value
    config.merge(override)
    coursedir = CourseDirectory(config=config)
    coursedir.assignment_id, coursedir.student_id = job["assignment"], job["student"]
    log = logging.getLogger(f"lmgrade.job.{app_class.__name__}")
    log.setLevel(logging.INFO)
    log.propagate = False   # what nbgrader says comes back with the result, not on the worker's stderr
    app = app_class(coursedir=coursedir, config=config, log=log)
    app.force = True
    if hasattr(app, "create_student"):
        app.create_student = True
    return capture_log(app)


async def warm_up() -> None:
    """Import what a job uses (nbgrader takes seconds to import) in a thread of the worker, so that
    its first job does not wait for it."""
    import asyncio

    def imports() -> None:
        import nbgrader.converters  # noqa: F401

        from . import execute, feedback, sanitize  # noqa: F401

    await asyncio.get_running_loop().run_in_executor(None, imports)


def quiet_gradebook() -> None:
    """Silence nbgrader's own SQLAlchemy autoflush noise ("... not in session ...") in this process:
    the grading workers and the coordinator that merges and zero-fills the gradebook."""
    warnings.filterwarnings("ignore", message=".*not in session.*")


def grade_job(job: dict, lesson: dict) -> dict:
    """Grade one student x lesson from plain data; return the result as plain data (see the module)."""
    from nbgrader.converters import Autograde, GenerateFeedback

    from .sandbox import check_isolation, opted_out

    quiet_gradebook()
    started = time.monotonic()
    student, assignment = job["student"], job["assignment"]
    name = worker_name()
    with _ONE_AT_A_TIME:
        if job.get("workdir"):
            os.makedirs(job["workdir"], exist_ok=True)
        root = Path(tempfile.mkdtemp(prefix="lmgrade-job-", dir=job.get("workdir") or None))
        try:
            # a setting the coordinator did not set is unset here too (None), whatever the worker has
            env = {k: job.get("env", {}).get(k) for k in SETTINGS_ENV}
            for var, sub in [("JUPYTER_CONFIG_DIR", "jupyter-config"), ("JUPYTER_RUNTIME_DIR", "jupyter-runtime"),
                             ("JUPYTER_DATA_DIR", "jupyter-data"), ("IPYTHONDIR", "ipython"),
                             ("MPLCONFIGDIR", "matplotlib")]:
                (root / "home" / sub).mkdir(parents=True)
                env[var] = str(root / "home" / sub)
            env.update(LMGRADE_HOME=str(AUTOGRADER), LMGRADE_UID=sandbox_uid_for(name),
                       LMGRADE_SCRATCH=str(root / "kernels"),
                       PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
            with _environ(env):
                if not opted_out():
                    check_isolation()   # a worker that cannot isolate fails the task (retried elsewhere)
                (root / "gradebook.db").write_bytes(lesson["gradebook"])
                _write_tree(root / "source" / assignment, lesson.get("files", {}))
                submitted = root / "submitted" / student / assignment
                submitted.mkdir(parents=True)
                for nb_name, text in job["notebooks"].items():
                    if "/" in nb_name or nb_name.startswith("."):
                        raise ValueError(f"notebooks: {nb_name!r} is not a file name")
                    (submitted / nb_name).write_text(text, encoding="utf-8")
                if job.get("timestamp"):
                    (submitted / "timestamp.txt").write_text(job["timestamp"])
                graded = _run(Autograde, root, job, lesson["config"])
                if job.get("feedback"):
                    _run(GenerateFeedback, root, job, lesson["config"], HTMLExporter__template_name="feedback")
            notes, failed = [], False
            autograded = root / "autograded" / student / assignment
            for nb_name in job["notebooks"]:
                path = autograded / nb_name
                if not path.exists():
                    failed = True
                    notes.append(f"{nb_name}: nbgrader could not grade it (scored 0; see the log above)")
                else:
                    notes.extend(f"{nb_name}: {n}" for n in analyse_graded(nbformat.read(str(path), as_version=4)))
            return {
                "student": student, "assignment": assignment, "worker": name,
                "submission": _submission_data(root / "gradebook.db", student, assignment),
                "autograded": _read_tree(autograded),
                "feedback": _read_tree(root / "feedback" / student / assignment),
                "notes": notes, "failed": failed,
                "log": "" if graded.get("success") and not failed else
                       (graded.get("log", "") + graded.get("error", ""))[-3000:],
                "seconds": time.monotonic() - started,
            }
        finally:
            shutil.rmtree(root, ignore_errors=True)
