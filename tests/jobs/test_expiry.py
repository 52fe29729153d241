"""A session is stopped at its expiry time, by its own scheduled job, not by the sweeper."""

from __future__ import annotations

from datetime import timedelta

import pytest
from rq import Worker

from tests.helpers import QUICK_JOBS, fresh, status_is
from tests.reliability.conftest import wait_for
from vpsshop.extensions import db
from vpsshop.models.types import utcnow
from vpsshop.queue import get_queue
from vpsshop.services import provisioning
from vpsshop.services.purchase import purchase


@pytest.fixture
def app_config() -> dict:
    return {
        **QUICK_JOBS,
        # The sweeper never runs in this test: only the expiry job can stop the session.
        "SWEEP_INTERVAL_SECONDS": 3600,
    }


@pytest.mark.parametrize("fraction", [0.1, 0.9])
def test_a_short_session_stops_within_seconds_of_its_expiry(
    start_rq_worker, run_jobs, sim_node, make_user, make_worker, make_product, fraction
):
    user = make_user(coins=5)
    sid = purchase(user, make_product([make_worker(sim_node.url)], duration=1).id).id
    assert run_jobs(until=status_is(sid, "ready"))
    start_rq_worker()
    assert wait_for(lambda: Worker.count(queue=get_queue()) > 0, timeout=20)
    # A one-minute product, ended early: an expiry a fraction of a second past a whole
    # second (RQ schedules whole seconds; the old job ran before it and did nothing).
    session = fresh(sid)
    now = utcnow()
    session.expires_at = now.replace(microsecond=0) + timedelta(seconds=3 + fraction)
    expires_at = session.expires_at
    db.session.commit()
    provisioning.schedule_expiry(sid, expires_at)  # what the watch does when ready
    assert wait_for(status_is(sid, "expired"), timeout=20)
    session = fresh(sid)
    assert session.vm_stopped_at is not None and sim_node.active_vms == []
    late = (session.ended_at - expires_at).total_seconds()
    assert 0 <= late < 3, late


def test_the_watch_schedules_the_expiry_at_its_time(
    run_jobs, redis_conn, sim_node, make_user, make_worker, make_product
):
    user = make_user(coins=5)
    sid = purchase(user, make_product([make_worker(sim_node.url)], duration=10).id).id
    assert run_jobs(until=status_is(sid, "ready"))
    registry = get_queue().scheduled_job_registry
    (job_id,) = [j for j in registry.get_job_ids() if j.startswith("expire-")]
    scheduled = registry.get_scheduled_time(job_id)
    expires_at = fresh(sid).expires_at
    assert timedelta(0) <= scheduled - expires_at <= timedelta(seconds=1)
