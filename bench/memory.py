"""Measurement 9: web and worker memory (RSS) after many requests and jobs."""

from __future__ import annotations

import os
import time
from pathlib import Path

import redis
from rq import Queue

from bench.figures import Figure
from bench.load import run_load
from bench.stack import Process

WEB_BOUND_MIB = 32.0
WORKER_BOUND_MIB = 32.0
# Load in chunks of this long until the requests are served; --quick shortens both.
CHUNK_SECONDS = 20
WARM_UP_SECONDS = 5
WARM_UP_JOBS = 500
# The web load stops here even when fewer requests were served (reported as missed).
MAX_LOAD_SECONDS = 900
QUEUE = "vpsshop"


def group_rss_mib(process: Process) -> float:
    """Resident memory of every process in ``process``'s group (gunicorn's master and
    workers), in MiB."""
    total_kib = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.getpgid(int(entry.name)) != process.popen.pid:
                continue
            for line in (entry / "status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kib += int(line.split()[1])
        except (OSError, ProcessLookupError):
            continue
    return total_kib / 1024


def web(wrk: str | None, web: Process, url: str, headers: dict, requests_total: int) -> Figure:
    """RSS of the web processes before and after ``requests_total`` requests of ``url``."""
    run_load(wrk, "warm-up", url, connections=16, seconds=WARM_UP_SECONDS, headers=headers)
    before = group_rss_mib(web)
    served, errors, started = 0, 0, time.monotonic()
    while served < requests_total and time.monotonic() - started < MAX_LOAD_SECONDS:
        result = run_load(
            wrk, "memory", url, connections=16, seconds=CHUNK_SECONDS, headers=headers
        )
        served += result.requests
        errors += result.errors
    after = group_rss_mib(web)
    growth = after - before
    return Figure(
        key="memory.web",
        section="9. Memory",
        what=f"web processes' RSS (gunicorn master and workers) after {served:,} requests "
        "of the API session poll",
        value=f"{before:.0f} MiB -> {after:.0f} MiB ({growth:+.1f} MiB); {errors} errors",
        target=f"growth <= {WEB_BOUND_MIB:.0f} MiB",
        met=growth <= WEB_BOUND_MIB and served >= requests_total,
        number=growth,
        unit="MiB growth",
        lower_is_better=True,
    )


def _drain(queue: Queue, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while queue.count and time.monotonic() < deadline:
        time.sleep(0.5)
    time.sleep(1.0)  # the last job finishes
    return not queue.count


def _enqueue(queue: Queue, session_ids: list[str], count: int) -> None:
    with queue.connection.pipeline() as pipe:
        for index in range(count):
            queue.enqueue(
                "jobs.provisioning.check_session",
                session_ids[index % len(session_ids)],
                result_ttl=0,
                pipeline=pipe,
            )
        pipe.execute()


def worker(worker: Process, redis_url: str, session_ids: list[str], jobs: int) -> Figure:
    """RSS of the worker process before and after ``jobs`` check jobs (each reads a ready
    session and its node's log)."""
    client = redis.Redis.from_url(redis_url)
    queue = Queue(QUEUE, connection=client)
    _enqueue(queue, session_ids, WARM_UP_JOBS)
    _drain(queue, 120)
    before = group_rss_mib(worker)
    started = time.monotonic()
    _enqueue(queue, session_ids, jobs)
    drained = _drain(queue, 600)
    seconds = time.monotonic() - started
    after = group_rss_mib(worker)
    client.close()
    growth = after - before
    return Figure(
        key="memory.worker",
        section="9. Memory",
        what=f"worker process RSS after {jobs:,} jobs (check_session: a ready session's node "
        f"log read), {seconds:.0f} s",
        value=f"{before:.0f} MiB -> {after:.0f} MiB ({growth:+.1f} MiB)"
        + ("" if drained else "; the queue did not drain"),
        target=f"growth <= {WORKER_BOUND_MIB:.0f} MiB",
        met=growth <= WORKER_BOUND_MIB and drained,
        number=growth,
        unit="MiB growth",
        lower_is_better=True,
    )
