"""One provisioning per session: a slow node never leaves a second VM running."""

from __future__ import annotations

import threading
import time

import pytest

from jobs.provisioning import provision_session
from tests.helpers import fresh
from vpsshop.services import provisioning
from vpsshop.services.purchase import purchase


@pytest.fixture
def app_config() -> dict:
    return {
        "NODE_CONNECT_TIMEOUT": 1.0,
        "NODE_READ_TIMEOUT": 5.0,
        "NODE_LOG_READ_TIMEOUT": 2.0,
        # The old run lock lasted JOB_LEASE_SECONDS: shorter than the node's create.
        "JOB_LEASE_SECONDS": 1.0,
        "JOB_HEARTBEAT_SECONDS": 1.0,
    }


def _in_threads(app, target, sid, delays) -> None:
    def run(delay: float) -> None:
        time.sleep(delay)
        with app.app_context():
            target(sid)

    threads = [threading.Thread(target=run, args=(delay,)) for delay in delays]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)


def _slow_session(make_sim_node, make_user, make_worker, make_product):
    node = make_sim_node(faults={"create": "slow"}, slow_seconds=3.0)
    user = make_user(coins=5)
    sid = purchase(user, make_product([make_worker(node.url)], price=5).id).id
    return node, sid


def test_a_job_longer_than_its_lease_is_never_run_twice_at_once(
    app, make_sim_node, make_user, make_worker, make_product
):
    node, sid = _slow_session(make_sim_node, make_user, make_worker, make_product)
    # The second copy starts well after the first one's original lock time is over.
    _in_threads(app, lambda s: provision_session(str(s)), sid, [0.0, 2.0])
    session = fresh(sid)
    assert node.stats["create"] == 1
    assert session.status == "provisioning"
    assert node.active_vms == [session.worker_route]


def test_a_second_create_that_gets_through_is_stopped(
    app, make_sim_node, make_user, make_worker, make_product
):
    """Two runs past every lock (a fencing check at commit): one VM kept, one stopped."""
    node, sid = _slow_session(make_sim_node, make_user, make_worker, make_product)
    _in_threads(app, provisioning.provision, sid, [0.0, 0.5])
    session = fresh(sid)
    assert node.stats["create"] == 2 and node.stats["stop"] == 1
    assert session.status == "provisioning"
    assert node.active_vms == [session.worker_route]
