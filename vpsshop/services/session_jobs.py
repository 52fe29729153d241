"""Enqueues a session's background jobs so that one job at a time is expected per session.

Each enqueue writes the new job's id into a Redis key (the session's *lease*) with a
time-to-live. A job whose id is not the lease's is a stale duplicate and does nothing;
a session whose lease has expired has no job coming, which the sweeper repairs. A run
lock keeps two copies of a job for one session from running at the same time.

While a job runs, a heartbeat thread renews its run lock (and its lease while the lease is
still its own) every third of ``JOB_HEARTBEAT_SECONDS``: the lock outlives a job however
long it runs, and a job whose worker was killed lets go of the session within that time.
A node's watch tick holds its sessions the same way, with one heartbeat thread for all of
them (TickReads).
"""

from __future__ import annotations

import math
import threading
import time
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
from vpsshop.queue import DEFAULT_JOB_OPTIONS, get_queue, get_redis, get_watch_queue

JOB_FUNCTIONS = {
    "provision": "jobs.provisioning.provision_session",
    "watch": "jobs.provisioning.watch_session",
    "stop": "jobs.provisioning.stop_session",
    "expire": "jobs.provisioning.expire_session",
}


# How soon a stop or an expiry that found the session's run lock held tries again: a
# read holds it for one node call, bounded by the call's deadline.
BUSY_RETRY_SECONDS = 1.0


def _lease_key(session_id: uuid.UUID) -> str:
    return redis_keys.key("session-lease", session_id)


def _run_lock_key(session_id: uuid.UUID) -> str:
    return redis_keys.key("session-run", session_id)


def _lease_seconds(delay: float) -> int:
    return math.ceil(delay + current_app.config["JOB_LEASE_SECONDS"])


def new_job_id(kind: str, session_id: uuid.UUID) -> str:
    """A fresh id for the session's next ``kind`` job."""
    return f"{kind}-{session_id}-{uuid.uuid4().hex[:8]}"


def enqueue_session_job(
    kind: str,
    session_id: uuid.UUID,
    delay: float = 0.0,
    at: datetime | None = None,
    job_id: str | None = None,
) -> Job:
    """Enqueue (or schedule after ``delay`` seconds, or at ``at``) the ``kind`` job, with
    ``job_id`` when the caller stored it beforehand (else a new one).

    Raises redis errors when Redis is down; the caller decides what that means.
    """
    job_id = job_id or new_job_id(kind, session_id)
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


# After reads (or a create) of one node's sessions: KEYS[1] is the node's next watch tick,
# then a (lease, run lock) pair per session. The tick (created when absent) becomes the
# lease of each session whose ARGV[4 + n] is '1', unless a newer job took that lease
# meanwhile (a stop): that job is never overwritten. Then each run lock is let go if it
# still holds the readers' token ARGV[4] (empty: the caller holds no lock of this kind).
# Returns {created, tick, joined per session (1 joined, 0 not asked, -1 another job's)}.
_FINISH_READS = """
local tick, created, ttl = false, 0, tonumber(ARGV[2])
local joined = {}
for i = 2, #KEYS, 2 do
  local n = i / 2
  joined[n] = 0
  if ARGV[4 + n] == '1' then
    local lease = redis.call('get', KEYS[i])
    if lease and ARGV[3] ~= '' and lease ~= ARGV[3] then
      joined[n] = -1
    else
      if not tick then
        tick = redis.call('get', KEYS[1])
        if tick then
          ttl = redis.call('pttl', KEYS[1])
          if ttl < 1 then ttl = tonumber(ARGV[2]) end
        else
          tick = ARGV[1]
          created = 1
          redis.call('set', KEYS[1], tick, 'PX', ttl)
        end
      end
      redis.call('set', KEYS[i], tick, 'PX', ttl)
      joined[n] = 1
    end
  end
  if ARGV[4] ~= '' and redis.call('get', KEYS[i + 1]) == ARGV[4] then
    redis.call('del', KEYS[i + 1])
  end
end
return {created, tick or '', unpack(joined)}
"""
# A tick that starts lets later joiners make the next one.
_RELEASE_TICK = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"
)
NODE_WATCH_FUNCTION = "jobs.provisioning.watch_node"


def _node_tick_key(worker_id: uuid.UUID) -> str:
    return redis_keys.key("node-watch-next", worker_id)


def _finish_reads(
    worker_id: uuid.UUID,
    read_started: float,
    job_id: str | None,
    reads: list[tuple[uuid.UUID, bool]],
    *,
    lock_token: str = "",
    at_once: bool = False,
) -> tuple[str | None, list[bool]]:
    """For each (session, again) of ``reads``: join the node's next tick when ``again``
    (see join_node_watch), then release the run lock held with ``lock_token``. One round
    trip to Redis for them all; the next tick's id (None when none was joined) and, per
    read, whether it joined."""
    delay = _next_tick_delay(read_started, at_once)
    keys = [_node_tick_key(worker_id)]
    for session_id, _ in reads:
        keys += (_lease_key(session_id), _run_lock_key(session_id))
    created, tick, *joined = get_redis().eval(
        _FINISH_READS,
        len(keys),
        *keys,
        _new_tick_id(worker_id),
        _lease_seconds(delay) * 1000,
        job_id or "",
        lock_token,
        *("1" if again else "0" for _, again in reads),
    )
    tick = tick.decode() if isinstance(tick, bytes) else tick
    if created:
        _enqueue_tick(worker_id, tick, delay, at_once)
    return (tick or None), [flag == 1 for flag in joined]


def join_node_watch(
    session_id: uuid.UUID,
    worker_id: uuid.UUID,
    read_started: float,
    job_id: str | None,
    *,
    at_once: bool = False,
) -> str | None:
    """Look at the session's log again at its node's next watch tick, scheduling that tick
    when none is coming; the tick's job id, or None when another job owns the session now.

    ``read_started`` (``time.monotonic()``) is when the read that asks for the next began,
    or when its tick became due (tick_due_at): a new tick is scheduled so that it is moved
    into the queue within one WATCH_INTERVAL_SECONDS of it (see _next_tick_delay).
    ``job_id`` is the job that holds the lease now.
    ``at_once`` (a session just created) makes a new tick due now.

    A tick that waited for its time, and a new session's first, go to the watch queue,
    which workers take first: a burst of purchases' create jobs must not hold back the
    reads of the servers already booting. One due again at once (its node took longer
    than an interval to answer) goes to the back of the lifecycle queue, so a slow node's
    ticks never starve the other jobs.
    """
    tick, (joined,) = _finish_reads(
        worker_id, read_started, job_id, [(session_id, True)], at_once=at_once
    )
    return tick if joined else None


def start_node_tick(worker_id: uuid.UUID, job_id: str) -> None:
    """Called as a node's watch tick starts: sessions that ask from now on join the next."""
    get_redis().eval(_RELEASE_TICK, 1, _node_tick_key(worker_id), job_id)


def tick_due_at(started: float) -> float:
    """When (``time.monotonic()``) the running node watch tick became due: the moment RQ
    put it in its queue, counted at most one schedule window before ``started`` (its
    start), or ``started`` itself outside RQ.

    The next tick is aimed from here, not from the start. The ticks moved at a second's
    start run one after another, so a node's tick tends to wait about as long each
    time; aimed from its start, a tick that waited more than half a second was moved a
    whole second later than one that did not, and its node's reads came an interval
    apart instead of an interval less a second (bench: thousand VMs). A longer wait (a
    backlog) is counted only up to the window: the next tick is then not due at once,
    which is kept for a node that itself took long to answer."""
    job = get_current_job()
    if job is None or job.enqueued_at is None:
        return started
    started_wall = time.time() - (time.monotonic() - started)
    waited = started_wall - job.enqueued_at.timestamp()
    return started - min(max(0.0, waited), _schedule_window())


def _schedule_window() -> float:
    return max(1.0, float(current_app.config["SCHEDULER_TICK_SECONDS"]))


def _next_tick_delay(read_started: float, at_once: bool) -> float:
    """The delay to schedule the next tick with.

    RQ keeps a scheduled job's whole second, and the schedule keeper, ticking on the
    wall clock's whole seconds (rq_worker.ScheduleKeeper), moves it into the queue at the
    start of that second: from up to one second before the due time (or the keeper's
    tick, when longer than a second) to the due time itself. Aimed half that window
    before the interval ends, from when the tick became due (tick_due_at), a node's ticks
    are moved between an interval less one and a half seconds and an interval less half a
    second apart (two seconds at the default three), and a session's reads are as far
    apart give or take the difference between two of its ticks' waits in the queue. An
    unaligned keeper, aimed from a tick's start, let them come a whole interval apart."""
    config = current_app.config
    elapsed = time.monotonic() - read_started
    interval = 0.0 if at_once else config["WATCH_INTERVAL_SECONDS"]
    return max(0.0, interval - _schedule_window() / 2 - elapsed)


def _enqueue_tick(worker_id: uuid.UUID, tick: str, delay: float, at_once: bool) -> None:
    if at_once:
        get_watch_queue().enqueue(
            NODE_WATCH_FUNCTION, str(worker_id), job_id=tick, **DEFAULT_JOB_OPTIONS
        )
        return
    # Through the scheduler even when due now, as every other look again: a worker
    # draining the queue (burst) is not kept busy by a node that never boots. One due
    # again at once (its node took longer than an interval to answer) waits in the
    # lifecycle queue, behind the jobs already there, so a slow node's ticks never
    # starve the other jobs.
    queue = get_watch_queue() if delay > 0 else get_queue()
    queue.enqueue_in(
        timedelta(seconds=delay),
        NODE_WATCH_FUNCTION,
        str(worker_id),
        job_id=tick,
        **DEFAULT_JOB_OPTIONS,
    )


def _new_tick_id(worker_id: uuid.UUID) -> str:
    return f"watchnode-{worker_id}-{uuid.uuid4().hex[:8]}"


# A tick's read may act on its session when the lease names the tick (or no job, or the
# read runs outside RQ: ARGV[1] empty) and the run lock is free; the lock then holds the
# tick's token ARGV[2] and the lease is kept for the read. KEYS are (lease, lock) pairs;
# returns 1 or 0 per pair.
_CLAIM_READS = """
local mine = {}
for i = 1, #KEYS, 2 do
  local lease = redis.call('get', KEYS[i])
  mine[#mine + 1] = 0
  if not (lease and ARGV[1] ~= '' and lease ~= ARGV[1])
      and redis.call('set', KEYS[i + 1], ARGV[2], 'NX', 'PX', ARGV[3]) then
    if lease and ARGV[1] ~= '' then redis.call('pexpire', KEYS[i], ARGV[3]) end
    mine[#mine] = 1
  end
end
return mine
"""
# Renew each run lock that still holds the tick's token, and its lease while that still
# names the tick: KEYS are (lease, lock) pairs.
_RENEW_READS = """
for i = 1, #KEYS, 2 do
  if redis.call('get', KEYS[i + 1]) == ARGV[1] then
    redis.call('pexpire', KEYS[i + 1], ARGV[3])
    if ARGV[2] ~= '' and redis.call('get', KEYS[i]) == ARGV[2] then
      redis.call('pexpire', KEYS[i], ARGV[3])
    end
  end
end
return 0
"""


class TickReads:
    """The reads of one node watch tick, each under its session's lease and run lock as a
    job of that session would be (session_run), with one heartbeat thread for the whole
    tick. Sessions are claimed and finished a batch at a time, one round trip to Redis
    per batch: a round trip per read was a third of a tick's time (bench: thousand VMs)."""

    def __init__(self, worker_id: uuid.UUID, job_id: str | None, read_started: float):
        self.worker_id = worker_id
        self.job_id = job_id
        self.read_started = read_started
        self.ttl = float(current_app.config["JOB_HEARTBEAT_SECONDS"])
        self.token = uuid.uuid4().hex
        self.redis = get_redis()
        # The (lease, lock) keys of each session whose lock the tick holds; the heartbeat
        # thread has no app context to name them.
        self._held: dict[uuid.UUID, tuple[str, str]] = {}
        self._guard = threading.Lock()
        self._done = threading.Event()
        self._beat = threading.Thread(target=self._renew, name="tick-heartbeat", daemon=True)

    def __enter__(self) -> TickReads:
        self._beat.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._done.set()

    def claim(self, session_ids: list[uuid.UUID]) -> list[uuid.UUID]:
        """The sessions among ``session_ids`` this tick may read now (their locks are then
        held), in the same order."""
        if not session_ids:
            return []
        pairs = [(_lease_key(sid), _run_lock_key(sid)) for sid in session_ids]
        mine = self.redis.eval(
            _CLAIM_READS,
            2 * len(pairs),
            *(key for pair in pairs for key in pair),
            self.job_id or "",
            self.token,
            int(self.ttl * 1000),
        )
        held = {sid: pair for sid, pair, flag in zip(session_ids, pairs, mine, strict=True) if flag}
        with self._guard:
            self._held.update(held)
        return list(held)

    def finish(self, reads: list[tuple[uuid.UUID, bool]]) -> None:
        """For each claimed (session, again): join the node's next tick when ``again``, and
        let go of the session's lock. A session this tick did not claim is left alone."""
        with self._guard:
            held = [(sid, again) for sid, again in reads if self._held.pop(sid, None)]
        if held:
            _finish_reads(
                self.worker_id, self.read_started, self.job_id, held, lock_token=self.token
            )

    def _renew(self) -> None:
        while not self._done.wait(self.ttl / 3):
            with self._guard:
                keys = [key for pair in self._held.values() for key in pair]
            if not keys:
                continue
            try:
                self.redis.eval(
                    _RENEW_READS,
                    len(keys),
                    *keys,
                    self.token,
                    self.job_id or "",
                    int(self.ttl * 1000),
                )
            except RedisError:  # Redis away for a moment; the next beat tries again
                continue


def current_job_id() -> str | None:
    """The running RQ job's id in this thread, or None outside a job."""
    job = get_current_job()
    return job.id if job is not None else None


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
def session_run(
    session_id: uuid.UUID, running: str | None = None, again: str | None = None
) -> Iterator[bool]:
    """Yield True when the current job (or the job ``running``, for a node's watch tick
    whose threads RQ does not know) may act on the session, False for a duplicate.

    With ``again`` (a kind of JOB_FUNCTIONS), a job that is the session's own but finds
    another holding the run lock (a node's tick reading the log for a moment) is not
    a duplicate: a new ``again`` job is scheduled BUSY_RETRY_SECONDS later, taking the
    lease, instead of leaving the session to the sweep once the lease runs out."""
    redis_conn = get_redis()
    running = running or current_job_id()
    lease_key = _lease_key(session_id)
    ttl = float(current_app.config["JOB_HEARTBEAT_SECONDS"])
    job_id = None
    if running is not None:
        lease = redis_conn.get(lease_key)
        if lease is not None and lease.decode() != running:
            yield False
            return
        if lease is not None:  # still ours: the heartbeat keeps it while we run
            job_id = running
            redis_conn.pexpire(lease_key, int(ttl * 1000))
    # Not thread-local: the heartbeat thread renews the token this thread acquired.
    lock = redis_conn.lock(_run_lock_key(session_id), timeout=ttl, thread_local=False)
    if not lock.acquire(blocking=False):
        if again is not None and running is not None:
            enqueue_session_job(again, session_id, delay=BUSY_RETRY_SECONDS)
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
