"""An RQ worker killed with SIGKILL in the middle of the watch or the stop job."""

from __future__ import annotations

import time

import pytest

from tests.helpers import coins, fresh, refunds
from tests.reliability.conftest import FINAL, wait_for
from vpsshop.extensions import db as _db
from vpsshop.models import User
from vpsshop.services import provisioning, sweeper
from vpsshop.services.purchase import purchase
from vpsshop.services.sessions import request_delete

pytestmark = pytest.mark.usefixtures("invariant")

LEASE = 2.0


@pytest.fixture
def app_config(app_config):
    # A short lease, so a dead worker's job is known lost after 2 s instead of 60 s.
    return {**app_config, "JOB_LEASE_SECONDS": LEASE}


def _recover(run_jobs, session_ids, done) -> bool:
    """What the periodic sweep does after a crash, run here until every session is done."""

    def settled() -> bool:
        sweeper.sweep()
        return all(done(fresh(sid)) for sid in session_ids)

    return run_jobs(until=settled, timeout=30)


def test_sigkill_during_the_watch_still_reaches_ready(
    start_rq_worker, run_jobs, make_sim_node, make_user, make_worker, make_product
):
    node = make_sim_node(faults={"log": "hang"}, hang_max_seconds=30)
    user = make_user(coins=5)
    sid = purchase(user, make_product([make_worker(node.url)], price=5).id).id
    provisioning.provision(sid)  # the watch job is now scheduled
    # The worker's log read waits far longer than it takes to kill it.
    worker = start_rq_worker(SWEEP_INTERVAL_SECONDS=3600, NODE_LOG_READ_TIMEOUT=20)
    assert wait_for(lambda: node.stats["log"] >= 1, timeout=30), "the watch never ran"
    worker.kill()
    node.set_fault("log", None)
    time.sleep(LEASE + 0.5)  # the dead job's lease and run lock expire

    assert _recover(run_jobs, [sid], lambda s: s.status in ("ready", *FINAL))
    session = fresh(sid)
    assert session.status == "ready" and refunds(sid) == 0
    assert coins(user.id) == 0
    assert node.active_vms == [session.worker_route]


def test_sigkill_during_the_stop_still_ends_deleted_with_at_most_one_refund(
    start_rq_worker, run_jobs, make_sim_node, make_user, make_worker, make_product
):
    node = make_sim_node(hang_max_seconds=30)
    product = make_product([make_worker(node.url)], price=5)
    owner = make_user(coins=10)
    ready = purchase(owner, product.id).id
    assert run_jobs(until=lambda: fresh(ready).status == "ready")
    node.configure(boot_seconds=600)  # the next VM never becomes ready
    booting = purchase(owner, product.id).id
    provisioning.provision(booting)
    assert fresh(booting).status == "provisioning"
    _db.session.expire_all()
    user = _db.session.get(User, owner.id)

    node.set_fault("stop", "hang")
    # The never-ready session is refunded at once; the ready one never is.
    for sid in (ready, booting):
        assert request_delete(user, sid).status == "stopping"
    assert refunds(booting) == 1 and refunds(ready) == 0
    worker = start_rq_worker(SWEEP_INTERVAL_SECONDS=3600, NODE_READ_TIMEOUT=20)
    assert wait_for(lambda: node.stats["stop"] >= 1, timeout=30), "no stop job ran"
    worker.kill()
    node.set_fault("stop", None)
    time.sleep(LEASE + 0.5)

    assert _recover(run_jobs, [ready, booting], lambda s: s.status in FINAL)
    for sid in (ready, booting):
        session = fresh(sid)
        assert session.status == "deleted" and session.vm_stopped_at is not None
    assert refunds(booting) == 1 and refunds(ready) == 0
    assert node.active_vms == []
    assert coins(owner.id) == 5
