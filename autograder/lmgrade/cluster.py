"""Where the grading jobs run: Dask (`dask.distributed`).

`connect(scheduler, workers)` gives a Dask client (`Background` starts it in a thread): by default
an embedded ``LocalCluster`` of ``workers`` single-threaded worker processes on this machine (they
die with the grader, even on ``kill -9``); with ``scheduler="tcp://host:port"`` an existing cluster
(``dask scheduler`` and ``dask worker`` by hand, dask-jobqueue on SLURM/PBS, dask-kubernetes).

`run_jobs(client, lessons, jobs, on_batch)` runs `job.grade_job` once per job as a Dask task.
Each lesson's data is one task that the lesson's jobs depend on: shipped once to each worker that
needs it, and recomputed from the scheduler's copy if the worker holding it dies. At most a few
jobs per worker thread are handed to the scheduler at a time, so a class of thousands does not sit
in its memory. A job whose task raises is retried once (``retries=1``); a worker that dies mid-task
costs its task one more try elsewhere (``distributed.scheduler.allowed-failures``, set to 1 in the
embedded cluster). A job that fails twice comes back as its error text: its student is reported,
everyone else is graded.
"""
from __future__ import annotations

import logging
import re
import threading
import time
from contextlib import contextmanager
from typing import Callable, Iterator

#: how many times the scheduler may lose a job's worker before it gives up on the job
ALLOWED_FAILURES = 1
#: jobs handed to the scheduler per worker thread at a time
IN_FLIGHT_PER_THREAD = 2


@contextmanager
def connect(scheduler: str | None, workers: int) -> Iterator:
    """A Dask client: an embedded LocalCluster (scheduler None) or the cluster at `scheduler`."""
    import dask
    from distributed import Client, LocalCluster

    if workers < 1:
        raise ValueError(f"workers: at least 1 worker is needed, got {workers}")
    if scheduler is None:
        # The workers' statistical profiler samples the grading thread 100 times a second: off.
        with dask.config.set({"distributed.scheduler.allowed-failures": ALLOWED_FAILURES,
                              "distributed.worker.profile.enabled": False}):
            # One single-threaded worker process per core, no memory limit (the sandbox limits each
            # kernel), no dashboard and no open port but the loopback.
            with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, memory_limit=0,
                              host="127.0.0.1", dashboard_address=None, silence_logs=logging.ERROR) as cluster, \
                    Client(cluster) as client:
                yield client
        return
    check_address(scheduler)
    with Client(scheduler, timeout="30s") as client:
        yield client


def check_address(scheduler: str) -> None:
    if not re.fullmatch(r"(tcp|tls)://[^\s/]+:\d+", scheduler):
        raise ValueError(f"scheduler: expected an address such as tcp://host:8786, got {scheduler!r}")


def describe(client, scheduler: str) -> str:
    """One line on an existing cluster: its size and its dashboard's address."""
    info = client.scheduler_info()
    link = client.dashboard_link if "dashboard" in info.get("services", {}) else None
    return (f"Dask cluster {scheduler}: {len(info.get('workers', {}))} worker(s), "
            f"{sum(client.nthreads().values())} thread(s); dashboard: "
            + (link or "none (install bokeh where the scheduler runs)"))


class Background:
    """`connect` in a thread of its own: the cluster starts (and its workers import the grading code)
    while the grader checks the sandbox and prepares the submissions, and closes while it exports."""

    def __init__(self, scheduler: str | None, workers: int) -> None:
        if scheduler is not None:
            check_address(scheduler)
        self._client = self._error = None
        self._ready, self._closing = threading.Event(), threading.Event()
        self._thread = threading.Thread(target=self._run, args=(scheduler, workers), daemon=True)
        self._thread.start()

    def _run(self, scheduler: str | None, workers: int) -> None:
        try:
            with connect(scheduler, workers) as client:   # entered and left in this thread
                warm_up(client)
                self._client = client
                self._ready.set()
                self._closing.wait()
        except BaseException as e:  # noqa: BLE001 - raised in the grader's thread by client()
            self._error = e
        finally:
            self._ready.set()

    def client(self):
        """The client, once the cluster is up (raises what starting it raised)."""
        self._ready.wait()
        if self._error is not None:
            raise self._error
        return self._client

    def close(self, wait: bool = True) -> None:
        """Close the client and the embedded cluster; with wait=False, in the background."""
        self._closing.set()
        if wait:
            self._thread.join()


def run_jobs(client, lessons: dict[str, dict], jobs: list[dict],
             on_batch: Callable[[list[tuple[dict, dict | None, str | None]]], None]) -> None:
    """Grade `jobs` (plain data, see `job.grade_job`) on the cluster behind `client`.

    `on_batch` is called in this process with every (job, result, None) or (job, None, error text)
    that finished since its last call."""
    from distributed import as_completed

    from .job import grade_job

    if not jobs:
        return
    lesson_data = {a: client.submit(_lesson_data, data, key=f"lesson-{a}-{time.time_ns()}", pure=False)
                   for a, data in lessons.items()}
    queue = list(reversed(jobs))
    owner = {}
    done = as_completed()

    def top_up() -> None:
        room = max(1, IN_FLIGHT_PER_THREAD * sum(client.nthreads().values())) - done.count()
        while queue and room > 0:
            job = queue.pop()
            fut = client.submit(grade_job, job, lesson_data[job["assignment"]], retries=1, pure=False,
                                key=f"grade-{job['student']}-{job['assignment']}-{time.time_ns()}")
            owner[fut.key] = job
            done.add(fut)
            room -= 1

    top_up()
    for batch in done.batches():
        finished = []
        for fut in batch:
            job = owner.pop(fut.key)
            try:
                # a result lost with its worker before it was fetched is computed again: this waits
                finished.append((job, fut.result(), None))
            except Exception as err:  # noqa: BLE001 - the job's own error, or KilledWorker: reported
                finished.append((job, None, f"{type(err).__name__}: {err}"[:500]))
            fut.release()
        top_up()
        on_batch(finished)


def warm_up(client) -> None:
    """Have every worker import the grading code now, in the background, rather than at its first job."""
    from .job import warm_up as warm

    client.run(warm, wait=False)


def _lesson_data(data: dict) -> dict:
    """The task that holds a lesson's data on the workers (its data travels in the task itself)."""
    return data
