"""Enqueues a session's background jobs so that one job at a time is expected per session.

Each enqueue writes the new job's id into a Redis key (the session's *lease*) with a
time-to-live. A job whose id is not the lease's is a stale duplicate and does nothing;
a session whose lease has expired has no job coming, which the sweeper repairs. A run
lock keeps two copies of a job for one session from running at the same time.

While a job runs, a heartbeat thread renews its run lock (and its lease while the lease is
still its own) every third of ``JOB_HEARTBEAT_SECONDS``: the lock outlives a job however
long it runs, and a job whose worker was killed lets go of the session within that time.
"""

from __future__ import annotations

import math
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from flask import current_app
from redis import Redis
from redis.exceptions import LockError, RedisError
from redis.lock import Lock
from rq import get_current_job
from rq.job import Job

from vpsshop import redis_keys
from vpsshop.queue import DEFAULT_JOB_OPTIONS, get_queue, get_redis

JOB_FUNCTIONS = {
    "provision": "jobs.provisioning.provision_session",
    "watch": "jobs.provisioning.watch_session",
    "stop": "jobs.provisioning.stop_session",
    "expire": "jobs.provisioning.expire_session",
}


def _lease_key(session_id: uuid.UUID) -> str:
    return redis_keys.key("session-lease", session_id)


def _run_lock_key(session_id: uuid.UUID) -> str:
    return redis_keys.key("session-run", session_id)


def _lease_seconds(delay: float) -> int:
    return math.ceil(delay + current_app.config["JOB_LEASE_SECONDS"])


def enqueue_session_job(
    kind: str, session_id: uuid.UUID, delay: float = 0.0, at: datetime | None = None
) -> Job:
    """Enqueue (or schedule after ``delay`` seconds, or at ``at``) the ``kind`` job.

    Raises redis errors when Redis is down; the caller decides what that means.
    """
    job_id = f"{kind}-{session_id}-{uuid.uuid4().hex[:8]}"
    if at is not None:
        # RQ keeps whole seconds and runs a job once its second has begun: rounded up,
        # the job never runs before ``at``.
        at = at.replace(microsecond=0) + timedelta(seconds=1) if at.microsecond else at
        delay = max(0.0, (at - datetime.now(UTC)).total_seconds())
    # The lease is written first: a job that starts at once must find itself there.
    get_redis().set(_lease_key(session_id), job_id, ex=_lease_seconds(delay))
    queue = get_queue()
    args = (JOB_FUNCTIONS[kind], str(session_id))
    if at is not None:
        return queue.enqueue_at(at, *args, job_id=job_id, **DEFAULT_JOB_OPTIONS)
    if delay > 0:
        return queue.enqueue_in(
            timedelta(seconds=delay), *args, job_id=job_id, **DEFAULT_JOB_OPTIONS
        )
    return queue.enqueue(*args, job_id=job_id, **DEFAULT_JOB_OPTIONS)


def has_lease(session_id: uuid.UUID) -> bool:
    """True while a job of this session is queued, scheduled or running."""
    return bool(get_redis().exists(_lease_key(session_id)))


def clear_lease(session_id: uuid.UUID) -> None:
    get_redis().delete(_lease_key(session_id))


# Extend the lease only while it still names this job (a newer job may own it by now).
_EXTEND_IF_OURS = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then "
    "return redis.call('pexpire', KEYS[1], ARGV[2]) end return 0"
)


def _heartbeat(
    redis_conn: Redis, lock: Lock, lease_key: str, job_id: str | None, ttl: float
) -> threading.Event:
    """Renew ``lock`` (and the lease while it is ``job_id``'s) until the event is set."""
    done = threading.Event()

    def beat() -> None:
        while not done.wait(ttl / 3):
            try:
                lock.reacquire()
                if job_id is not None:
                    redis_conn.eval(_EXTEND_IF_OURS, 1, lease_key, job_id, int(ttl * 1000))
            except LockError:  # lost: nothing left to keep alive
                return
            except RedisError:  # Redis away for a moment; the next beat tries again
                continue

    threading.Thread(target=beat, name=f"heartbeat-{lease_key}", daemon=True).start()
    return done


@contextmanager
def session_run(session_id: uuid.UUID) -> Iterator[bool]:
    """Yield True when the current job may act on the session, False for a duplicate."""
    redis_conn = get_redis()
    job = get_current_job()
    lease_key = _lease_key(session_id)
    ttl = float(current_app.config["JOB_HEARTBEAT_SECONDS"])
    job_id = None
    if job is not None:
        lease = redis_conn.get(lease_key)
        if lease is not None and lease.decode() != job.id:
            yield False
            return
        if lease is not None:  # still ours: the heartbeat keeps it while we run
            job_id = job.id
            redis_conn.pexpire(lease_key, int(ttl * 1000))
    # Not thread-local: the heartbeat thread renews the token this thread acquired.
    lock = redis_conn.lock(_run_lock_key(session_id), timeout=ttl, thread_local=False)
    if not lock.acquire(blocking=False):
        yield False
        return
    done = _heartbeat(redis_conn, lock, lease_key, job_id, ttl)
    try:
        yield True
    finally:
        done.set()
        try:
            lock.release()
        except LockError:  # expired while Redis was away; nothing else to release
            pass
