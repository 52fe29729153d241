"""A node tick's reads hold each session's lease and run lock as that session's own job
would: claimed only when free and the tick's, kept alive past their time-to-live by the
tick's one heartbeat, let go (or handed to the next tick) when each read ends."""

from __future__ import annotations

import time
import uuid

import pytest

from vpsshop.queue import get_redis
from vpsshop.services import session_jobs
from vpsshop.services.session_jobs import TickReads

HEARTBEAT = 1.0


@pytest.fixture
def app_config():
    return {"JOB_HEARTBEAT_SECONDS": HEARTBEAT, "WATCH_INTERVAL_SECONDS": 3.0}


def _lease(sid: uuid.UUID) -> bytes | None:
    return get_redis().get(session_jobs._lease_key(sid))


def _lock(sid: uuid.UUID) -> bytes | None:
    return get_redis().get(session_jobs._run_lock_key(sid))


def _give_lease(sid: uuid.UUID, job_id: str, seconds: float = HEARTBEAT) -> None:
    get_redis().set(session_jobs._lease_key(sid), job_id, px=int(seconds * 1000))


def test_a_long_read_keeps_its_lock_and_lease_then_lets_go(app):
    sid, worker_id = uuid.uuid4(), uuid.uuid4()
    _give_lease(sid, "tick-1")
    with TickReads(worker_id, "tick-1", time.monotonic()) as reads:
        assert reads.claim(sid)
        time.sleep(HEARTBEAT * 2.5)  # past both time-to-lives: only renewals keep them
        assert _lock(sid) == reads.token.encode()
        assert _lease(sid) == b"tick-1"
        with session_jobs.session_run(sid, running="tick-1") as mine:
            assert not mine  # the tick's read still runs
        reads.finish(sid, again=False)
        assert _lock(sid) is None
    with session_jobs.session_run(sid, running="tick-1") as mine:
        assert mine


def test_a_read_that_looks_again_hands_the_lease_to_the_next_tick(app):
    sid, worker_id = uuid.uuid4(), uuid.uuid4()
    _give_lease(sid, "tick-1", seconds=60)
    with TickReads(worker_id, "tick-1", time.monotonic()) as reads:
        assert reads.claim(sid)
        reads.finish(sid, again=True)
    lease = _lease(sid).decode()
    assert lease.startswith(f"watchnode-{worker_id}-") and lease != "tick-1"
    assert _lock(sid) is None
    # A second session of the node joins the same next tick.
    other = uuid.uuid4()
    assert session_jobs.join_node_watch(other, worker_id, time.monotonic(), None) == lease


def test_a_tick_claims_no_session_another_job_owns_or_runs(app):
    worker_id = uuid.uuid4()
    leased, running, free = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    _give_lease(leased, "stop-elsewhere", seconds=60)
    _give_lease(running, "tick-1", seconds=60)
    _give_lease(free, "tick-1", seconds=60)
    with session_jobs.session_run(running, running="tick-1") as theirs:
        assert theirs
        held = _lock(running)
        with TickReads(worker_id, "tick-1", time.monotonic()) as reads:
            assert not reads.claim(leased)
            assert not reads.claim(running)
            assert reads.claim(free)
            # Finishing what it never claimed touches neither lock nor lease.
            reads.finish(running, again=False)
            assert _lock(running) == held
            reads.finish(free, again=True)
    assert _lease(leased) == b"stop-elsewhere"
    assert _lock(leased) is None
    # A join never overwrites the lease of a newer job.
    assert session_jobs.join_node_watch(leased, worker_id, time.monotonic(), "tick-1") is None
    assert _lease(leased) == b"stop-elsewhere"
