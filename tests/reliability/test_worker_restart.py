"""A worker killed and started again at once: scheduled work runs again within a minute."""

from __future__ import annotations

import time

import pytest

from tests.helpers import fresh, refunds
from tests.reliability.conftest import wait_for
from vpsshop.services import provisioning
from vpsshop.services.purchase import purchase

pytestmark = pytest.mark.usefixtures("invariant")


def test_sigkill_mid_watch_then_restart_is_ready_within_a_minute(
    start_rq_worker, make_sim_node, make_user, make_worker, make_product
):
    """Nothing but the restarted worker (its sweeper and scheduled jobs) repairs it."""
    node = make_sim_node(faults={"log": "hang"}, hang_max_seconds=120)
    user = make_user(coins=5)
    sid = purchase(user, make_product([make_worker(node.url)], price=5).id).id
    provisioning.provision(sid)  # the watch job is queued
    # Production-like lease, heartbeat and scheduler; a sweep every 10 s.
    env = {
        "SWEEP_INTERVAL_SECONDS": 10,
        "NODE_LOG_READ_TIMEOUT": 30,
        "JOB_LEASE_SECONDS": 60,
        "JOB_HEARTBEAT_SECONDS": 10,
        "SCHEDULER_TICK_SECONDS": 1,
    }
    first = start_rq_worker(**env)
    assert wait_for(lambda: node.stats["log"] >= 1, timeout=30), "the watch never ran"
    time.sleep(1.5)  # the scheduler has run and holds whatever it holds
    first.kill()
    node.set_fault("log", None)
    restarted = time.monotonic()
    start_rq_worker(**env)

    assert wait_for(lambda: fresh(sid).status != "provisioning", timeout=60, step=0.5)
    took = time.monotonic() - restarted
    session = fresh(sid)
    assert session.status == "ready", (session.status, session.error)
    assert took < 60 and refunds(sid) == 0
    assert node.active_vms == [session.worker_route]
