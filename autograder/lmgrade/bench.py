"""Benchmark and demo: grade a synthetic class of the real lessons.

    .venv/bin/python autograder/lmgrade/bench.py [--students 30] [--workers 2] [--lessons ...] [--rounds R]
                                                 [--speedup] [--overhead N] [--overhead-only] [--keep DIR]

Builds N students from the lessons in solutions/ (a third hand in the solutions, a third the
untouched release, a third half-done) and grades them in throw-away copies of the course:

- always (unless --overhead-only): the Dask path (`make grade`: an embedded Dask cluster of
  --workers processes) against the baseline it replaced, the hand-written pool of `make grade` as of
  commit POOL_COMMIT (taken from git), on the same class with the same number of workers, in
  alternating rounds (A B A B, so that the machine's drift hits both; best of each). The lessons
  are recorded in each course beforehand, so each timing is the whole command: isolation check,
  cluster or pool start, grading, merging, export. Prints the time per notebook and the ratio, and
  checks that both give identical grades.csv;
- with --speedup: the Dask path with 1 worker and with --workers workers (speed-up, same grades);
- with --overhead N: plain nbgrader (stock Execute, no sandbox) against the sandboxed pipeline on
  the first N students, sequentially.
"""
from __future__ import annotations

import argparse
import copy
import csv
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent
AUTOGRADER = HERE.parent
REPO = AUTOGRADER.parent
sys.path.insert(0, str(AUTOGRADER))
MARK = "# --- Hardened grading"
#: the last commit whose `make grade` ran its jobs on the hand-written worker pool (the baseline)
POOL_COMMIT = "409a0f0c161e16b38bda6865e05adb503891cd8a"


def solution_code(source: str) -> str:
    return "\n".join(l for l in source.splitlines()
                     if l.strip() not in ("### BEGIN SOLUTION", "### END SOLUTION"))


def build_student(release, source, kind: str):
    nb = copy.deepcopy(release)
    if kind == "release":
        return nb
    src = {(c.metadata.get("nbgrader") or {}).get("grade_id"): c for c in source.cells}
    sols = [c for c in nb.cells if (c.metadata.get("nbgrader") or {}).get("solution") and c.cell_type == "code"]
    for i, c in enumerate(sols):
        if kind == "half" and i % 2:
            continue
        gid = c.metadata["nbgrader"]["grade_id"]
        c.source = solution_code(src[gid].source)
    return nb


def make_course(dest: Path, lessons: list[str], plain: bool = False) -> Path:
    (dest / "autograder").mkdir(parents=True)
    cfg = (AUTOGRADER / "nbgrader_config.py").read_text()
    if plain:
        cfg = cfg.split(MARK)[0]
    (dest / "autograder" / "nbgrader_config.py").write_text(cfg)
    for a in lessons:
        shutil.copytree(REPO / "solutions" / a, dest / "solutions" / a)
    return dest / "autograder"


def env() -> dict:
    e = dict(os.environ)
    e["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), e.get("PATH", "")])
    return e


def grade(course: Path, subs: Path, workers: int, extra=(), grader: Path = HERE / "grade.py") -> tuple[float, str]:
    t = time.monotonic()
    r = subprocess.run([sys.executable, str(grader), str(subs), "--course", str(course),
                        "--workers", str(workers), "--no-feedback", *extra],
                       cwd=course, env=env(), capture_output=True, text=True)
    if r.returncode:
        raise SystemExit(r.stdout[-4000:] + r.stderr[-4000:])
    return time.monotonic() - t, r.stdout


def grades(course: Path) -> list[tuple]:
    with open(course / "grades.csv") as f:
        return sorted((r["assignment"], r["student_id"], r["score"]) for r in csv.DictReader(f))


def record_lessons(course: Path, lessons: list[str]) -> None:
    """Record the lessons in the course's gradebook now, so that a timed run does not."""
    from lmgrade.grade import stamp_of

    for a in lessons:
        subprocess.run([sys.executable, "-m", "nbgrader", "generate_assignment", a, "--force",
                        f"--CourseDirectory.release_directory={course / 'release'}"],
                       cwd=course, env=env(), check=True, capture_output=True)
    (course / ".lmgrade-sources.json").write_text(
        __import__("json").dumps({a: stamp_of(course.parent / "solutions" / a) for a in lessons}))


def pool_grader(dest: Path) -> Path | None:
    """`make grade`'s grader as of POOL_COMMIT (the hand-written pool), from git; None without git history."""
    archive = subprocess.run(["git", "-C", str(REPO), "archive", POOL_COMMIT, "autograder/lmgrade"],
                             capture_output=True)
    if archive.returncode:
        return None
    dest.mkdir(parents=True)
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)
    return dest / "autograder" / "lmgrade" / "grade.py"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--students", type=int, default=30)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--lessons", nargs="*")
    ap.add_argument("--overhead", type=int, default=0, metavar="N",
                    help="also time plain vs sandboxed nbgrader on the first N students")
    ap.add_argument("--overhead-only", action="store_true", help="skip the Dask-vs-pool (and --speedup) timings")
    ap.add_argument("--speedup", action="store_true", help="also time the Dask path with 1 worker against --workers")
    ap.add_argument("--rounds", type=int, default=2, help="alternating rounds of the --overhead comparison")
    ap.add_argument("--keep")
    args = ap.parse_args(argv)
    lessons = args.lessons or sorted(p.parent.name for p in (REPO / "solutions").glob("*/*.ipynb"))
    tmp = Path(args.keep or tempfile.mkdtemp(prefix="lmgrade-bench-"))
    subs = tmp / "submissions"
    probe = make_course(tmp / "probe", lessons)
    for a in lessons:
        subprocess.run([sys.executable, "-m", "nbgrader", "generate_assignment", a, "--force",
                        f"--CourseDirectory.release_directory={probe / 'release'}"],
                       cwd=probe, env=env(), check=True, capture_output=True)
        for nbpath in (probe / "release" / a).glob("*.ipynb"):
            release = nbformat.read(str(nbpath), as_version=4)
            source = nbformat.read(str(REPO / "solutions" / a / nbpath.name), as_version=4)
            for i in range(args.students):
                kind = ("solution", "release", "half")[i % 3]
                d = subs / f"student{i:03d}" / a
                d.mkdir(parents=True, exist_ok=True)
                nbformat.write(build_student(release, source, kind), str(d / nbpath.name))
    print(f"{args.students} students x {len(lessons)} lessons ({', '.join(lessons)})")
    same = True
    n = args.students * len(lessons)
    if not args.overhead_only:
        # The Dask path against the hand-written pool it replaced: same class, same workers.
        pool = pool_grader(tmp / "pool")
        runs = {"Dask": HERE / "grade.py"} | ({"pool": pool} if pool else {})
        if not pool:
            print(f"  (no git history here: the pool of commit {POOL_COMMIT[:7]} cannot be compared)")
        courses = {}
        for name in runs:
            courses[name] = make_course(tmp / f"vs-{name}", lessons)
            record_lessons(courses[name], lessons)
        times: dict[str, list[float]] = {name: [] for name in runs}
        phase: dict[str, list[float]] = {name: [] for name in runs}
        outputs, graded = {}, {}
        for _ in range(args.rounds):
            for name, grader in runs.items():
                total, out = grade(courses[name], subs, args.workers,
                                   ("--assignments", *lessons, "--regrade"), grader=grader)
                times[name].append(total)
                phase[name].append(float(re.search(r"Graded \d+ notebooks in ([0-9.]+) s", out).group(1)))
                outputs[name], graded[name] = out, grades(courses[name])
        for name, ts in times.items():
            print(f"  {name:5} {args.workers} worker(s): {n} notebooks, whole command best {min(ts):6.1f} s = "
                  f"{min(ts) / n:.2f} s per notebook (runs {', '.join(f'{t:.1f}' for t in ts)}; "
                  f"grading phase {', '.join(f'{t:.1f}' for t in phase[name])} s)")
        if pool:
            same = graded["Dask"] == graded["pool"]
            print(f"  Dask / pool, time per notebook: x{min(times['Dask']) / min(times['pool']):.2f}; "
                  f"identical grades: {same}")
        print("\n".join(l for l in outputs["Dask"].splitlines() if not l.startswith("  [")))
    if args.speedup:
        results = {}
        for w in sorted({1, args.workers}):
            course = make_course(tmp / f"w{w}", lessons)
            total, out = grade(course, subs, w, ("--assignments", *lessons))
            # the grading phase alone (recording the lessons in the gradebook happens once, before)
            secs = float(re.search(r"Graded \d+ notebooks in ([0-9.]+) s", out).group(1))
            results[w] = (secs, grades(course))
            print(f"  {w} worker(s): grading {secs:6.1f} s (whole command {total:.1f} s)")
        same = same and results[1][1] == results[args.workers][1]
        print(f"  speed-up x{results[1][0] / results[args.workers][0]:.2f}; identical grades: "
              f"{results[1][1] == results[args.workers][1]}")
    if args.overhead:
        # The same submissions through stock nbgrader (test cells run in the student's kernel, no
        # sandbox) and through lmgrade's pipeline (sandboxed kernel, test cells judged in the grader),
        # sequentially, alternating A B A B so that the machine's drift hits both; best of each.
        plain = make_course(tmp / "plain", lessons, plain=True)
        sandboxed = make_course(tmp / "sandboxed", lessons)
        times: dict[str, list[float]] = {"plain nbgrader": [], "lmgrade": []}
        for name, course in (("plain nbgrader", plain), ("lmgrade", sandboxed)):
            for a in lessons:
                subprocess.run([sys.executable, "-m", "nbgrader", "generate_assignment", a, "--force",
                                f"--CourseDirectory.release_directory={course / 'release'}"],
                               cwd=course, env=env(), check=True, capture_output=True)
            for s in sorted(subs.iterdir())[: args.overhead]:
                shutil.copytree(s, course / "submitted" / s.name)
        n = args.overhead * len(lessons)
        for _ in range(args.rounds):
            for name, course in (("plain nbgrader", plain), ("lmgrade", sandboxed)):
                t = time.monotonic()
                for a in lessons:
                    subprocess.run([sys.executable, "-m", "nbgrader", "autograde", a, "--force",
                                    f"--CourseDirectory.release_directory={course / 'release'}"],
                                   cwd=course, env=env(), capture_output=True)
                times[name].append(time.monotonic() - t)
        for name, ts in times.items():
            print(f"  {name}: nbgrader autograde of {n} notebooks, sequential: best {min(ts):6.1f} s "
                  f"({n / min(ts):.3f} notebooks/s; runs {', '.join(f'{t:.1f}' for t in ts)})")
        print(f"  lmgrade / plain nbgrader, time per notebook: x{min(times['lmgrade']) / min(times['plain nbgrader']):.2f}")
    if not args.keep:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
