"""The API of a session's time: POST /vps/sessions/<id>/extend and the waitlist routes."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from tests.helpers import assert_ledger_invariant, coins
from tests.shop.factories import add_session
from vpsshop.extensions import db
from vpsshop.models import SessionStatus
from vpsshop.models.types import utcnow


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def buyer(make_user, api_token):
    user = make_user(coins=20)
    return user, bearer(api_token(user))


@pytest.fixture
def running(buyer, make_worker, make_product):
    """A ready session of an extendable one-slot product, ending in 5 minutes."""
    user, _ = buyer
    worker = make_worker(max_sessions=1)
    product = make_product([worker], price=5, duration=30, name="Short One")
    product.extend_minutes, product.extend_price_coins, product.max_total_minutes = 60, 4, 120
    db.session.commit()
    session = add_session(
        user,
        product,
        SessionStatus.READY,
        worker_id=worker.id,
        expires_at=utcnow() + timedelta(minutes=5),
    )
    return product, session


def test_extend_answers_the_session_with_its_new_end(client, buyer, running):
    user, headers = buyer
    product, session = running
    before = session.expires_at
    response = client.post(
        f"/api/v1/vps/sessions/{session.id}/extend", headers={**headers, "Idempotency-Key": "k1"}
    )
    assert response.status_code == 200, response.get_json()
    body = response.get_json()["session"]
    assert body["expires_at"] == (before + timedelta(minutes=60)).isoformat()
    # 5 minutes left + 60 is within the 120-minute cap; another 60 would not be.
    assert body["extension"] == {
        "minutes": 60,
        "price_coins": 4,
        "possible": False,
        "reason": "A server of this kind runs at most 120 minutes in all.",
    }
    again = client.post(
        f"/api/v1/vps/sessions/{session.id}/extend", headers={**headers, "Idempotency-Key": "k1"}
    )
    assert (
        again.status_code == 200 and again.get_json()["session"]["expires_at"] == body["expires_at"]
    )
    assert coins(user.id) == 16
    assert_ledger_invariant()


def test_extend_refusals_have_codes(client, buyer, running, make_user, api_token):
    user, headers = buyer
    product, session = running
    url = f"/api/v1/vps/sessions/{session.id}/extend"
    stranger = bearer(api_token(make_user(coins=50)))
    assert client.post(url, headers=stranger).get_json()["error"] == "session_not_found"
    assert (
        client.post(f"/api/v1/vps/sessions/{uuid.uuid4()}/extend", headers=headers).status_code
        == 404
    )
    bad_key = client.post(url, headers={**headers, "Idempotency-Key": " "})
    assert bad_key.status_code == 400 and bad_key.get_json()["error"] == "invalid_idempotency_key"
    assert client.post(url).status_code == 401
    # Past the cap: 30 + 60 would be fine, 30 + 60 + 60 is past 120.
    assert client.post(url, headers=headers).status_code == 200
    capped = client.post(url, headers=headers)
    assert capped.status_code == 409 and capped.get_json()["error"] == "not_extendable"
    assert coins(user.id) == 16
    assert_ledger_invariant()


def test_extend_without_coins_is_402(client, make_user, api_token, running):
    product, session = running
    poor = make_user(coins=3)
    mine = add_session(
        poor,
        product,
        SessionStatus.READY,
        worker_id=product.workers[0].id,
        expires_at=utcnow() + timedelta(minutes=5),
    )
    response = client.post(
        f"/api/v1/vps/sessions/{mine.id}/extend", headers=bearer(api_token(poor))
    )
    assert response.status_code == 402 and response.get_json()["error"] == "insufficient_coins"
    assert coins(poor.id) == 3
    assert_ledger_invariant()


def test_waitlist_join_list_leave(client, buyer, running, make_user, api_token):
    _, owner_headers = buyer
    product, _ = running  # its one slot is taken
    waiter = make_user(coins=5)
    headers = bearer(api_token(waiter))
    url = f"/api/v1/vps/products/{product.id}/waitlist"
    joined = client.post(url, headers=headers)
    assert joined.status_code == 201
    entry = joined.get_json()["entry"]
    assert {"id", "product_id", "position", "status", "created_at"} <= set(entry)
    assert entry["position"] == 1 and entry["status"] == "waiting"
    twice = client.post(url, headers=headers)
    assert twice.status_code == 200 and twice.get_json()["entry"]["id"] == entry["id"]
    listed = client.get("/api/v1/vps/waitlist", headers=headers).get_json()["entries"]
    assert [e["id"] for e in listed] == [entry["id"]]
    assert client.get("/api/v1/vps/waitlist", headers=owner_headers).get_json()["entries"] == []
    products = client.get("/api/v1/vps/products", headers=headers).get_json()["products"]
    mine = next(p for p in products if p["id"] == str(product.id))
    assert mine["available"] is False and mine["free_slots"] == 0 and mine["waiting"] == 1
    assert mine["waitlist_position"] == 1 and mine["waitlist_entry_id"] == entry["id"]
    assert mine["next_slot_expected_at"] is not None
    # Someone else's entry is missing to them; leaving twice is fine.
    assert (
        client.delete(f"/api/v1/vps/waitlist/{entry['id']}", headers=owner_headers).status_code
        == 404
    )
    assert client.delete(f"/api/v1/vps/waitlist/{entry['id']}", headers=headers).status_code == 204
    assert client.delete(f"/api/v1/vps/waitlist/{entry['id']}", headers=headers).status_code == 204
    listed = client.get("/api/v1/vps/waitlist", headers=headers).get_json()["entries"]
    assert listed[0]["status"] == "cancelled" and listed[0]["position"] is None


def test_join_refusals(client, buyer, make_worker, make_product):
    _, headers = buyer
    free = make_product([make_worker()], price=5)
    available = client.post(f"/api/v1/vps/products/{free.id}/waitlist", headers=headers)
    assert available.status_code == 409 and available.get_json()["error"] == "available"
    missing = client.post(f"/api/v1/vps/products/{uuid.uuid4()}/waitlist", headers=headers)
    assert missing.status_code == 404 and missing.get_json()["error"] == "product_not_found"
    assert client.post(f"/api/v1/vps/products/{free.id}/waitlist").status_code == 401


def test_admin_api_product_extension_fields(client, make_user, api_token, make_worker):
    headers = bearer(api_token(make_user(admin=True)))
    body = {
        "name": "Timed",
        "price_coins": 5,
        "provision_action": 3,
        "duration_minutes": 30,
        "is_active": True,
        "worker_ids": [str(make_worker().id)],
        "extend_minutes": 60,
        "extend_price_coins": 4,
        "max_total_minutes": 180,
    }
    created = client.post("/api/v1/admin/products", json=body, headers=headers)
    assert created.status_code == 201, created.get_json()
    product = created.get_json()["product"]
    assert (
        product["extend_minutes"],
        product["extend_price_coins"],
        product["max_total_minutes"],
    ) == (60, 4, 180)
    url = f"/api/v1/admin/products/{product['id']}"
    for bad, code in [
        ({"extend_minutes": 0}, "invalid_extend_minutes"),
        ({"extend_price_coins": True}, "invalid_extend_price_coins"),
        ({"max_total_minutes": 10}, "invalid_max_total_minutes"),
        ({"duration_minutes": None}, "invalid_extend_minutes"),
        ({"extend_price_coins": None}, "invalid_extend_price_coins"),
    ]:
        refused = client.patch(url, json=bad, headers=headers)
        assert refused.status_code == 400 and refused.get_json()["error"] == code, bad
    cleared = client.patch(
        url, json={"extend_minutes": None, "extend_price_coins": None}, headers=headers
    )
    assert cleared.status_code == 200 and cleared.get_json()["product"]["extend_minutes"] is None
