"""ETags and 304s of the polled API reads: the session JSON and the catalogue."""

from __future__ import annotations

import pytest
import redis

from tests.api.test_vps_api import bearer
from tests.conftest import TEST_REDIS_URL
from tests.shop.factories import add_session
from vpsshop.extensions import db as _db
from vpsshop.models import SessionStatus, VpsProduct, VpsSession
from vpsshop.services import crypto, ledger


@pytest.fixture
def product(make_worker, make_product):
    return make_product([make_worker()], price=5, action=2, duration=60, name="Windows Box")


@pytest.fixture
def owner(make_user, api_token):
    user = make_user(coins=20)
    return user, bearer(api_token(user))


def _get(client, url, headers, etag=None):
    extra = {"If-None-Match": etag} if etag else {}
    return client.get(url, headers={**headers, **extra})


def test_an_unchanged_session_answers_an_empty_304(client, owner, product):
    user, headers = owner
    url = f"/api/v1/vps/sessions/{add_session(user, product).id}"
    first = _get(client, url, headers)
    assert first.status_code == 200
    assert first.headers["Cache-Control"] == "private, no-cache"
    etag = first.headers["ETag"]
    again = _get(client, url, headers, etag)
    assert again.status_code == 304
    assert again.get_data() == b""
    assert again.headers["ETag"] == etag
    assert _get(client, url, headers, '"something-else"').status_code == 200


def test_a_304_never_crosses_users(client, owner, make_user, api_token, product):
    user, headers = owner
    session = add_session(user, product)
    url = f"/api/v1/vps/sessions/{session.id}"
    etag = _get(client, url, headers).headers["ETag"]
    stranger = bearer(api_token(make_user()))
    assert _get(client, url, stranger, etag).status_code == 404
    admin = bearer(api_token(make_user(admin=True)))
    looked = _get(client, url, admin, etag)
    assert looked.status_code == 200 and looked.headers["ETag"] != etag


def test_a_revoked_token_gets_no_304(client, db, owner, product):
    user, headers = owner
    url = f"/api/v1/vps/sessions/{add_session(user, product).id}"
    etag = _get(client, url, headers).headers["ETag"]
    from vpsshop.models import ApiToken

    _db.session.query(ApiToken).delete()
    _db.session.commit()
    assert _get(client, url, headers, etag).status_code == 401


def _change_status(session: VpsSession) -> None:
    session.status = SessionStatus.PROVISIONING
    session.worker_route = "quack_1"


def _make_ready(session: VpsSession) -> None:
    from vpsshop.models.types import utcnow

    session.status = SessionStatus.READY
    session.ready_at = utcnow()
    session.rdp_host, session.rdp_port, session.rdp_user = "203.0.113.9", 3389, "Admin"
    session.rdp_password_encrypted = crypto.encrypt("first-password")


def _new_password(session: VpsSession) -> None:
    session.rdp_password_encrypted = crypto.encrypt("second-password")


def _error(session: VpsSession) -> None:
    session.error = "The node said no."


def _rename_product(session: VpsSession) -> None:
    _db.session.get(VpsProduct, session.product_id).name = "Renamed Box"


@pytest.mark.parametrize(
    "change", [_change_status, _make_ready, _new_password, _error, _rename_product]
)
def test_the_etag_moves_with_every_shown_field(client, owner, product, change):
    user, headers = owner
    session = add_session(user, product, SessionStatus.READY)
    url = f"/api/v1/vps/sessions/{session.id}"
    before = _get(client, url, headers)
    change(_db.session.get(VpsSession, session.id))
    _db.session.commit()
    after = _get(client, url, headers, before.headers["ETag"])
    assert after.status_code == 200
    assert after.get_json() != before.get_json()
    assert after.headers["ETag"] != before.headers["ETag"]


def test_a_refund_moves_the_etag(client, owner, product):
    user, headers = owner
    session = add_session(user, product, SessionStatus.FAILED)
    url = f"/api/v1/vps/sessions/{session.id}"
    etag = _get(client, url, headers).headers["ETag"]
    ledger.refund(_db.session.get(VpsSession, session.id), "Refund for the test.")
    _db.session.commit()
    assert _get(client, url, headers, etag).status_code == 200


def test_versions_never_repeat_after_redis_loses_them(client, owner, product):
    user, headers = owner
    url = f"/api/v1/vps/sessions/{add_session(user, product).id}"
    etag = _get(client, url, headers).headers["ETag"]
    redis.Redis.from_url(TEST_REDIS_URL).flushdb()
    fresh = _get(client, url, headers, etag)
    assert fresh.status_code == 200 and fresh.headers["ETag"] != etag


@pytest.mark.parametrize("app_config", [{"REDIS_URL": "redis://127.0.0.1:1/0"}])
def test_without_redis_every_answer_is_whole_and_has_no_etag(client, owner, product):
    user, headers = owner
    url = f"/api/v1/vps/sessions/{add_session(user, product).id}"
    response = _get(client, url, headers, "*")
    assert response.status_code == 200 and "ETag" not in response.headers


def test_the_catalogue_etag_moves_with_price_and_availability(
    client, owner, make_user, make_worker, make_product
):
    _, headers = owner
    worker = make_worker(max_sessions=1)
    box = make_product([worker], price=3, name="Tiny")
    url = "/api/v1/vps/products"
    first = _get(client, url, headers)
    assert _get(client, url, headers, first.headers["ETag"]).status_code == 304

    _db.session.get(VpsProduct, box.id).price_coins = 4
    _db.session.commit()
    priced = _get(client, url, headers, first.headers["ETag"])
    assert priced.status_code == 200 and priced.get_json()["products"][0]["price_coins"] == 4

    add_session(make_user(), box, SessionStatus.READY, worker_id=worker.id)
    sold_out = _get(client, url, headers, priced.headers["ETag"])
    assert sold_out.status_code == 200
    assert sold_out.get_json()["products"][0]["available"] is False


def test_a_nodes_good_calls_leave_every_etag_but_a_reset_of_its_failures_moves_the_catalogue(
    app, client, owner, make_worker, product
):
    from datetime import timedelta

    from vpsshop.models import Worker
    from vpsshop.services import workers

    user, headers = owner
    session_url = f"/api/v1/vps/sessions/{add_session(user, product).id}"
    catalogue_url = "/api/v1/vps/products"
    (worker_id,) = [w.id for w in _db.session.get(VpsProduct, product.id).workers]
    session_etag = _get(client, session_url, headers).headers["ETag"]
    catalogue_etag = _get(client, catalogue_url, headers).headers["ETag"]

    # A healthy node whose "Last seen" is stale: the create or tick writes last_seen_at.
    node = _db.session.get(Worker, worker_id)
    node.last_seen_at = None
    _db.session.commit()
    for _ in range(2):  # the first writes, the second finds it fresh
        workers.note_seen(worker_id)
        _db.session.commit()
    assert _db.session.get(Worker, worker_id).last_seen_at is not None
    assert _get(client, session_url, headers, session_etag).status_code == 304
    assert _get(client, catalogue_url, headers, catalogue_etag).status_code == 304

    # A node back from failures may sell again: the catalogue's ETag moves.
    node = _db.session.get(Worker, worker_id)
    node.consecutive_failures = 5
    node.last_seen_at = node.last_seen_at - timedelta(minutes=1)
    _db.session.commit()
    failing_etag = _get(client, catalogue_url, headers).headers["ETag"]
    workers.note_seen(worker_id)
    _db.session.commit()
    _db.session.expire_all()
    assert _db.session.get(Worker, worker_id).consecutive_failures == 0
    assert _get(client, catalogue_url, headers, failing_etag).status_code == 200
