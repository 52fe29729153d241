"""The session lifecycle through real RQ workers against simulated nodes over HTTP."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

import jobs.provisioning as provisioning_jobs
from tests.helpers import assert_ledger_invariant, coins, fresh, refunds, status_is
from vpsshop.extensions import db as _db
from vpsshop.models import User
from vpsshop.models.types import utcnow
from vpsshop.services import crypto, sweeper
from vpsshop.services.purchase import purchase
from vpsshop.services.session_jobs import clear_lease
from vpsshop.services.sessions import request_delete
from vpsshop.simulator.node import SimulatedNode

FINAL = ("deleted", "expired", "failed")


@pytest.fixture
def app_config():
    return {
        "WATCH_INTERVAL_SECONDS": 0.2,
        "NODE_CONNECT_TIMEOUT": 1.0,
        "NODE_READ_TIMEOUT": 2.0,
        "NODE_LOG_READ_TIMEOUT": 2.0,
        "STOP_RETRY_BASE_SECONDS": 0.2,
        "STOP_RETRY_MAX_SECONDS": 1.0,
        "PROVISION_TIMEOUT_SECONDS": 60,
        "JOB_LEASE_SECONDS": 5.0,
        "JOB_HEARTBEAT_SECONDS": 2.0,
    }


@pytest.fixture
def nodes():
    """Factory of started simulated nodes, all stopped at teardown."""
    started: list[SimulatedNode] = []

    def start(**options) -> SimulatedNode:
        options.setdefault("boot_seconds", 0.3)
        node = SimulatedNode(**options).start()
        started.append(node)
        return node

    yield start
    for node in started:
        node.stop()


@pytest.fixture(autouse=True)
def _invariant(app):
    yield
    assert_ledger_invariant()


def buy(make_user, make_worker, make_product, node_list, *, price=5, action=2, duration=None):
    user = make_user(coins=price * 2)
    workers = [make_worker(node.url) for node in node_list]
    product = make_product(workers, price=price, action=action, duration=duration)
    session = purchase(user, product.id)
    return user, workers, session.id


def test_happy_path_reaches_ready_with_the_nodes_credentials(
    run_jobs, nodes, make_user, make_worker, make_product
):
    node = nodes()
    user, _, sid = buy(make_user, make_worker, make_product, [node])
    assert run_jobs(until=status_is(sid, "ready"))
    session = fresh(sid)
    details = node.vm(session.worker_route)
    assert details is not None
    assert session.log_url == f"/log/{session.worker_route}"
    assert (session.rdp_host, session.rdp_port, session.rdp_user) == (
        details["host"],
        details["port"],
        details["username"],
    )
    assert crypto.decrypt(session.rdp_password_encrypted) == details["password"]
    assert details["password"] not in session.rdp_password_encrypted
    assert session.ready_at is not None and session.expires_at is None
    assert node.stats["create"] == 1
    assert coins(user.id) == 5 and refunds(sid) == 0


def test_duration_sets_expiry_and_expiry_stops_the_vm(
    run_jobs, nodes, make_user, make_worker, make_product
):
    node = nodes()
    _, _, sid = buy(make_user, make_worker, make_product, [node], duration=30)
    assert run_jobs(until=status_is(sid, "ready"))
    session = fresh(sid)
    assert timedelta(minutes=29) < session.expires_at - session.ready_at <= timedelta(minutes=30)
    session.expires_at = utcnow() - timedelta(seconds=1)
    _db.session.commit()
    clear_lease(sid)  # the expire job scheduled in 30 minutes is not what we wait for
    assert sweeper.sweep()["expired"] == 1
    assert run_jobs(until=status_is(sid, "expired"))
    session = fresh(sid)
    assert session.vm_stopped_at is not None and session.ended_at is not None
    assert node.stats["stop"] == 1 and node.active_vms == []
    assert refunds(sid) == 0


def test_failover_past_a_busy_and_a_broken_node(
    run_jobs, nodes, make_user, make_worker, make_product
):
    busy, broken, good = nodes(faults={"create": "busy"}), nodes(faults={"create": "500"}), nodes()
    user = make_user(coins=10)
    workers = [make_worker(n.url) for n in (busy, broken, good)]
    # One session already on the good node makes it the last choice (least loaded first).
    filler = purchase(make_user(coins=5), make_product([workers[2]], price=5).id)
    product = make_product(workers, price=5)
    sid = purchase(user, product.id).id
    assert fresh(sid).worker_id in (workers[0].id, workers[1].id)
    assert run_jobs(until=status_is(sid, "ready"))
    session = fresh(sid)
    assert session.worker_id == workers[2].id
    assert busy.stats["create"] == 1 and broken.stats["create"] == 1
    _db.session.refresh(workers[0])
    _db.session.refresh(workers[1])
    assert workers[0].consecutive_failures == 0  # busy is not unhealthy
    assert workers[1].consecutive_failures == 1 and workers[1].last_error
    assert coins(user.id) == 5 and refunds(sid) == 0
    assert filler.id != sid


def test_every_node_failing_fails_with_one_refund(
    run_jobs, nodes, make_user, make_worker, make_product
):
    bad = [nodes(faults={"create": "500"}), nodes(faults={"create": "non_json"})]
    user, _, sid = buy(make_user, make_worker, make_product, bad)
    assert run_jobs(until=status_is(sid, "failed"))
    session = fresh(sid)
    assert "Refunded" in session.error
    assert [n.stats["create"] for n in bad] == [1, 1]
    assert coins(user.id) == 10 and refunds(sid) == 1
    provisioning_jobs.provision_session(str(sid))  # run again: nothing more
    assert coins(user.id) == 10 and refunds(sid) == 1
    assert [n.stats["create"] for n in bad] == [1, 1]


def test_failure_line_fails_refunds_and_stops_the_vm(
    run_jobs, nodes, make_user, make_worker, make_product
):
    node = nodes(faults={"log": "failure_line"})
    user, _, sid = buy(make_user, make_worker, make_product, [node])
    assert run_jobs(until=lambda: fresh(sid).vm_stopped_at is not None)
    session = fresh(sid)
    assert session.status == "failed" and "failure" in session.error
    assert session.rdp_password_encrypted is None
    assert node.stats["stop"] == 1
    assert coins(user.id) == 10 and refunds(sid) == 1


class TestProvisioningTimeout:
    @pytest.fixture
    def app_config(self, app_config):
        return {**app_config, "PROVISION_TIMEOUT_SECONDS": 1}

    def test_a_vm_not_ready_in_time_fails_and_is_stopped(
        self, run_jobs, nodes, make_user, make_worker, make_product
    ):
        node = nodes(boot_seconds=600)
        user, _, sid = buy(make_user, make_worker, make_product, [node])
        assert run_jobs(until=lambda: fresh(sid).vm_stopped_at is not None, timeout=20)
        session = fresh(sid)
        assert session.status == "failed" and "not ready in time" in session.error
        assert node.stats["stop"] == 1
        assert coins(user.id) == 10 and refunds(sid) == 1


def test_delete_stops_the_vm_and_ends_deleted(
    run_jobs, nodes, make_user, make_worker, make_product
):
    node = nodes()
    user, _, sid = buy(make_user, make_worker, make_product, [node])
    assert run_jobs(until=status_is(sid, "ready"))
    session = request_delete(_db.session.get(User, user.id), sid)
    assert session.status == "stopping"
    assert run_jobs(until=status_is(sid, "deleted"))
    session = fresh(sid)
    stops = [r for r in node.requests if r["endpoint"] == "stop"]
    assert [r["route"] for r in stops] == [session.worker_route]
    assert coins(user.id) == 5 and refunds(sid) == 0  # a ready session is never refunded


def test_delete_while_pending_refunds_without_creating(
    run_jobs, nodes, make_user, make_worker, make_product
):
    node = nodes()
    user, _, sid = buy(make_user, make_worker, make_product, [node])
    assert request_delete(_db.session.get(User, user.id), sid).status == "deleted"
    assert run_jobs()
    assert fresh(sid).status == "deleted"
    assert node.stats["create"] == 0
    assert coins(user.id) == 10 and refunds(sid) == 1


def test_delete_while_provisioning_refunds_and_stops(
    run_jobs, nodes, make_user, make_worker, make_product
):
    node = nodes(boot_seconds=600)
    user, _, sid = buy(make_user, make_worker, make_product, [node])
    assert run_jobs(until=status_is(sid, "provisioning"))
    request_delete(_db.session.get(User, user.id), sid)
    assert run_jobs(until=status_is(sid, "deleted"))
    assert node.stats["stop"] == 1
    assert coins(user.id) == 10 and refunds(sid) == 1


def test_a_stop_that_fails_twice_then_succeeds(
    run_jobs, nodes, make_user, make_worker, make_product
):
    node = nodes()
    user, _, sid = buy(make_user, make_worker, make_product, [node])
    assert run_jobs(until=status_is(sid, "ready"))
    node.configure(fail_stops=2)
    request_delete(_db.session.get(User, user.id), sid)
    assert run_jobs(until=lambda: fresh(sid).stop_attempts >= 1)
    assert "Stopping failed" in fresh(sid).error  # what an admin sees meanwhile
    assert run_jobs(until=status_is(sid, "deleted"))
    session = fresh(sid)
    assert node.stats["stop"] == 3 and session.stop_attempts == 2
    assert session.error is None


def test_running_each_job_twice_changes_nothing_more(
    run_jobs, nodes, make_user, make_worker, make_product
):
    node = nodes()
    user, _, sid = buy(make_user, make_worker, make_product, [node])
    assert run_jobs(until=status_is(sid, "ready"))
    for job in (provisioning_jobs.provision_session, provisioning_jobs.watch_session):
        job(str(sid))
        job(str(sid))
    assert node.stats["create"] == 1
    before = fresh(sid)
    ready_at, password = before.ready_at, before.rdp_password_encrypted
    request_delete(_db.session.get(User, user.id), sid)
    assert run_jobs(until=status_is(sid, "deleted"))
    provisioning_jobs.stop_session(str(sid))
    provisioning_jobs.stop_session(str(sid))
    provisioning_jobs.expire_session(str(sid))
    after = fresh(sid)
    assert after.status == "deleted" and node.stats["stop"] == 1
    assert after.ready_at == ready_at and after.rdp_password_encrypted == password
    assert coins(user.id) == 5 and refunds(sid) == 0
    assert request_delete(_db.session.get(User, user.id), sid).status == "deleted"


def test_sweeper_restarts_a_pending_session_whose_job_was_lost(
    run_jobs, redis_conn, nodes, make_user, make_worker, make_product
):
    node = nodes()
    _, _, sid = buy(make_user, make_worker, make_product, [node])
    redis_conn.flushdb()  # the queued job and its lease are gone
    assert sweeper.sweep()["provision"] == 1
    assert sweeper.sweep()["provision"] == 0  # a lease now says a job is coming
    assert run_jobs(until=status_is(sid, "ready"))
    assert node.stats["create"] == 1


class TestWorkerKilled:
    @pytest.fixture
    def app_config(self, app_config):
        return {**app_config, "JOB_LEASE_SECONDS": 2.0, "NODE_READ_TIMEOUT": 20.0}

    def test_sigkill_during_provision_ends_in_a_final_state_with_one_refund_at_most(
        self, run_jobs, start_rq_worker, nodes, make_user, make_worker, make_product
    ):
        node = nodes(faults={"create": "hang"}, hang_max_seconds=30)
        user, _, sid = buy(make_user, make_worker, make_product, [node])
        worker = start_rq_worker(SWEEP_INTERVAL_SECONDS=3600)
        deadline = time.monotonic() + 20
        while node.stats["create"] == 0 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert node.stats["create"] == 1, "the worker never called the node"
        worker.kill()
        node.set_fault("create", None)
        time.sleep(2.5)  # the dead job's lease and run lock expire

        def settled() -> bool:
            sweeper.sweep()
            return fresh(sid).status in ("ready", *FINAL)

        assert run_jobs(until=settled, timeout=30)
        session = fresh(sid)
        assert session.status == "ready"
        assert refunds(sid) <= 1
        assert coins(user.id) == 5
