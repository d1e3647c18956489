"""Benchmark and demo: grade a synthetic class of the real lessons, sequentially and in parallel.

    .venv/bin/python autograder/lmgrade/bench.py [--students 30] [--workers 2] [--lessons ...]
                                                 [--overhead N] [--overhead-only] [--rounds R] [--keep DIR]

Builds N students from the lessons in solutions/ (a third hand in the solutions, a third the
untouched release, a third half-done), grades them in throw-away copies of the course with 1
worker and with --workers workers, checks that both give identical grades.csv, and prints the
timings. With --overhead it also times plain nbgrader (stock Execute, no sandbox) against the
sandboxed pipeline on the same submissions, sequentially.
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
MARK = "# --- Hardened grading"


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


def grade(course: Path, subs: Path, workers: int, extra=()) -> tuple[float, str]:
    t = time.monotonic()
    r = subprocess.run([sys.executable, str(HERE / "grade.py"), str(subs), "--course", str(course),
                        "--workers", str(workers), "--no-feedback", *extra],
                       cwd=course, env=env(), capture_output=True, text=True)
    if r.returncode:
        raise SystemExit(r.stdout[-4000:] + r.stderr[-4000:])
    return time.monotonic() - t, r.stdout


def grades(course: Path) -> list[tuple]:
    with open(course / "grades.csv") as f:
        return sorted((r["assignment"], r["student_id"], r["score"]) for r in csv.DictReader(f))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--students", type=int, default=30)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--lessons", nargs="*")
    ap.add_argument("--overhead", type=int, default=0, metavar="N",
                    help="also time plain vs sandboxed nbgrader on the first N students")
    ap.add_argument("--overhead-only", action="store_true", help="skip the 1-worker vs N-worker timing")
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
    results = {}
    same = True
    for w in ([] if args.overhead_only else sorted({1, args.workers})):
        course = make_course(tmp / f"w{w}", lessons)
        total, out = grade(course, subs, w, ("--assignments", *lessons))
        # the grading phase alone (recording the lessons in the gradebook happens once, before)
        secs = float(re.search(r"Graded \d+ notebooks in ([0-9.]+) s", out).group(1))
        results[w] = (secs, grades(course))
        print(f"  {w} worker(s): grading {secs:6.1f} s (whole command {total:.1f} s)")
        if w == args.workers:
            print("\n".join(l for l in out.splitlines() if not l.startswith("  [")))
    if results:
        same = results[1][1] == results[args.workers][1]
        print(f"  speed-up x{results[1][0] / results[args.workers][0]:.2f}; identical grades: {same}")
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
