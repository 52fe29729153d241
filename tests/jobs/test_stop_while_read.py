"""A stop or an expiry that finds a node tick reading the session's log runs again a moment
later, instead of waiting for its lease to run out and the sweep to repair it."""

from __future__ import annotations

import threading
import time
import uuid

import pytest
from rq.job import Job

from tests.helpers import assert_ledger_invariant, fresh, status_is
from vpsshop.queue import get_redis
from vpsshop.services import provisioning, session_jobs
from vpsshop.services import sessions as session_service
from vpsshop.services.purchase import purchase

READ_SECONDS = 2.0


@pytest.fixture
def app_config():
    # A lease far longer than the test: only the job's own retry can stop the VM in time.
    return {
        "JOB_LEASE_SECONDS": 300.0,
        "SWEEP_INTERVAL_SECONDS": 300.0,
        "NODE_READ_TIMEOUT": 10.0,
        "NODE_LOG_READ_TIMEOUT": 10.0,
        "WATCH_INTERVAL_SECONDS": 3.0,
    }


@pytest.fixture(autouse=True)
def _invariant(app):
    yield
    assert_ledger_invariant()


def _run_lock_held(session_id) -> bool:
    return get_redis().exists(session_jobs._run_lock_key(session_id)) == 1


def _reading(app, session_id) -> threading.Thread:
    """The session's node tick, run as RQ runs it (its job current) in its own thread; its
    read of the log trickles over READ_SECONDS."""
    tick_id = get_redis().get(session_jobs._lease_key(session_id)).decode()
    assert tick_id.startswith("watchnode-")
    tick = Job.fetch(tick_id, connection=get_redis())

    def run() -> None:
        with app.app_context():
            tick.perform()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_a_delete_during_a_read_stops_the_vm_once_the_read_is_over(
    app, run_jobs, make_sim_node, make_user, make_worker, make_product
):
    node = make_sim_node(boot_seconds=600, faults={"log": "slow"}, slow_seconds=READ_SECONDS)
    worker = make_worker(node.url, max_sessions=2)
    product = make_product([worker], price=1, action=2)
    user = make_user(coins=1)
    session = purchase(user, product.id)
    provisioning.provision(session.id)
    route = fresh(session.id).worker_route
    reader = _reading(app, session.id)
    deadline = time.monotonic() + 5
    while not _run_lock_held(session.id) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _run_lock_held(session.id)

    session_service.request_delete(user, session.id)
    assert fresh(session.id).status == "stopping"
    assert run_jobs(until=status_is(session.id, "deleted"), timeout=30)
    reader.join(15)
    stops = [r for r in node.requests if r["endpoint"] == "stop" and r.get("route") == route]
    assert len(stops) == 1
    assert fresh(session.id).vm_stopped_at is not None


def test_a_stop_outside_a_job_or_a_duplicate_schedules_nothing(app):
    sid = uuid.uuid4()
    lock = get_redis().lock(session_jobs._run_lock_key(sid), timeout=30)
    assert lock.acquire(blocking=False)
    try:
        # Not in a job: nothing to run again.
        with session_jobs.session_run(sid, again="stop") as mine:
            assert not mine
        assert get_redis().get(session_jobs._lease_key(sid)) is None
        # A job whose lease another job took is a duplicate, lock or not.
        get_redis().set(session_jobs._lease_key(sid), "stop-newer", ex=60)
        with session_jobs.session_run(sid, running="stop-older", again="stop") as mine:
            assert not mine
        assert get_redis().get(session_jobs._lease_key(sid)) == b"stop-newer"
        # The session's own job, the lock held by a reader: a new stop job takes over.
        get_redis().set(session_jobs._lease_key(sid), "stop-mine", ex=60)
        with session_jobs.session_run(sid, running="stop-mine", again="stop") as mine:
            assert not mine
        lease = get_redis().get(session_jobs._lease_key(sid)).decode()
        assert lease.startswith(f"stop-{sid}-") and lease != "stop-mine"
    finally:
        lock.release()
