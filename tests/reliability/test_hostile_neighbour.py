"""One hostile node's sessions do not hold up another user's on a single worker."""

from __future__ import annotations

import time

import pytest

from tests.helpers import fresh, status_is
from tests.reliability.conftest import wait_for
from vpsshop.services import provisioning
from vpsshop.services.purchase import purchase

pytestmark = pytest.mark.usefixtures("invariant")


def test_a_healthy_session_is_ready_while_a_node_dribbles_its_headers(
    start_rq_worker, make_sim_node, make_user, make_worker, make_product
):
    hostile = make_sim_node(
        faults={"log": "dribble_headers"}, dribble_seconds=0.1, hang_max_seconds=120
    )
    healthy = make_sim_node(boot_seconds=1.0)
    user = make_user(coins=10)
    bad = purchase(user, make_product([make_worker(hostile.url)], price=5).id).id
    provisioning.provision(bad)  # its watch jobs now meet the dribbling log, one by one
    start_rq_worker(SWEEP_INTERVAL_SECONDS=3600)
    assert wait_for(lambda: hostile.stats["log"] >= 2, timeout=30)

    started = time.monotonic()
    good = purchase(user, make_product([make_worker(healthy.url)], price=5).id).id
    assert wait_for(status_is(good, "ready"), timeout=30)
    # Each of its few jobs waits behind at most one cut-off call (1.5 s here).
    assert time.monotonic() - started < 15
    assert fresh(bad).status == "provisioning"
