"""Enqueues a session's background jobs so that one job at a time is expected per session.

Each enqueue writes the new job's id into a Redis key (the session's *lease*) with a
time-to-live. A job whose id is not the lease's is a stale duplicate and does nothing;
a session whose lease has expired has no job coming, which the sweeper repairs. A run
lock keeps two copies of a job for one session from running at the same time.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from flask import current_app
from redis.exceptions import LockError
from rq import get_current_job
from rq.job import Job

from vpsshop.queue import DEFAULT_JOB_OPTIONS, get_queue, get_redis

JOB_FUNCTIONS = {
    "provision": "jobs.provisioning.provision_session",
    "watch": "jobs.provisioning.watch_session",
    "stop": "jobs.provisioning.stop_session",
    "expire": "jobs.provisioning.expire_session",
}
_LEASE_KEY = "vpsshop:session-lease:{}"
_RUN_LOCK_KEY = "vpsshop:session-run:{}"


def _lease_seconds(delay: float) -> int:
    return math.ceil(delay + current_app.config["JOB_LEASE_SECONDS"])


def enqueue_session_job(kind: str, session_id: uuid.UUID, delay: float = 0.0) -> Job:
    """Enqueue (or schedule after ``delay`` seconds) the ``kind`` job of a session.

    Raises redis errors when Redis is down; the caller decides what that means.
    """
    job_id = f"{kind}-{session_id}-{uuid.uuid4().hex[:8]}"
    # The lease is written first: a job that starts at once must find itself there.
    get_redis().set(_LEASE_KEY.format(session_id), job_id, ex=_lease_seconds(delay))
    queue = get_queue()
    args = (JOB_FUNCTIONS[kind], str(session_id))
    if delay > 0:
        return queue.enqueue_in(
            timedelta(seconds=delay), *args, job_id=job_id, **DEFAULT_JOB_OPTIONS
        )
    return queue.enqueue(*args, job_id=job_id, **DEFAULT_JOB_OPTIONS)


def has_lease(session_id: uuid.UUID) -> bool:
    """True while a job of this session is queued, scheduled or running."""
    return bool(get_redis().exists(_LEASE_KEY.format(session_id)))


def clear_lease(session_id: uuid.UUID) -> None:
    get_redis().delete(_LEASE_KEY.format(session_id))


@contextmanager
def session_run(session_id: uuid.UUID) -> Iterator[bool]:
    """Yield True when the current job may act on the session, False for a duplicate."""
    redis_conn = get_redis()
    job = get_current_job()
    if job is not None:
        lease = redis_conn.get(_LEASE_KEY.format(session_id))
        if lease is not None and lease.decode() != job.id:
            yield False
            return
        if lease is not None:  # still ours: extend it while we run
            redis_conn.expire(_LEASE_KEY.format(session_id), _lease_seconds(0))
    timeout = _lease_seconds(0)
    lock = redis_conn.lock(_RUN_LOCK_KEY.format(session_id), timeout=timeout)
    if not lock.acquire(blocking=False):
        yield False
        return
    try:
        yield True
    finally:
        try:
            lock.release()
        except LockError:  # expired while we ran; nothing else to release
            pass
