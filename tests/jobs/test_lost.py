"""A ready VM its node no longer knows becomes ``lost``: final, slot free, not refunded."""

from __future__ import annotations

import pytest

from tests.helpers import QUICK_JOBS, coins, fresh, refunds, status_is
from tests.reliability.conftest import wait_for
from vpsshop.models import SessionStatus
from vpsshop.services import log_proxy, sweeper, workers
from vpsshop.services.purchase import purchase

INTERVAL = 2.0


@pytest.fixture
def app_config() -> dict:
    return {
        **QUICK_JOBS,
        "SWEEP_INTERVAL_SECONDS": INTERVAL,
        "LOST_CHECK_INTERVAL_SECONDS": INTERVAL,
        "LOG_CACHE_SECONDS": 0.2,
    }


def _ready_session(run_jobs, make_sim_node, make_user, make_worker, make_product):
    node = make_sim_node()
    worker = make_worker(node.url, max_sessions=1)
    user = make_user(coins=10)
    sid = purchase(user, make_product([worker], price=5).id).id
    assert run_jobs(until=status_is(sid, "ready"))
    return node, worker, user, sid


def _assert_lost(worker, user, sid) -> None:
    session = fresh(sid)
    assert session.status == "lost" and session.ended_at is not None
    assert session.vm_stopped_at is not None  # nothing left for a stop job to do
    assert workers.active_session_counts([worker.id]).get(worker.id, 0) == 0
    assert refunds(sid) == 0 and coins(user.id) == 5


def test_node_restarted_while_ready_is_lost_within_the_check_interval(
    start_rq_worker, make_sim_node, make_user, make_worker, make_product, run_jobs, client, login
):
    node, worker, user, sid = _ready_session(
        run_jobs, make_sim_node, make_user, make_worker, make_product
    )
    start_rq_worker()
    node.forget_vms()
    # One sweep interval to notice, one more of slack for the check job to run.
    assert wait_for(status_is(sid, "lost"), timeout=2 * INTERVAL + 5)
    _assert_lost(worker, user, sid)

    login(user)
    page = client.get(f"/vps/sessions/{sid}").get_data(as_text=True)
    assert 'data-testid="lost"' in page and "not refunded" in page
    assert 'data-testid="credentials"' not in page
    assert "Delete this server" not in page
    delete_page = client.get(f"/vps/sessions/{sid}/delete").get_data(as_text=True)
    assert "already ended (lost)" in delete_page


def test_the_log_proxy_seeing_404_ends_a_ready_session_as_lost(
    run_jobs, make_sim_node, make_user, make_worker, make_product
):
    node, worker, user, sid = _ready_session(
        run_jobs, make_sim_node, make_user, make_worker, make_product
    )
    node.forget_vms()
    assert log_proxy.read_log(fresh(sid)).state == "gone"
    assert run_jobs(until=status_is(sid, "lost"), timeout=10)
    _assert_lost(worker, user, sid)
    # The slot is free: the next purchase on the one-slot node gets a server.
    sid2 = purchase(fresh(sid).user, fresh(sid).product_id).id
    assert run_jobs(until=status_is(sid2, "ready"))


def test_a_node_that_is_only_down_loses_nothing(
    run_jobs, make_sim_node, make_user, make_worker, make_product
):
    from vpsshop.services import provisioning

    node, _, _, sid = _ready_session(run_jobs, make_sim_node, make_user, make_worker, make_product)
    node.set_fault("log", "500")
    provisioning.check_ready(sid)
    assert fresh(sid).status == "ready"


@pytest.mark.parametrize(
    "app_config", [{"LOST_CHECKS_PER_SWEEP": 5, "LOST_CHECK_INTERVAL_SECONDS": 600}]
)
def test_a_sweep_looks_at_a_bounded_number_of_ready_sessions(make_user, make_worker, make_product):
    # Thousands of ready sessions must not fill the queue ahead of new purchases' jobs.
    from rq import Queue

    from tests.shop.factories import add_session
    from vpsshop.queue import get_queue

    product = make_product([make_worker(max_sessions=50)])
    user = make_user()
    for _ in range(12):
        add_session(user, product, SessionStatus.READY)
    queue: Queue = get_queue()

    def checked() -> list[str]:
        return [job.args[0] for job in queue.get_jobs() if job.func_name.endswith("check_session")]

    assert sweeper.sweep()["check"] == 5
    assert sweeper.sweep()["check"] == 5
    assert sweeper.sweep()["check"] == 2  # every session looked at once in the interval
    assert sweeper.sweep()["check"] == 0
    assert len(checked()) == len(set(checked())) == 12
