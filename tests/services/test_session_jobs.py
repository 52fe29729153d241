"""A node tick's reads hold each session's lease and run lock as that session's own job
would: claimed only when free and the tick's, kept alive past their time-to-live by the
tick's one heartbeat, let go (or handed to the next tick) when each batch of reads ends,
one round trip to Redis per batch for each."""

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
        assert reads.claim([sid]) == [sid]
        time.sleep(HEARTBEAT * 2.5)  # past both time-to-lives: only renewals keep them
        assert _lock(sid) == reads.token.encode()
        assert _lease(sid) == b"tick-1"
        with session_jobs.session_run(sid, running="tick-1") as mine:
            assert not mine  # the tick's read still runs
        reads.finish([(sid, False)])
        assert _lock(sid) is None
    with session_jobs.session_run(sid, running="tick-1") as mine:
        assert mine


def test_a_read_that_looks_again_hands_the_lease_to_the_next_tick(app):
    sid, worker_id = uuid.uuid4(), uuid.uuid4()
    _give_lease(sid, "tick-1", seconds=60)
    with TickReads(worker_id, "tick-1", time.monotonic()) as reads:
        assert reads.claim([sid]) == [sid]
        reads.finish([(sid, True)])
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
            # One round trip for all three: only the free one of the tick's is claimed.
            assert reads.claim([leased, running, free]) == [free]
            # Finishing what it never claimed touches neither lock nor lease.
            reads.finish([(running, False), (leased, True), (free, True)])
            assert _lock(running) == held
            assert _lock(free) is None
    assert _lease(leased) == b"stop-elsewhere"
    assert _lock(leased) is None
    # A join never overwrites the lease of a newer job.
    assert session_jobs.join_node_watch(leased, worker_id, time.monotonic(), "tick-1") is None
    assert _lease(leased) == b"stop-elsewhere"


class CountingRedis:
    """The real Redis client, counting the scripts sent through it."""

    def __init__(self, client):
        self.client = client
        self.scripts = 0

    def eval(self, *args):
        self.scripts += 1
        return self.client.eval(*args)


def test_a_batch_is_claimed_and_finished_in_one_round_trip_each(app, monkeypatch):
    worker_id = uuid.uuid4()
    batch = [uuid.uuid4() for _ in range(8)]
    for sid in batch:
        _give_lease(sid, "tick-1", seconds=60)
    counting = CountingRedis(get_redis())
    monkeypatch.setattr(session_jobs, "get_redis", lambda: counting)
    with TickReads(worker_id, "tick-1", time.monotonic()) as reads:
        assert reads.claim(batch) == batch
        assert counting.scripts == 1
        assert all(_lock(sid) == reads.token.encode() for sid in batch)
        # A stop takes the last session's lease while its read runs.
        _give_lease(batch[-1], "stop-1", seconds=60)
        reads.finish([(sid, sid != batch[0]) for sid in batch])
        assert counting.scripts == 2
    ticks = {_lease(sid) for sid in batch[1:-1]}
    assert len(ticks) == 1 and ticks.pop().startswith(f"watchnode-{worker_id}-".encode())
    assert _lease(batch[0]) == b"tick-1"  # done: not handed on
    assert _lease(batch[-1]) == b"stop-1"  # a newer job's lease is never overwritten
    assert all(_lock(sid) is None for sid in batch)
