"""The instructor's whole grading flow in one command.

    python -m lmgrade.grade SUBMISSIONS [--roster students.csv] [--workers N | --scheduler tcp://host:port]
    make grade SUBMISSIONS=path/to/folder-or.zip [SCHEDULER=tcp://host:port]   (from the repo)

SUBMISSIONS is a folder or a zip laid out as nbgrader's `submitted/`:
`<student>/<assignment>/<notebook>.ipynb` (a single top folder around it is fine).

Steps: check the sandbox (refuse without it unless --no-sandbox), record each lesson in the
gradebook (`generate_assignment` into a scratch release folder, so `lessons/` is untouched),
import the roster, copy the submissions into `submitted/`, check every notebook (unreadable,
misnamed, kernelspec or locked cells changed), grade each student x lesson as a Dask task
(`job.py`, run by `cluster.py` on an embedded cluster of this machine or on an existing one:
the submission and the lesson's data travel with the task, the scores, flags and feedback come
back as data), merge them into the one gradebook (manual grades and other students' grades are
kept), export `grades.csv`, and print a summary of what happened to every student and lesson.
"""
from __future__ import annotations

import argparse
import contextlib
import csv
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unicodedata
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent
AUTOGRADER = HERE.parent
sys.path.insert(0, str(AUTOGRADER))

from lmgrade import cluster  # noqa: E402
from lmgrade.job import SETTINGS_ENV, grade_id as _gid, quiet_gradebook  # noqa: E402
from lmgrade.sandbox import IsolationUnavailable, OPT_OUT_ENV, check_isolation  # noqa: E402

MAX_ZIP_BYTES = 2 * 2**30
MAX_NOTEBOOK_BYTES = 20 * 2**20   # a notebook larger than this is graded without its saved outputs
MAX_READ_BYTES = 512 * 2**20      # ... and one larger than this is not read at all
#: seconds between two merges of the grades that came back (a killed run loses at most these)
MERGE_EVERY = 10.0


def log(msg: str) -> None:
    print(msg, flush=True)


# ----------------------------------------------------------------------------- course layout
@dataclass
class Course:
    root: Path                                   # the folder holding nbgrader_config.py
    source: Path
    scratch: Path
    timeout: int | None = None
    release: Path = field(init=False)

    def __post_init__(self) -> None:
        self.release = self.root / "release"   # generated student versions (lessons/ untouched)

    @property
    def db(self) -> Path:
        return self.root / "gradebook.db"

    def env(self, **extra: str) -> dict[str, str]:
        env = dict(os.environ)
        env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
        for var, sub in [("JUPYTER_CONFIG_DIR", "jupyter-config"), ("JUPYTER_RUNTIME_DIR", "jupyter-runtime"),
                         ("JUPYTER_DATA_DIR", "jupyter-data"), ("IPYTHONDIR", "ipython"),
                         ("MPLCONFIGDIR", "matplotlib")]:
            (self.scratch / sub).mkdir(parents=True, exist_ok=True)
            env[var] = str(self.scratch / sub)
        env["LMGRADE_HOME"] = str(AUTOGRADER)
        env.update(extra)
        return env

    def nbgrader(self, *args: str, root: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
        root = root or self.root
        cmd = [sys.executable, "-m", "nbgrader", *args,
               f"--CourseDirectory.root={root}",
               f"--CourseDirectory.db_url=sqlite:///{root / 'gradebook.db'}",
               f"--CourseDirectory.source_directory={self.source}",
               f"--CourseDirectory.release_directory={self.release}"]
        if self.timeout:
            cmd.append(f"--Execute.timeout={self.timeout}")
        proc = subprocess.Popen(cmd, cwd=self.root, env=env or self.env(), text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, errors="replace",
                                preexec_fn=_die_with_parent)
        lines = list(proc.stdout)
        proc.wait()
        return subprocess.CompletedProcess(cmd, proc.returncode, "".join(lines), "")


def _die_with_parent() -> None:
    """In a child process: be killed when the grader dies (even by kill -9), so that no nbgrader
    command outlives it. (The embedded Dask cluster's workers exit when their parent does, and
    their kernels with them through bwrap's --die-with-parent.)"""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, 9)  # PR_SET_PDEATHSIG, SIGKILL
    except (OSError, AttributeError):  # not Linux: the kernels still die with their nbgrader
        pass


def write_atomically(path: Path, write) -> None:
    """Write a file through a temporary sibling and a rename: a crash or a full disk leaves the
    previous file whole."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


# ----------------------------------------------------------------------------- submissions
#: the largest single file accepted from a zip
MAX_ENTRY_BYTES = 256 * 2**20


def safe_extract(zip_path: Path, dest: Path) -> tuple[Path, list[tuple[str, str]]]:
    """Extract a zip without leaving `dest` (no absolute paths, `..`, symlinks, or zip bombs).

    One bad entry (corrupted data, a bad CRC, a name that is both a file and a folder, an oversized
    file) is skipped and returned as ``(entry name, reason)``: its student is reported, everyone
    else is graded."""
    problems: list[tuple[str, str]] = []
    try:
        zf = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, OSError) as e:
        raise SystemExit(f"{zip_path}: not a readable zip ({e})") from None
    with zf:
        total = 0
        for info in zf.infolist():
            name = info.filename
            if info.is_dir() or name.startswith("__MACOSX/"):
                continue
            if os.path.isabs(name) or ".." in Path(name).parts or (info.external_attr >> 16) & 0o170000 == 0o120000:
                problems.append((name, "unsafe entry in the zip (absolute path, '..' or a link): skipped"))
                continue
            if info.file_size > MAX_ENTRY_BYTES:
                problems.append((name, f"a file of {info.file_size} bytes in the zip (over {MAX_ENTRY_BYTES}): skipped"))
                continue
            total += info.file_size
            if total > MAX_ZIP_BYTES:
                raise SystemExit(f"{zip_path}: more than {MAX_ZIP_BYTES} bytes uncompressed; refusing")
            target = dest / name
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, open(target, "wb") as out:
                    copied = 0
                    while chunk := src.read(1 << 20):
                        copied += len(chunk)
                        if copied > MAX_ENTRY_BYTES:  # the header lied about the size
                            raise zipfile.BadZipFile("larger than its header says")
                        out.write(chunk)
            except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError,
                    NotImplementedError, RuntimeError) as e:
                problems.append((name, f"unreadable in the zip ({type(e).__name__}: {e}): skipped"))
                if target.is_file():
                    target.unlink()
    return dest, problems


def student_id(folder: str) -> tuple[str | None, str]:
    """The nbgrader id for a student folder name, or (None, why it cannot be used).

    Names are Unicode-normalised (NFC, so an accented name typed on macOS and on Linux is one
    student) and runs of spaces become '_': 'josé' and 'Anne Marie' are graded as 'josé' and
    'Anne_Marie'."""
    name = unicodedata.normalize("NFC", folder).strip()
    if not name:
        return None, "an empty name"
    sid = re.sub(r"\s+", "_", name)
    bad = sorted({c for c in sid if not re.fullmatch(r"[\w.@+-]", c)})
    if bad:
        return None, f"characters nbgrader cannot use in an id: {' '.join(repr(c) for c in bad)}"
    if len(sid) > 100:
        return None, "a name of more than 100 characters"
    return sid, ""


def find_submissions_root(folder: Path, assignments: list[str]) -> Path:
    """The folder whose children are student folders holding assignment folders."""
    candidates = [folder] + sorted(p for p in folder.rglob("*") if p.is_dir() and len(p.relative_to(folder).parts) <= 2)
    for c in candidates:
        if any((s / a).is_dir() for s in c.iterdir() if s.is_dir() for a in assignments):
            return c
    raise SystemExit(f"{folder}: no <student>/<assignment>/ folders for any of {assignments}")


# ----------------------------------------------------------------------------- notebook checks
def check_notebook(path: Path, release_nb, name: str, issues: list[str]):
    """Read a submitted notebook and note what is wrong with it. Returns it, or None if unusable."""
    size = path.stat().st_size
    if size == 0:
        issues.append(f"{name}: empty file (scored 0)")
        return None
    if size > MAX_READ_BYTES:
        issues.append(f"{name}: {size // 2**20} MB file, over the {MAX_READ_BYTES // 2**20} MB limit (scored 0)")
        return None
    try:
        with open(path, encoding="utf-8") as f:
            nb = nbformat.read(f, as_version=4)
        if size > MAX_NOTEBOOK_BYTES:  # saved with large outputs: grading clears them anyway
            for c in nb.cells:
                if c.get("cell_type") == "code":
                    c.outputs = []
                c.pop("attachments", None)
            kept = len(nbformat.writes(nb).encode())
            if kept > MAX_NOTEBOOK_BYTES:
                issues.append(f"{name}: {kept // 2**20} MB without its outputs, over the "
                              f"{MAX_NOTEBOOK_BYTES // 2**20} MB limit (scored 0)")
                return None
            issues.append(f"{name}: saved with {size // 2**20} MB of outputs (dropped before grading)")
        if not isinstance(nb.get("cells"), list):
            raise ValueError("no cell list")
        for c in nb.cells:
            if c.get("cell_type") not in ("code", "markdown", "raw") or not isinstance(c.get("source", ""), str):
                raise ValueError("malformed cell")
    except Exception as e:  # noqa: BLE001 - any unreadable notebook is reported, not fatal
        kind = "not valid JSON" if isinstance(e, (json.JSONDecodeError, UnicodeDecodeError)) or "JSON" in str(e) or "json" in type(e).__module__ else "not a readable notebook"
        issues.append(f"{name}: {kind} ({type(e).__name__}) (scored 0)")
        return None
    ks = (nb.metadata.get("kernelspec") or {}).get("name")
    want = (release_nb.metadata.get("kernelspec") or {}).get("name")
    if ks != want:
        issues.append(f"{name}: kernelspec changed to {ks!r} (graded with {want!r})")
    known = {_gid(c) for c in release_nb.cells if _gid(c)}
    for c in nb.cells:
        g = _gid(c)
        if g and g not in known or (not g and "nbgrader" in c.get("metadata", {})):
            del c.metadata["nbgrader"]
            issues.append(f"{name}: cell with unknown nbgrader id {g!r} ignored (not graded)")
    mine = {_gid(c): c for c in nb.cells if _gid(c)}
    order_release = [_gid(c) for c in release_nb.cells if _gid(c)]
    order_mine = [g for g in (_gid(c) for c in nb.cells) if g in order_release]
    for c in release_nb.cells:
        g = _gid(c)
        meta = c.metadata.get("nbgrader", {})
        if not g:
            continue
        if g not in mine:
            what = "test cell" if meta.get("grade") and not meta.get("solution") else "cell"
            issues.append(f"{name}: {what} {g} deleted or stripped of its metadata (restored from the gradebook)")
            continue
        s = mine[g]
        if s.cell_type != c.cell_type:
            issues.append(f"{name}: cell {g} changed from {c.cell_type} to {s.cell_type}")
        elif meta.get("locked") and s.source.strip() != c.source.strip():
            issues.append(f"{name}: locked cell {g} edited (restored from the gradebook)")
    if order_mine != [g for g in order_release if g in mine]:
        issues.append(f"{name}: graded cells reordered")
    added = sum(1 for c in nb.cells if not _gid(c)) - sum(1 for c in release_nb.cells if not _gid(c))
    if added > 0:
        issues.append(f"{name}: {added} cell(s) added")
    return nb


# ----------------------------------------------------------------------------- grading
@dataclass
class Job:
    student: str
    assignment: str
    issues: list[str] = field(default_factory=list)
    notebooks: list[str] = field(default_factory=list)     # notebooks handed to nbgrader
    notebooks_kept: list[str] = field(default_factory=list)  # graded by an earlier run, unchanged
    failed: bool = False


def assignment_notebooks(course: Course, assignment: str) -> dict[str, object]:
    return {p.name: nbformat.read(str(p), as_version=4)
            for p in sorted((course.release / assignment).glob("*.ipynb"))}


def _copy_without_links(src: Path, dest: Path) -> list[str]:
    """Copy a submission folder, never following a link (to a file or folder) out of it."""
    skipped: list[str] = []

    def ignore(folder, names):
        out = [n for n in names if os.path.islink(os.path.join(folder, n))]
        skipped.extend(os.path.relpath(os.path.join(folder, n), src) for n in out)
        return out

    shutil.copytree(src, dest, symlinks=True, ignore=ignore)
    return skipped


def prepare(course: Course, sub_root: Path, assignments: list[str], releases: dict,
            not_graded: list[tuple[str, str]]) -> dict[tuple, Job]:
    """Copy each submission to submitted/ (as handed in) and a checked copy for the workers."""
    jobs: dict[tuple, Job] = {}
    checked = course.scratch / "checked"
    shutil.rmtree(checked, ignore_errors=True)
    ids: dict[str, str] = {}
    every_id = {student_id(p.name)[0] for p in sub_root.iterdir() if p.is_dir()} - {None}
    for sdir in sorted(p for p in sub_root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        student, why = student_id(sdir.name)
        if student is None:
            not_graded.append((sdir.name, f"NOT GRADED: the folder name has {why}; rename it"))
            continue
        if sdir.is_symlink():
            not_graded.append((sdir.name, "NOT GRADED: the student folder is a link"))
            continue
        if student in ids:
            not_graded.append((sdir.name, f"NOT GRADED: the same student id {student!r} as folder {ids[student]!r}"))
            continue
        ids[student] = sdir.name
        for a in assignments:
            adir = sdir / a
            if not adir.is_dir() or adir.is_symlink():
                continue
            job = Job(student, a)
            if student != sdir.name:
                job.issues.append(f"graded as {student!r} (folder {sdir.name!r})")
            twins = sorted(o for o in every_id if o != student and o.casefold() == student.casefold())
            if twins:
                job.issues.append(f"another student id differs only in case ({', '.join(twins)}): check they are two people")
            dest = course.root / "submitted" / student / a
            if adir.resolve() != dest.resolve():   # grading the course's own submitted/ in place
                shutil.rmtree(dest, ignore_errors=True)
                links = _copy_without_links(adir, dest)
                if links:
                    job.issues.append(f"links in the submission ignored: {', '.join(links[:3])}")
            out = checked / student / a
            out.mkdir(parents=True)
            if (dest / "timestamp.txt").exists():
                shutil.copy(dest / "timestamp.txt", out / "timestamp.txt")
            handed = sorted(p.name for p in dest.glob("*.ipynb"))
            for name, release_nb in releases[a].items():
                path = dest / name
                if not path.exists():
                    others = [h for h in handed if h not in releases[a]]
                    if len(others) == 1 and len(releases[a]) == 1:
                        job.issues.append(f"{name}: not found; graded {others[0]!r} in its place")
                        path = dest / others[0]
                    else:
                        job.issues.append(f"{name}: not submitted" + (f" (found {', '.join(others)})" if others else "") + " (scored 0)")
                        continue
                nb = check_notebook(path, release_nb, name, job.issues)
                if nb is not None:
                    nbformat.write(nb, str(out / name))
                    job.notebooks.append(name)
            jobs[(student, a)] = job
    return jobs


def merge(main_db: Path, results: list[dict]) -> None:
    """Record the autograded scores, comments and flags that jobs sent back (`job.grade_job`'s
    results) in the main gradebook, keeping every manual grade and every other submission.

    One transaction: the merge happens in a copy of the gradebook that replaces it by a rename only
    once complete, so a crash, a kill or a full disk leaves the previous gradebook as it was."""
    from nbgrader.api import Gradebook

    work = main_db.with_name(f".{main_db.name}.merging")
    try:
        shutil.copy2(main_db, work)
        with Gradebook(f"sqlite:///{work}") as gb:
            _merge_into(gb, results)
            gb.db.commit()
        os.replace(work, main_db)
    except BaseException:
        work.unlink(missing_ok=True)
        raise


def _merge_into(gb, results: list[dict]) -> None:
    from datetime import datetime

    from nbgrader.api import MissingEntry

    for r in results:
        student, a, data = r["student"], r["assignment"], r["submission"]
        if data is None:
            continue
        try:
            gb.find_student(student)
        except MissingEntry:
            gb.add_student(student)
        stamp = datetime.fromisoformat(data["timestamp"]) if data["timestamp"] else None
        sub = gb.update_or_create_submission(a, student, timestamp=stamp)
        for nb_name, nb in data["notebooks"].items():
            for name, (score, manual) in nb["grades"].items():
                g = gb.find_grade(name, nb_name, a, student)
                g.auto_score, g.needs_manual_grade = score, manual
            for name, comment in nb["comments"].items():
                gb.find_comment(name, nb_name, a, student).auto_comment = comment
            gb.find_submission_notebook(nb_name, a, student).flagged = nb["flagged"]
        sub.late_submission_penalty = data["late_submission_penalty"]


def zero_submissions(course: Course, keys: list[tuple]) -> None:
    """A submission with no gradable notebook still gets its row: 0 for every autograded cell."""
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(f"sqlite:///{course.db}") as gb:
        for student, a in keys:
            try:
                gb.find_student(student)
            except MissingEntry:
                gb.add_student(student)
            sub = gb.update_or_create_submission(a, student)
            for nb in sub.notebooks:
                for g in nb.grades:
                    g.auto_score = 0
                    g.needs_manual_grade = False
            gb.db.commit()


def lesson_data(course: Course, assignments: list[str]) -> dict[str, dict]:
    """What a job needs of its lesson besides the submission, as data (`job.grade_job`'s `lesson`):
    the course's nbgrader config, a gradebook holding the lessons but no student (the grading
    data, hidden tests included, and nobody's grades) and the lesson's data files."""
    import sqlite3

    from nbgrader.api import Comment, Grade, Gradebook, Student, SubmittedAssignment, SubmittedNotebook
    from nbgrader.utils import find_all_files

    template = course.scratch / "lessons.db"
    shutil.copy(course.db, template)
    with Gradebook(f"sqlite:///{template}") as gb:
        for table in (Grade, Comment, SubmittedNotebook, SubmittedAssignment, Student):
            gb.db.query(table).delete(synchronize_session=False)
        gb.db.commit()
    with sqlite3.connect(template) as db:
        db.execute("VACUUM")
    gradebook = template.read_bytes()
    config = (course.root / "nbgrader_config.py").read_text()
    out = {}
    for a in assignments:
        src = course.source / a
        files = {}
        for path in find_all_files(str(src), [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", "*.ipynb"]):
            if not os.path.islink(path):
                files[os.path.relpath(path, src)] = Path(path).read_bytes()
        out[a] = {"config": config, "gradebook": gradebook, "files": files}
    return out


def _read_or_none(path: Path) -> str | None:
    return path.read_text() if path.exists() else None


def job_digest(course: Course, job: Job) -> str:
    """What a grade depends on: the checked notebooks, the lesson's source and the grader's code."""
    h = hashlib.sha256()
    for p in sorted((course.scratch / "checked" / job.student / job.assignment).rglob("*")):
        if p.is_file():
            h.update(p.name.encode() + b"\0" + p.read_bytes())
    h.update(stamp_of(course.source / job.assignment).encode())
    for p in sorted(Path(__file__).resolve().parent.glob("*.py")):
        h.update(p.read_bytes())
    return h.hexdigest()


def stamp_of(folder: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(folder)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def record_assignments(course: Course, assignments: list[str]) -> None:
    """generate_assignment each lesson whose source changed since it was last recorded."""
    stamps_file = course.root / ".lmgrade-sources.json"
    try:
        stamps = json.loads(stamps_file.read_text())
    except (OSError, ValueError):
        stamps = {}
    for a in assignments:
        stamp = stamp_of(course.source / a)
        if stamps.get(a) == stamp and course.db.exists() and (course.release / a).is_dir():
            continue
        log(f"  recording {a} in the gradebook")
        r = course.nbgrader("generate_assignment", a, "--force")
        if r.returncode != 0:
            raise SystemExit(f"nbgrader generate_assignment {a} failed:\n{r.stdout[-3000:]}")
        stamps[a] = stamp
    stamps_file.write_text(json.dumps(stamps, indent=1))


def scores(course: Course, keys) -> dict[tuple, tuple[float, float, bool]]:
    from nbgrader.api import Gradebook, MissingEntry

    out = {}
    with Gradebook(f"sqlite:///{course.db}") as gb:
        for s, a in keys:
            try:
                sub = gb.find_submission(a, s)
                out[(s, a)] = (sub.score, sub.max_score, sub.needs_manual_grade)
            except MissingEntry:
                out[(s, a)] = (0.0, 0.0, False)
    return out


def grade(args) -> int:
    with contextlib.ExitStack() as stack:   # the Dask cluster, once started, is closed on every way out
        return _grade(args, stack)


def _grade(args, stack: contextlib.ExitStack) -> int:
    t_start = time.monotonic()
    course_root = Path(args.course).resolve()
    source = Path(args.source).resolve() if args.source else (course_root.parent / "solutions").resolve()
    scratch = Path(args.scratch).resolve() if args.scratch else Path(tempfile.mkdtemp(prefix="lmgrade-"))
    course = Course(course_root, source, scratch, timeout=args.timeout)
    os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])

    # The Dask cluster starts (and its workers import nbgrader) while the sandbox is checked and the
    # lessons and submissions are prepared; it is closed on every way out.
    dask = cluster.Background(args.scheduler, max(1, args.workers))
    stack.callback(dask.close)
    if args.no_sandbox:
        os.environ[OPT_OUT_ENV] = "1"
        log("WARNING: --no-sandbox: student code will run WITHOUT isolation, with your rights:\n"
            "         it can read the solutions and the gradebook, write anywhere you can, use the network.")
    else:
        try:
            log("Isolation: " + check_isolation())
        except IsolationUnavailable as e:
            log(f"REFUSING TO GRADE: student code cannot be isolated: {e}\n"
                "Install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap) and check that user\n"
                "namespaces are allowed, or re-run with --no-sandbox (make grade NO_SANDBOX=1) to grade\n"
                "WITHOUT isolation on a machine you do not mind the students' code touching.")
            if not args.scratch:
                shutil.rmtree(scratch, ignore_errors=True)
            return 2

    all_ids = sorted(p.name for p in source.iterdir() if p.is_dir() and list(p.glob("*.ipynb")))
    sub_path = Path(args.submissions).resolve()
    zip_problems: list[tuple[str, str]] = []
    if zipfile.is_zipfile(sub_path) if sub_path.is_file() else False:
        log(f"Unpacking {sub_path.name}")
        sub_path, zip_problems = safe_extract(sub_path, scratch / "unzipped")
    elif not sub_path.is_dir():
        raise SystemExit(f"{args.submissions}: neither a folder nor a zip")
    wanted = args.assignments or all_ids
    sub_root = find_submissions_root(sub_path, wanted)
    assignments = [a for a in wanted if any((s / a).is_dir() for s in sub_root.iterdir() if s.is_dir())]
    log(f"Course {course_root}; lessons to grade: {', '.join(assignments)}")

    record_assignments(course, assignments)
    if args.roster:
        r = course.nbgrader("db", "student", "import", str(Path(args.roster).resolve()))
        log("  roster imported" if r.returncode == 0 else f"  roster import FAILED:\n{r.stdout[-2000:]}")
    releases = {a: assignment_notebooks(course, a) for a in assignments}
    not_graded: list[tuple[str, str]] = []
    jobs = prepare(course, sub_root, assignments, releases, not_graded)
    for entry, why in zip_problems:  # each zip problem goes to its student's line
        parts = Path(entry).parts
        rel = Path(*parts[len(sub_root.relative_to(sub_path).parts):]) if sub_root != sub_path else Path(entry)
        who = student_id(rel.parts[0])[0] if rel.parts else None
        mine = [j for (st, _), j in sorted(jobs.items()) if st == who]
        if mine:
            mine[0].issues.append(f"{Path(*rel.parts[1:])}: {why}")
        else:
            not_graded.append((rel.parts[0] if rel.parts else entry, f"NOT GRADED: {entry}: {why}"))
    students = sorted({s for s, _ in jobs})
    total = sum(len(j.notebooks) for j in jobs.values())
    workers = max(1, args.workers)
    log(f"Grading {len(students)} students x {len(assignments)} lessons ({total} notebooks) "
        + (f"on the Dask cluster at {args.scheduler}" if args.scheduler else f"with {workers} worker(s)"))

    # Resume: a submission graded by an earlier run, unchanged since (same files, same lesson source,
    # same grader), keeps its grade; a killed run is finished by the next one.
    ledger_path = course.root / ".lmgrade-graded.json"
    try:
        ledger = json.loads(ledger_path.read_text()) if ledger_path.exists() else {}
    except ValueError:
        ledger = {}
    digests = {key: job_digest(course, j) for key, j in jobs.items() if j.notebooks}
    if not args.regrade:
        kept = [k for k, d in digests.items() if ledger.get(f"{k[0]}/{k[1]}", {}).get("digest") == d
                and (course.root / "autograded" / k[0] / k[1]).is_dir()]
        for k in kept:
            jobs[k].issues += ledger[f"{k[0]}/{k[1]}"].get("notes", []) + ["unchanged since the last run: grade kept"]
            jobs[k].notebooks_kept, jobs[k].notebooks = jobs[k].notebooks, []
        if kept:
            log(f"Keeping the grades of {len(kept)} unchanged submission(s) graded by an earlier run (--regrade to redo)")
        total = sum(len(j.notebooks) for j in jobs.values())
    work = [j for (st, _), j in sorted(jobs.items()) if j.notebooks]
    done, waiting, last_merge = [0], [], [time.monotonic()]

    def record(batch: list[tuple[dict, dict | None, str | None]], final: bool = False) -> None:
        """Show each finished job; every MERGE_EVERY seconds (and at the end), merge the results
        that came back since the last merge into the gradebook in one transaction."""
        for task, result, error in batch:
            j = jobs[(task["student"], task["assignment"])]
            if error is not None:
                j.failed = True
                j.issues.append(f"NOT GRADED: its grading task failed twice ({error}); run make grade again")
                log(f"  NOT GRADED {j.student} / {j.assignment}: {error}")
                continue
            for name in j.notebooks:
                done[0] += 1
                log(f"  [{done[0]}/{total}] {time.monotonic() - t0:5.0f}s  worker {result['worker']}: "
                    f"{j.student} / {j.assignment} / {name}")
            for line in result["log"].splitlines():
                if "[ERROR]" in line:
                    log(f"  worker {result['worker']}: {line.split('] ', 1)[-1].strip()}")
            waiting.append(result)
        if not waiting or not final and time.monotonic() - last_merge[0] < MERGE_EVERY:
            return
        results = list(waiting)
        waiting.clear()
        try:
            merge(course.db, results)
        except OSError as e:  # a full disk: the gradebook is as it was before this batch
            log(f"COULD NOT RECORD the grades of {len(results)} submission(s) ({e}); the gradebook is "
                "unchanged for them. Free some space and run make grade again.")
            for r in results:
                j = jobs[(r["student"], r["assignment"])]
                j.failed = True
                j.issues.append("NOT RECORDED: the grader could not write the gradebook (see the log)")
            return
        for r in results:
            j = jobs[(r["student"], r["assignment"])]
            for kind in ("autograded", "feedback"):
                dest = course.root / kind / j.student / j.assignment
                shutil.rmtree(dest, ignore_errors=True)
                if r[kind]:
                    dest.mkdir(parents=True)
                    for rel, data in r[kind].items():
                        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
                        (dest / rel).write_bytes(data)
            j.issues.extend(r["notes"])
            j.failed = j.failed or r["failed"]
            if not j.failed:
                ledger[f"{j.student}/{j.assignment}"] = {"digest": digests[(j.student, j.assignment)], "notes": j.issues}
        try:
            write_atomically(ledger_path, lambda p: p.write_text(json.dumps(ledger, indent=1, ensure_ascii=False)))
        except OSError as e:
            log(f"could not update {ledger_path.name} ({e}): the next run grades these again")
        last_merge[0] = time.monotonic()

    zero_submissions(course, [k for k, j in jobs.items() if not j.notebooks and not j.notebooks_kept])
    t0 = time.monotonic()
    if work:
        settings = {k: os.environ[k] for k in SETTINGS_ENV if k in os.environ}
        tasks = [{"student": j.student, "assignment": j.assignment,
                  "notebooks": {n: (course.scratch / "checked" / j.student / j.assignment / n).read_text(encoding="utf-8")
                                for n in j.notebooks},
                  "timestamp": _read_or_none(course.scratch / "checked" / j.student / j.assignment / "timestamp.txt"),
                  "feedback": not args.no_feedback, "timeout": args.timeout, "env": settings,
                  # the embedded cluster's workers share this machine: they work under the scratch folder
                  "workdir": None if args.scheduler else str(course.scratch / "jobs")} for j in work]
        data = lesson_data(course, sorted({j.assignment for j in work}))
        try:
            client = dask.client()
        except OSError as e:  # no scheduler there, or it did not answer in time
            log(f"COULD NOT REACH the Dask scheduler at {args.scheduler}: {e}\nNothing was graded; the gradebook is unchanged.")
            return 2
        if args.scheduler:
            log(cluster.describe(client, args.scheduler))
        cluster.run_jobs(client, data, tasks, record)
        record([], final=True)
    dask.close(wait=False)   # while the grades are exported
    t_grade = time.monotonic() - t0

    out = Path(args.out).resolve() if args.out else course_root / "grades.csv"
    exported = out.with_name(f".{out.name}.export")
    r = course.nbgrader("export", "--to", str(exported))
    if r.returncode != 0 or not exported.exists():
        log(f"nbgrader export failed (the previous {out.name} is kept):\n{r.stdout[-2000:]}")
    else:
        os.replace(exported, out)

    table = scores(course, sorted(jobs))
    rows = []
    for key in sorted(jobs):
        j = jobs[key]
        sc, mx, manual = table[key]
        notes = list(j.issues) + (["needs manual grading"] if manual else [])
        rows.append([j.student, j.assignment, f"{sc:g}", f"{mx:g}", "; ".join(notes) or "ok"])
    if args.roster:
        with open(args.roster, newline="") as f:
            roster = [r.get("id", "").strip() for r in csv.DictReader(f)]
        for sid in sorted(set(roster) - {s for s, _ in jobs} - {""}):
            rows.append([sid, "*", "0", "", "in the roster, nothing handed in"])
    rows += [[name, "*", "0", "", why] for name, why in not_graded]
    summary = out.with_name("summary.csv")

    def write_summary(path: Path) -> None:
        with open(path, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["student", "assignment", "score", "max_score", "what happened"])
            w.writerows(rows)

    write_atomically(summary, write_summary)
    log("")
    log(f"{'student':<22} {'lesson':<16} {'score':>9}  what happened")
    for s, a, sc, mx, notes in rows:
        log(f"{s:<22} {a:<16} {sc + '/' + mx:>9}  {notes}")
    log("")
    where = f"on {args.scheduler}" if args.scheduler else f"{workers} workers"
    missed = f"; {total - done[0]} NOT GRADED" if done[0] < total else ""
    log(f"Graded {done[0]} notebooks in {t_grade:.1f} s ({where}{missed}); total {time.monotonic() - t_start:.1f} s")
    log(f"grades: {out}\nsummary: {summary}\nfeedback: {course_root / 'feedback'}/<student>/<lesson>/")
    if not args.scratch:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


def main(argv=None) -> int:
    quiet_gradebook()
    ap = argparse.ArgumentParser(prog="lmgrade", description=__doc__.split("\n\n")[0])
    ap.add_argument("submissions", help="folder or zip: <student>/<assignment>/<notebook>.ipynb")
    ap.add_argument("--course", default=str(AUTOGRADER), help="nbgrader course root (default: autograder/)")
    ap.add_argument("--source", help="nbgrader source folder (default: <course>/../solutions)")
    ap.add_argument("--roster", help="CSV with id,first_name,last_name,email (nbgrader db student import)")
    ap.add_argument("--assignments", nargs="*", help="lessons to grade (default: every lesson found)")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                    help="worker processes of the embedded Dask cluster (default: cores)")
    ap.add_argument("--scheduler", help="grade on an existing Dask cluster: its scheduler's address, tcp://host:port "
                    "(default: an embedded cluster on this machine)")
    ap.add_argument("--timeout", type=int, help="per-cell time limit, seconds (default: the course's, 60)")
    ap.add_argument("--out", help="grades CSV (default: <course>/grades.csv); summary.csv goes beside it")
    ap.add_argument("--scratch", help="keep the scratch folder (checked copies, the embedded workers' job folders while they grade) here (default: a temporary folder, removed)")
    ap.add_argument("--no-feedback", action="store_true", help="skip the feedback HTML")
    ap.add_argument("--regrade", action="store_true",
                    help="grade every submission again, even those unchanged since an earlier run")
    ap.add_argument("--no-sandbox", action="store_true",
                    help="UNSAFE: grade without isolation when bubblewrap is unavailable")
    args = ap.parse_args(argv)
    if args.scheduler is not None:
        try:
            cluster.check_address(args.scheduler)
        except ValueError as e:
            ap.error(str(e))
    return grade(args)


if __name__ == "__main__":
    sys.exit(main())
