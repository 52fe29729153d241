"""One watch job per node per tick: every provisioning session of the node read, each
under its own lease, at most WATCH_NODE_CONCURRENCY reads at once."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from rq.registry import ScheduledJobRegistry
from sqlalchemy import update

from tests.helpers import assert_ledger_invariant, fresh, sql_statements, status_is
from vpsshop.models import Worker
from vpsshop.queue import get_redis, get_watch_queue
from vpsshop.services import node_watch, provisioning, session_jobs
from vpsshop.services.purchase import purchase
from vpsshop.simulator.node import SimulatedNode

SESSIONS = 6


@pytest.fixture
def app_config():
    return {
        "WATCH_INTERVAL_SECONDS": 0.2,
        "WATCH_NODE_CONCURRENCY": 2,
        "NODE_CONNECT_TIMEOUT": 1.0,
        "NODE_READ_TIMEOUT": 2.0,
        "NODE_LOG_READ_TIMEOUT": 2.0,
        "PROVISION_TIMEOUT_SECONDS": 60,
        "JOB_LEASE_SECONDS": 5.0,
        "JOB_HEARTBEAT_SECONDS": 2.0,
    }


@pytest.fixture(autouse=True)
def _invariant(app):
    yield
    assert_ledger_invariant()


class CountingNode(SimulatedNode):
    """A simulated node that keeps the most log reads it served at the same time."""

    def __init__(self, **options):
        super().__init__(**options)
        self.guard = threading.Lock()
        self.now = 0
        self.most = 0

    def wsgi_app(self, environ, start_response):
        reading = environ.get("PATH_INFO", "").startswith("/log/")
        if reading:
            with self.guard:
                self.now += 1
                self.most = max(self.most, self.now)
        try:
            return super().wsgi_app(environ, start_response)
        finally:
            if reading:
                with self.guard:
                    self.now -= 1


@pytest.fixture
def node():
    started = CountingNode(boot_seconds=1.5, capacity=100, quiet=True).start()
    yield started
    started.stop()


def _provisioning_sessions(make_user, make_worker, make_product, node, count=SESSIONS):
    worker = make_worker(node.url, max_sessions=count)
    product = make_product([worker], price=1, action=2)
    ids = []
    for _ in range(count):
        session = purchase(make_user(coins=1), product.id)
        provisioning.provision(session.id)  # created on the node, first look scheduled
        ids.append(session.id)
    return worker, ids


def _leases(ids) -> set[str]:
    redis_conn = get_redis()
    return {redis_conn.get(session_jobs._lease_key(sid)).decode() for sid in ids}


def test_every_session_of_a_node_joins_one_tick_and_becomes_ready(
    run_jobs, node, make_user, make_worker, make_product
):
    worker, ids = _provisioning_sessions(make_user, make_worker, make_product, node)
    # Every create joined one tick, due at once in the watch queue.
    leases = _leases(ids)
    assert len(leases) == 1
    (tick,) = leases
    assert tick.startswith(f"watchnode-{worker.id}-")
    assert get_watch_queue().job_ids == [tick]
    for sid in ids:
        provisioning.watch(sid)  # a look outside the tick: not booted yet, joins it again
    assert _leases(ids) == {tick}
    assert tick not in ScheduledJobRegistry(queue=get_watch_queue()).get_job_ids()
    assert run_jobs(until=lambda: all(status_is(sid, "ready")() for sid in ids), timeout=30)
    assert all(fresh(sid).rdp_password_encrypted for sid in ids)
    # Each tick read all six logs, never more than WATCH_NODE_CONCURRENCY at once.
    assert node.stats["log"] >= 2 * SESSIONS
    assert 1 <= node.most <= 2


def test_a_tick_leaves_a_session_whose_lease_another_job_holds(
    run_jobs, node, make_user, make_worker, make_product
):
    worker, ids = _provisioning_sessions(make_user, make_worker, make_product, node, count=2)
    for sid in ids:
        provisioning.watch(sid)
    (tick,) = _leases(ids)
    left_route = fresh(ids[1]).worker_route
    reads_before = _reads(node, left_route)
    # A newer job takes the second session's lease (as a delete's stop job does).
    get_redis().set(session_jobs._lease_key(ids[1]), "stop-elsewhere", ex=60)
    assert session_jobs.join_node_watch(ids[1], worker.id, 0.0, tick) is None
    assert get_redis().get(session_jobs._lease_key(ids[1])) == b"stop-elsewhere"
    assert run_jobs(until=status_is(ids[0], "ready"), timeout=30)
    assert fresh(ids[1]).status == "provisioning"  # left to the job that owns it
    assert _reads(node, left_route) == reads_before


def _reads(node, route) -> int:
    return sum(1 for r in node.requests if r["endpoint"] == "log" and r.get("route") == route)


def _tick_statements(worker_id, *, expect_reads: int) -> list[str]:
    """One tick of the node, and the SQL it sent (upper case, one line each)."""
    with sql_statements() as statements:
        assert node_watch.watch_node(worker_id) == expect_reads
    return [" ".join(statement.split()).upper() for statement in statements]


def test_a_failed_read_counts_once_per_tick_and_the_next_good_tick_clears_it(
    make_user, make_worker, make_product
):
    node = CountingNode(boot_seconds=600, capacity=100, quiet=True).start()
    try:
        worker, ids = _provisioning_sessions(make_user, make_worker, make_product, node, count=3)
        node.set_fault("log", "500")
        assert node_watch.watch_node(worker.id) == 3  # one tick, three failed reads
        assert fresh(ids[0]).worker.consecutive_failures == 1
        node.clear_faults()
        assert node_watch.watch_node(worker.id) == 3
        assert fresh(ids[0]).worker.consecutive_failures == 0
        assert all(fresh(sid).status == "provisioning" for sid in ids)  # still booting
    finally:
        node.stop()


def test_a_read_of_a_server_still_booting_locks_and_writes_no_session_row(
    db, make_user, make_worker, make_product
):
    node = CountingNode(boot_seconds=600, capacity=100, quiet=True).start()
    try:
        worker, ids = _provisioning_sessions(make_user, make_worker, make_product, node, count=3)
        statements = _tick_statements(worker.id, expect_reads=3)
        assert node.stats["log"] == 3
        assert not [s for s in statements if "FOR UPDATE" in s or "VPS_SESSIONS SET" in s]
        assert not [s for s in statements if s.startswith(("INSERT", "DELETE"))]
        # Each still joined the node's next tick.
        (tick,) = _leases(ids)
        assert tick.startswith(f"watchnode-{worker.id}-")
        assert all(fresh(sid).status == "provisioning" for sid in ids)
    finally:
        node.stop()


def test_a_tick_of_a_node_seen_moments_ago_reads_its_row_once_and_writes_nothing(
    db, make_user, make_worker, make_product
):
    node = CountingNode(boot_seconds=600, capacity=100, quiet=True).start()
    try:
        worker, ids = _provisioning_sessions(make_user, make_worker, make_product, node, count=3)
        # Seen long ago: the tick's success writes last_seen_at.
        db.session.execute(
            update(Worker)
            .where(Worker.id == worker.id)
            .values(last_seen_at=datetime.now(UTC) - timedelta(hours=1))
        )
        db.session.commit()
        assert node_watch.watch_node(worker.id) == 3
        seen = fresh(ids[0]).worker.last_seen_at
        assert seen > datetime.now(UTC) - timedelta(minutes=1)
        db.session.rollback()

        statements = _tick_statements(worker.id, expect_reads=3)
        worker_reads = [s for s in statements if s.startswith("SELECT") and "FROM WORKERS" in s]
        assert len(worker_reads) == 1  # the targets' read; no second look at the row
        assert not [s for s in statements if s.startswith(("UPDATE", "INSERT", "DELETE"))]
        assert fresh(ids[0]).worker.last_seen_at == seen
        assert node.stats["log"] == 6
    finally:
        node.stop()


def test_a_good_tick_clears_a_failure_counted_after_a_recent_success(
    db, make_user, make_worker, make_product
):
    node = CountingNode(boot_seconds=600, capacity=100, quiet=True).start()
    try:
        worker, ids = _provisioning_sessions(make_user, make_worker, make_product, node, count=2)
        assert node_watch.watch_node(worker.id) == 2  # seen just now
        db.session.execute(
            update(Worker).where(Worker.id == worker.id).values(consecutive_failures=2)
        )
        db.session.commit()
        assert node_watch.watch_node(worker.id) == 2
        assert fresh(ids[0]).worker.consecutive_failures == 0
    finally:
        node.stop()
