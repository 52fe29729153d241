"""Redis down: purchases refused uncharged, other pages served, the sweeper finishes later."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from tests.conftest import make_test_config
from tests.helpers import coins, fresh, get_csrf_token, refunds, status_is
from tests.reliability.conftest import FAST_TIMEOUTS, drain
from vpsshop import create_app
from vpsshop.extensions import db as _db
from vpsshop.models import VpsSession
from vpsshop.queue import get_redis
from vpsshop.services import provisioning, sweeper
from vpsshop.services.purchase import purchase

pytestmark = pytest.mark.usefixtures("invariant")


@pytest.fixture
def app_config(app_config, closed_port):
    # The app under test talks to a Redis that refuses connections.
    return {**app_config, "REDIS_URL": f"redis://127.0.0.1:{closed_port}/0"}


@pytest.fixture
def redis_up_app():
    """The same database with the real test Redis: what the shop sees once Redis is back."""
    up = create_app(make_test_config(**FAST_TIMEOUTS))
    yield up
    with up.app_context():
        _db.session.remove()
        _db.engine.dispose()


def _sessions() -> int:
    _db.session.expire_all()
    return _db.session.execute(select(func.count()).select_from(VpsSession)).scalar()


def test_redis_outage_end_to_end(
    app, redis_up_app, client, login, api_token, sim_node, make_user, make_worker, make_product
):
    product = make_product([make_worker(sim_node.url)], price=5)
    user = make_user(coins=20)

    # Before the outage: one session ready, one paid whose provision job is queued.
    with redis_up_app.app_context():
        ready = purchase(_db.session.merge(user), product.id).id
        provisioning.provision(ready)
        provisioning.watch(ready)
        assert fresh(ready).status == "ready"
        pending = purchase(_db.session.merge(user), product.id).id
        # Redis comes back empty (no persistence): every queued job and lease is lost.
        get_redis().flushdb()
    assert coins(user.id) == 10

    # During the outage: pages that only read the database work.
    assert client.get("/login").status_code == 200
    assert client.get("/").status_code == 200
    login(user)
    assert client.get("/").status_code == 200
    listing = client.get("/vps/sessions")
    assert listing.status_code == 200 and str(ready)[:8] in listing.get_data(as_text=True)
    detail = client.get(f"/vps/sessions/{ready}")
    assert detail.status_code == 200
    assert 'data-state="unavailable"' in detail.get_data(as_text=True)
    assert client.get(f"/vps/sessions/{ready}/status").status_code == 200
    health = client.get("/healthz")
    assert health.status_code == 503 and "redis" in health.get_data(as_text=True).lower()

    token = api_token(user)
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/me", headers=headers).get_json()["coins"] == 10
    assert len(client.get("/api/v1/vps/sessions", headers=headers).get_json()["sessions"]) == 2
    log = client.get(f"/api/v1/vps/sessions/{ready}/log", headers=headers)
    assert log.status_code == 503 and log.get_json()["error"] == "log_unavailable"

    # A purchase needs the queue: 503 with a clear message, and no coin kept.
    response = client.post(
        "/api/v1/vps/purchase-and-create", json={"product_id": str(product.id)}, headers=headers
    )
    assert response.status_code == 503, response.get_json()
    body = response.get_json()
    assert body["error"] == "service_unavailable" and "not charged" in body["message"]
    assert coins(user.id) == 10 and _sessions() == 3
    page = client.get(f"/buy/{product.id}")
    assert page.status_code == 200
    form = client.post(
        f"/buy/{product.id}",
        data={
            "csrf_token": get_csrf_token(client, f"/buy/{product.id}"),
            "purchase_key": "k" * 32,
        },
    )
    assert form.status_code == 503 and "not charged" in form.get_data(as_text=True)
    assert coins(user.id) == 10
    failed = _db.session.execute(
        select(VpsSession.id).where(VpsSession.status == "failed")
    ).scalars()
    assert all(refunds(sid) == 1 for sid in failed)

    # Deleting is recorded at once; its stop job waits for Redis (the sweeper sends it).
    deleted = client.delete(f"/api/v1/vps/sessions/{ready}", headers=headers)
    assert deleted.status_code == 202, deleted.get_data(as_text=True)
    assert deleted.get_json()["session"]["status"] == "stopping"

    # Redis is back: the sweeper finds both sessions with no job coming and finishes them.
    with redis_up_app.app_context():
        counts = sweeper.sweep()
        assert counts["provision"] == 1 and counts["stop"] == 1, counts
    assert drain(
        redis_up_app,
        until=lambda: status_is(ready, "deleted")() and status_is(pending, "ready")(),
        timeout=20,
    )
    assert sim_node.active_vms == [fresh(pending).worker_route]
    assert refunds(ready) == 0 and refunds(pending) == 0
    assert coins(user.id) == 10
