"""The instructor's grading flow, end to end, on real, broken and hostile submissions.

One grading run (two workers, real nbgrader, real sandbox) grades every fixture of
tests/fixtures/autograder/hostile.py on a toy lesson shaped like the real ones, in a throw-away
copy of the course. A first run grades one student and gives them a manual grade; the second run
must keep it. Each fixture must earn exactly its expected score, and the summary must say what
happened to it.
"""
from __future__ import annotations

import csv
import http.server
import os
import shutil
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parents[1]
AUTOGRADER = REPO / "autograder"
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "autograder"
sys.path.insert(0, str(FIXTURES))
sys.path.insert(0, str(AUTOGRADER))

import hostile  # noqa: E402
import toy_source  # noqa: E402

pytestmark = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed")

TIMEOUT = 5  # per-cell time limit in these runs (the course's default is 60 s)


def tool_env(tmp: Path, **extra) -> dict:
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    for var in ("JUPYTER_CONFIG_DIR", "JUPYTER_RUNTIME_DIR", "JUPYTER_DATA_DIR", "IPYTHONDIR", "MPLCONFIGDIR"):
        (tmp / "home" / var).mkdir(parents=True, exist_ok=True)
        env[var] = str(tmp / "home" / var)
    env["LMGRADE_MEM_MB"] = "1536"  # the memory bomb stops sooner; the toy lesson needs far less
    env.update(extra)
    return env


def make_course(tmp: Path) -> Path:
    (tmp / "autograder").mkdir(parents=True)
    shutil.copy(AUTOGRADER / "nbgrader_config.py", tmp / "autograder" / "nbgrader_config.py")
    toy_source.write_toy_source(tmp / "solutions")
    return tmp / "autograder"


def run_grade(course: Path, submissions, tmp: Path, *args: str, **env) -> subprocess.CompletedProcess:
    cmd = [sys.executable, str(AUTOGRADER / "lmgrade" / "grade.py"), str(submissions),
           "--course", str(course), "--timeout", str(TIMEOUT), *args]
    return subprocess.run(cmd, cwd=course, env=tool_env(tmp, **env), capture_output=True, text=True,
                          timeout=900)


def release_notebook(course: Path, tmp: Path):
    subprocess.run([sys.executable, "-m", "nbgrader", "generate_assignment", toy_source.ASSIGNMENT, "--force",
                    f"--CourseDirectory.release_directory={course / 'release'}"],
                   cwd=course, env=tool_env(tmp), check=True, capture_output=True)
    return nbformat.read(str(course / "release" / toy_source.ASSIGNMENT / toy_source.NOTEBOOK), as_version=4)


class AnswerServer(http.server.BaseHTTPRequestHandler):
    hits: list = []

    def do_GET(self):  # noqa: N802
        AnswerServer.hits.append(self.path)
        body = hostile.SOFTMAX_OK.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("grading")
    course = make_course(tmp)
    release = release_notebook(course, tmp)

    # Run 1: one student, then a manual grade for their written answer.
    first = tmp / "first"
    hostile.write_submission(first, "early-bird", {"toy.ipynb": hostile.answer(release)})
    r1 = run_grade(course, first, tmp, "--workers", "1", "--no-feedback")
    assert r1.returncode == 0, r1.stdout + r1.stderr
    from nbgrader.api import Gradebook
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        gb.find_grade("explain", "toy", toy_source.ASSIGNMENT, "early-bird").manual_score = 1
        gb.db.commit()

    # Run 2: every fixture, handed in as a zip, graded by two workers.
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), AnswerServer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    ctx = {"solutions": tmp / "solutions" / toy_source.ASSIGNMENT / toy_source.NOTEBOOK,
           "gradebook": course / "gradebook.db", "submitted": course / "submitted",
           "port": server.server_address[1]}
    second = tmp / "second"
    for name, (build, _, _) in hostile.CASES.items():
        hostile.write_submission(second / "submitted", name, build(release, ctx))
    good = nbformat.writes(hostile.answer(release)).encode()
    zpath = tmp / "submissions.zip"
    with zipfile.ZipFile(zpath, "w", compression=zipfile.ZIP_STORED) as zf:
        for p in sorted(second.rglob("*")):
            if p.is_file():
                zf.write(p, p.relative_to(second))
        # names: accents typed on macOS (NFD), spaces, a case collision, a name nbgrader cannot use
        for name in NAMES:
            zf.writestr(f"submitted/{name}/99-toy/toy.ipynb", good)
        # one bad entry must not stop the class: a file and a folder of the same name...
        zf.writestr("submitted/file-and-folder/99-toy", b"not a folder")
        zf.writestr("submitted/file-and-folder/99-toy/toy.ipynb", good)
        # ... and an entry whose data no longer matches its CRC (corrupted below)
        zf.writestr("submitted/bad-crc/99-toy/toy.ipynb", good)
    data = bytearray(zpath.read_bytes())
    with zipfile.ZipFile(zpath) as zf:
        info = zf.getinfo("submitted/bad-crc/99-toy/toy.ipynb")
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    data[start + 100] ^= 0xFF
    zpath.write_bytes(bytes(data))
    r2 = run_grade(course, zpath, tmp, "--workers", "2", "--scratch", str(tmp / "scratch"))
    server.shutdown()
    print(r2.stdout[-6000:])
    assert r2.returncode == 0, r2.stdout + r2.stderr

    with open(course / "summary.csv", encoding="utf-8") as f:
        summary = {row["student"]: row for row in csv.DictReader(f)}
    scores = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for s in gb.students:
            sub = gb.find_submission(toy_source.ASSIGNMENT, s.id)
            scores[s.id] = (sub.code_score, sub.score)
    return {"course": course, "summary": summary, "scores": scores, "out": r2.stdout, "tmp": tmp,
            "hits": list(AnswerServer.hits)}


@pytest.mark.parametrize("case", sorted(hostile.CASES))
def test_fixture_earns_exactly_its_score(graded, case):
    _, expected, _ = hostile.CASES[case]
    assert case in graded["scores"], f"{case} was not graded at all:\n{graded['out'][-3000:]}"
    assert graded["scores"][case][0] == expected, (case, graded["summary"].get(case))


@pytest.mark.parametrize("case", sorted(hostile.CASES))
def test_summary_says_what_happened(graded, case):
    _, _, words = hostile.CASES[case]
    line = graded["summary"][case]
    for word in words:
        assert word in line["what happened"], (case, line)
    assert line["max_score"] == "4"


def test_every_student_graded_and_exported(graded):
    with open(graded["course"] / "grades.csv", encoding="utf-8") as f:
        students = {row["student_id"] for row in csv.DictReader(f)}
    extra = {"jos\u00e9", "Anne_Marie", "Bob", "bob", "bad-crc"}  # see NAMES and the zip's bad entries
    assert students == set(hostile.CASES) | {"early-bird"} | extra
    assert f"Grading {len(hostile.CASES) + len(extra)} students x 1 lessons" in graded["out"]


def test_earlier_grades_kept(graded):
    # graded in run 1 (3 autograded points) and given 1 manual point afterwards
    assert graded["scores"]["early-bird"] == (3.0, 4.0)


def test_hostile_code_touched_nothing(graded):
    course = graded["course"]
    assert graded["hits"] == [], "a sandboxed kernel reached the grader's loopback"
    for student in hostile.CASES:
        if student in ("empty-file", "corrupted-json"):
            continue
        files = list((course / "submitted" / student / toy_source.ASSIGNMENT).glob("*.ipynb"))
        assert files and all(f.stat().st_size > 0 for f in files), student
    with open(course / "gradebook.db", "rb") as f:
        assert not f.read().endswith(b"garbage")
    from nbgrader.api import Gradebook
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for s in gb.students:
            for nb in gb.find_submission(toy_source.ASSIGNMENT, s.id).notebooks:
                assert all((g.auto_score or 0) <= (g.max_score or 0) for g in nb.grades)


def test_feedback_hides_hidden_tests(graded):
    fb = graded["course"] / "feedback"
    pages = list(fb.glob("*/99-toy/toy.html"))
    assert len(pages) >= len(hostile.CASES) - 2   # not the empty and the corrupted files
    for page in pages:
        html = page.read_text()
        assert "SECRET-HIDDEN" not in html, page
        assert "1e4" not in html, page
    html = (fb / "unchanged-release" / "99-toy" / "toy.html").read_text()
    assert "softmax([0, 0]): expected" in html  # the visible tests are shown
    assert "hidden tests: not shown" in html


class _Tags(__import__("html.parser").parser.HTMLParser):
    """Every element of a page with its attributes, and the text inside its script elements."""

    def __init__(self):
        super().__init__()
        self.tags, self.scripts, self._in_script = [], [], False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag):
        self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.scripts.append(data)


def test_feedback_runs_no_student_script(graded):
    html = (graded["course"] / "feedback" / "script-injection" / "99-toy" / "toy.html").read_text()
    assert "My answer." in html and "hover" in html  # the answer itself is shown
    page = _Tags()
    page.feed(html)
    handlers = [(t, a) for t, a in page.tags for k in a if k.lower().startswith("on")]
    assert handlers == [], handlers[:3]
    links = [a.get("href") or a.get("src") for t, a in page.tags if (a.get("href") or a.get("src") or "").lower().startswith("javascript:")]
    assert links == []
    assert not [s for s in page.scripts if "PWNED" in s]
    assert any(t == "script" for t, _ in page.tags)  # the page's own scripts (MathJax) are still there


NAMES = ["jose\u0301", "Anne Marie", "Bob", "bob", "bad:name"]


def test_names_are_normalised_and_none_is_silently_dropped(graded):
    scores, summary = graded["scores"], graded["summary"]
    assert scores["jos\u00e9"][0] == 3 and "folder" in summary["jos\u00e9"]["what happened"]  # NFC
    assert scores["Anne_Marie"][0] == 3
    assert scores["Bob"][0] == scores["bob"][0] == 3
    assert "differs only in case" in summary["Bob"]["what happened"]
    assert "bad:name" not in scores
    assert summary["bad:name"]["what happened"].startswith("NOT GRADED") and "':'" in summary["bad:name"]["what happened"]


def test_one_bad_zip_entry_costs_only_its_student(graded):
    summary = graded["summary"]
    assert "unreadable in the zip" in summary["bad-crc"]["what happened"], summary["bad-crc"]
    assert "file-and-folder" in summary and "skipped" in summary["file-and-folder"]["what happened"]
    assert graded["scores"]["correct"][0] == 3  # everyone else graded


def test_a_second_run_keeps_unchanged_grades_without_regrading(graded):
    course, tmp = graded["course"], graded["tmp"]
    before = (course / "gradebook.db").read_bytes()
    r = run_grade(course, tmp / "submissions.zip", tmp, "--workers", "2", "--no-feedback")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Keeping the grades of" in r.stdout and "Grading" in r.stdout
    assert "unchanged since the last run" in r.stdout
    from nbgrader.api import Gradebook
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for case, (_, expected, _) in hostile.CASES.items():
            if case not in ("corrupted-json", "empty-file"):
                assert gb.find_submission(toy_source.ASSIGNMENT, case).code_score == expected, case
    assert len(before) > 0


def test_merge_is_all_or_nothing(tmp_path, monkeypatch):
    from lmgrade import grade as g
    from nbgrader.api import Gradebook
    monkeypatch.setenv("PATH", os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    db = tmp_path / "gradebook.db"
    with Gradebook(f"sqlite:///{db}") as gb:
        gb.add_student("alice")
    before = db.read_bytes()

    def fill_the_disk(gb, results):
        gb.add_student("bob")  # written into the copy...
        raise OSError(28, "No space left on device")  # ... then the disk is full

    monkeypatch.setattr(g, "_merge_into", fill_the_disk)
    with pytest.raises(OSError):
        g.merge(db, [{"student": "alice", "assignment": "99-toy", "submission": None}])
    assert db.read_bytes() == before
    assert not list(tmp_path.glob(".gradebook.db.*")), "no half-merged copy left behind"


def test_the_kernel_cannot_fill_the_host_disk_through_its_connection_folder(graded):
    nb = nbformat.read(str(graded["course"] / "autograded" / "fills-connection-folder" / "99-toy" / "toy.ipynb"), as_version=4)
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    line = next(l for l in text.splitlines() if l.startswith("FILLED"))
    written = dict(__import__("ast").literal_eval(line[len("FILLED "):]))
    assert written and all(mb <= 4 for mb in written.values()), written  # a 4 MB tmpfs, nothing on the host


def test_progress_is_shown(graded):
    assert "[1/" in graded["out"] and "worker" in graded["out"]


def test_refuses_without_isolation(tmp_path):
    course = make_course(tmp_path)
    subs = tmp_path / "subs"
    (subs / "alice" / toy_source.ASSIGNMENT).mkdir(parents=True)
    r = run_grade(course, subs, tmp_path, LMGRADE_BWRAP="/nonexistent/bwrap")
    assert r.returncode == 2
    assert "REFUSING TO GRADE" in r.stdout and "--no-sandbox" in r.stdout
    assert not (course / "gradebook.db").exists()


def test_feedback_scrubber_unit():
    from lmgrade.feedback import scrub_cell
    cell = nbformat.v4.new_code_cell(toy_source.SOFTMAX_TESTS)
    cell.outputs = [nbformat.v4.new_output(
        "error", ename="AssertionError", evalue="SECRET-HIDDEN-SOFTMAX large logits",
        traceback=["\x1b[0;31m----> 4\x1b[0m assert len(_h) == 3 and -1e-9 < _h[0] - 1.0 < 1e-9"])]
    scrub_cell(cell)
    assert "SECRET" not in str(cell) and "1e4" not in str(cell)
    assert "softmax([0, 0]): expected" in cell.source


def test_explicit_opt_out_grades_without_sandbox_and_says_so(tmp_path):
    course = make_course(tmp_path)
    release = release_notebook(course, tmp_path)
    subs = tmp_path / "subs"
    hostile.write_submission(subs, "alice", {"toy.ipynb": hostile.answer(release, entropy=hostile.ENTROPY_WARNS)})
    r = run_grade(course, subs, tmp_path, "--no-sandbox", "--no-feedback", LMGRADE_BWRAP="/nonexistent/bwrap")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "WITHOUT isolation" in r.stdout
    assert "alice" in r.stdout and "3/4" in r.stdout


def test_sandbox_sees_a_course_checked_out_under_tmp(tmp_path, monkeypatch):
    """The kernel's private /tmp must not hide a virtualenv or package that lives under /tmp (CI clones there)."""
    from lmgrade import sandbox

    package = tmp_path / "checkout" / "lmsample"
    package.mkdir(parents=True)
    (package / "marker.txt").write_text("visible\n")
    shared = tmp_path / "shared"
    shared.mkdir()
    for path in (tmp_path, tmp_path / "checkout", package, shared):
        path.chmod(0o777 if path == shared else 0o755)
    (package / "marker.txt").chmod(0o644)
    monkeypatch.setattr(sandbox.stripped, "for_installed", lambda: (str(package), str(package)))
    cmd = sandbox.bwrap_command(str(shared), None, ["/bin/cat", str(package / "marker.txt")], {"PATH": "/usr/bin:/bin"})
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stdout == "visible\n", result.stderr


def _processes_mentioning(text: str) -> list[str]:
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if text in cmd:
                found.append(f"{proc.name}: {cmd[:160]}")
    return found


def test_a_killed_run_leaves_no_process_and_the_next_run_finishes(tmp_path):
    import signal
    import time

    course = make_course(tmp_path)
    release = release_notebook(course, tmp_path)
    subs = tmp_path / "subs"
    for i in range(6):
        hostile.write_submission(subs, f"s{i}", {"toy.ipynb": hostile.answer(release)})
    scratch = tmp_path / "scratch"
    cmd = [sys.executable, str(AUTOGRADER / "lmgrade" / "grade.py"), str(subs), "--course", str(course),
           "--timeout", str(TIMEOUT), "--workers", "2", "--scratch", str(scratch), "--no-feedback"]
    proc = subprocess.Popen(cmd, cwd=course, env=tool_env(tmp_path), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    for line in proc.stdout:  # kill -9 as soon as the first notebook is graded: mid-run
        if line.lstrip().startswith("[1/"):
            break
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 20
    while _processes_mentioning(str(scratch)) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _processes_mentioning(str(scratch)) == [], "processes outlived the killed grader"
    from nbgrader.api import Gradebook
    r = run_grade(course, subs, tmp_path, "--workers", "2", "--no-feedback")
    assert r.returncode == 0, r.stdout + r.stderr
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        assert [gb.find_submission(toy_source.ASSIGNMENT, f"s{i}").code_score for i in range(6)] == [3] * 6
