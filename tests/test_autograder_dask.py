"""Grading on a Dask cluster: a real `dask scheduler` and two `dask worker` processes on the loopback.

The test starts them with the `dask` command of the course's virtualenv (workers in a folder of
their own, with `autograder/` on their PYTHONPATH, as the README tells) and always kills them.
A small class (3 students, the toy lesson) graded on the cluster gets exactly the grades, scores
per cell and summary of the same class graded on the embedded cluster; a job's data travels with
it (the coordinator's course folder is gone when the worker runs it); a job that raises is tried
twice and reported, the others graded; killing a worker mid-run still grades everyone.
"""
from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
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
from test_autograder import make_course, release_notebook, run_grade, tool_env  # noqa: E402

DASK = Path(sys.executable).parent / "dask"
pytestmark = [pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed"),
              pytest.mark.skipif(not DASK.exists(), reason="the dask command is not installed")]

#: the class: what each student hands in, and their autograded points (softmax 2, entropy 1)
CLASS = {
    "alice": (lambda rel: hostile.answer(rel), 3),
    "bob": (lambda rel: rel, 0),
    "carol": (lambda rel: hostile.answer(rel, softmax=hostile.SOFTMAX_WRONG), 1),
}


def grades_csv(course: Path) -> list[tuple]:
    with open(course / "grades.csv", encoding="utf-8") as f:
        return sorted((r["student_id"], r["assignment"], r["score"], r["max_score"]) for r in csv.DictReader(f))


def cell_scores(course: Path) -> dict:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        return {(s, g.name): (g.auto_score, g.needs_manual_grade)
                for s in CLASS for nb in gb.find_submission(toy_source.ASSIGNMENT, s).notebooks for g in nb.grades}


def summary(course: Path) -> dict:
    with open(course / "summary.csv", encoding="utf-8") as f:
        return {r["student"]: (r["score"], r["what happened"]) for r in csv.DictReader(f)}


class Cluster:
    """`dask scheduler` and `dask worker`s started as process groups of their own, always killed."""

    def __init__(self, tmp: Path, **env: str):
        self.tmp, self.procs = tmp, {}
        self.file = tmp / "scheduler.json"
        self.env = tool_env(tmp, PYTHONPATH=str(AUTOGRADER),
                            DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES="1", **env)

    def start_all(self, workers: tuple[str, ...]) -> str:
        """A scheduler and single-threaded workers on the loopback; returns the scheduler's address."""
        self.start("scheduler", "scheduler", "--host", "127.0.0.1", "--port", "0",
                   "--dashboard-address", "127.0.0.1:0", "--scheduler-file", str(self.file))
        address = self.address()
        for w in workers:
            self.start(w, "worker", "--scheduler-file", str(self.file), "--name", w, "--nthreads", "1",
                       "--nworkers", "1", "--host", "127.0.0.1", "--no-dashboard", "--memory-limit", "0")
        return address

    def start(self, name: str, *args: str) -> None:
        log = open(self.tmp / f"{name}.log", "w")  # noqa: SIM115
        cwd = self.tmp / name
        cwd.mkdir()
        self.procs[name] = subprocess.Popen([str(DASK), *args], cwd=cwd, env=self.env, stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)

    def address(self) -> str:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.file.exists():
                try:
                    return json.loads(self.file.read_text())["address"]
                except (ValueError, KeyError):
                    pass
            time.sleep(0.2)
        raise RuntimeError("the scheduler did not start:\n" + (self.tmp / "scheduler.log").read_text())

    def kill(self, name: str) -> None:
        proc = self.procs.pop(name)
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()

    def close(self) -> None:
        for name in list(self.procs):
            self.kill(name)


@pytest.fixture(scope="module")
def dask_class(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("dask")
    cluster = Cluster(tmp)
    try:
        address = cluster.start_all(("w1", "w2"))
        from distributed import Client

        with Client(address, timeout="60s") as client:
            client.wait_for_workers(2, timeout=120)
            # a class, its release, and the same submissions graded by the embedded cluster first
            local = make_course(tmp / "local")
            release = release_notebook(local, tmp)
            subs = tmp / "subs"
            for student, (build, _) in CLASS.items():
                hostile.write_submission(subs, student, {"toy.ipynb": build(release)})
            r = run_grade(local, subs, tmp, "--workers", "2")
            assert r.returncode == 0, r.stdout + r.stderr
            yield {"tmp": tmp, "cluster": cluster, "address": address, "client": client, "subs": subs,
                   "local": local, "local_out": r.stdout}
    finally:
        cluster.close()


def test_the_embedded_cluster_grades_the_class(dask_class):
    local = dask_class["local"]
    assert {s: float(score) for s, _, score, _ in grades_csv(local)} == {s: float(p) for s, (_, p) in CLASS.items()}
    assert "with 2 worker(s)" in dask_class["local_out"]


def test_a_cluster_grades_exactly_like_the_embedded_one(dask_class):
    tmp = dask_class["tmp"]
    course = make_course(tmp / "remote")
    r = run_grade(course, dask_class["subs"], tmp, "--scheduler", dask_class["address"])
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"Dask cluster {dask_class['address']}: 2 worker(s), 2 thread(s); dashboard: http://127.0.0.1:" in r.stdout
    assert f"on the Dask cluster at {dask_class['address']}" in r.stdout
    workers = {line.split("worker ")[1].split(":")[0] for line in r.stdout.splitlines() if line.lstrip().startswith("[")}
    assert workers <= {"w1", "w2"} and workers, r.stdout
    local = dask_class["local"]
    assert grades_csv(course) == grades_csv(local)
    assert cell_scores(course) == cell_scores(local)
    assert summary(course) == summary(local)
    for student in CLASS:
        page = course / "feedback" / student / toy_source.ASSIGNMENT / "toy.html"
        assert page.exists() and "SECRET-HIDDEN" not in page.read_text()


def test_a_job_carries_its_data_and_needs_no_path_of_the_coordinator(dask_class):
    """The lesson's data and the submission travel with the task: the worker grades it after the
    coordinator's whole course folder (solutions, gradebook, submissions) is gone."""
    from lmgrade import grade as g
    from lmgrade.job import grade_job

    tmp = dask_class["tmp"]
    course = make_course(tmp / "moved" / "course")
    release = release_notebook(course, tmp)
    c = g.Course(course, course.parent / "solutions", tmp / "moved-scratch")
    c.scratch.mkdir()
    lesson = g.lesson_data(c, [toy_source.ASSIGNMENT])[toy_source.ASSIGNMENT]
    job = {"student": "alice", "assignment": toy_source.ASSIGNMENT, "timestamp": None, "feedback": False,
           "notebooks": {"toy.ipynb": nbformat.writes(hostile.answer(release))}, "timeout": 5,
           "env": {"LMGRADE_MEM_MB": "1536"}, "workdir": None}
    shutil.rmtree(tmp / "moved")
    shutil.rmtree(c.scratch)
    result = dask_class["client"].submit(grade_job, job, lesson, pure=False).result(timeout=600)
    assert result["worker"] in ("w1", "w2")
    grades = result["submission"]["notebooks"]["toy"]["grades"]
    assert grades == {"test_softmax": [2.0, False], "test_entropy": [1.0, False], "explain": [0.0, False]}
    assert list(result["autograded"]) == ["toy.ipynb"] and result["failed"] is False


def test_a_job_that_fails_twice_is_reported_and_the_others_are_graded(dask_class):
    from distributed import get_task_stream

    from lmgrade import cluster, grade as g

    tmp = dask_class["tmp"]
    course = make_course(tmp / "failing")
    release = release_notebook(course, tmp)
    c = g.Course(course, course.parent / "solutions", tmp / "failing-scratch")
    c.scratch.mkdir()
    lessons = g.lesson_data(c, [toy_source.ASSIGNMENT])
    good = {"student": "alice", "assignment": toy_source.ASSIGNMENT, "timestamp": None, "feedback": False,
            "notebooks": {"toy.ipynb": nbformat.writes(hostile.answer(release))}, "timeout": 5, "env": {},
            "workdir": None}
    bad = {**good, "student": "mallory", "notebooks": {"../escape.ipynb": "{}"}}   # the job raises ValueError
    seen = []
    with get_task_stream(dask_class["client"]) as stream:
        cluster.run_jobs(dask_class["client"], lessons, [bad, good], seen.extend)
    outcome = {job["student"]: (result, error) for job, result, error in seen}
    assert sorted(outcome) == ["alice", "mallory"]
    assert outcome["mallory"][0] is None and "ValueError" in outcome["mallory"][1] and "not a file name" in outcome["mallory"][1]
    assert outcome["alice"][1] is None and outcome["alice"][0]["submission"]["notebooks"]["toy"]["grades"]["test_softmax"] == [2.0, False]
    (key,) = {t["key"] for t in stream.data if "mallory" in str(t["key"])}
    story = dask_class["client"].story(key)
    tries = [s for s in story if s[0] == "scheduler" and tuple(s[2:4]) == ("waiting", "processing")]
    assert len(tries) == 2, story   # tried once more (retries=1), then reported


def test_a_worker_that_cannot_isolate_grades_nobody_and_says_so(dask_class, tmp_path):
    """A worker machine without bubblewrap: each job fails (twice) there, and every student gets a
    readable NOT GRADED line instead of a grade; the run still ends normally."""
    from distributed import Client

    bad = Cluster(tmp_path, LMGRADE_BWRAP="/nonexistent/bwrap")
    try:
        address = bad.start_all(("no-bwrap",))
        with Client(address, timeout="60s") as client:
            client.wait_for_workers(1, timeout=120)
        course = make_course(tmp_path / "course")
        r = run_grade(course, dask_class["subs"], tmp_path, "--scheduler", address, "--no-feedback")
    finally:
        bad.close()
    assert r.returncode == 0, r.stdout + r.stderr
    lines = summary(course)
    for student in CLASS:
        score, what = lines[student]
        assert what.startswith("NOT GRADED: its grading task failed twice (IsolationUnavailable: bubblewrap"), what
        assert "make grade again" in what
    assert "Graded 0 notebooks" in r.stdout and "3 NOT GRADED" in r.stdout


def test_killing_a_worker_mid_run_still_grades_everyone(dask_class):
    tmp, client = dask_class["tmp"], dask_class["client"]
    course = make_course(tmp / "killed")
    cmd = [sys.executable, str(AUTOGRADER / "lmgrade" / "grade.py"), str(dask_class["subs"]), "--course", str(course),
           "--timeout", "5", "--scheduler", dask_class["address"]]
    proc = subprocess.Popen(cmd, cwd=course, env=tool_env(tmp), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    out, victim = [], None
    for line in proc.stdout:
        out.append(line)
        if line.lstrip().startswith("[1/"):   # one job done, the others running: kill a busy worker
            deadline = time.monotonic() + 30
            while victim is None and time.monotonic() < deadline:
                busy = [w for w, keys in client.processing().items() if keys]
                names = {w: i["name"] for w, i in client.scheduler_info()["workers"].items()}
                victim = next((names[w] for w in busy if names.get(w) in dask_class["cluster"].procs), None)
                time.sleep(0.05)
            assert victim is not None, "no worker was busy: nothing to kill"
            dask_class["cluster"].kill(victim)
    proc.wait(timeout=900)
    text = "".join(out)
    assert proc.returncode == 0, text
    assert grades_csv(course) == grades_csv(dask_class["local"]), text
    assert cell_scores(course) == cell_scores(dask_class["local"])
    assert "NOT GRADED" not in text and text.count(f"/ {toy_source.ASSIGNMENT} /") == len(CLASS)
