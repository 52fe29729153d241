"""Coin packs, checkout through the stand-in, the buyer's payments (API)."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, select

from tests.helpers import coins
from vpsshop.extensions import db as _db
from vpsshop.models import CoinTransaction, Payment


def test_packs_lists_only_active_ones_cheapest_first(client, make_user, api_token, make_pack):
    big = make_pack(coins=300, price_minor=2000, name="Large")
    small = make_pack(coins=50, price_minor=500, name="Starter")
    make_pack(coins=10, price_minor=100, name="Retired", is_active=False)
    token = api_token(make_user())
    response = client.get("/api/v1/billing/packs", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    packs = response.get_json()["packs"]
    assert [p["id"] for p in packs] == [str(small.id), str(big.id)]
    assert packs[0] == {
        "id": str(small.id),
        "name": "Starter",
        "coins": 50,
        "price_minor": 500,
        "currency": "eur",
        "is_active": True,
    }


def test_packs_and_checkout_need_a_token(client):
    assert client.get("/api/v1/billing/packs").status_code == 401
    assert client.post("/api/v1/billing/checkout", json={}).status_code == 401
    assert client.get("/api/v1/billing/payments").status_code == 401


def test_checkout_creates_a_pending_payment_and_a_stripe_session(
    client, make_user, api_token, make_pack, standin
):
    user = make_user()
    pack = make_pack(coins=120, price_minor=1000)
    token = api_token(user)
    response = client.post(
        "/api/v1/billing/checkout",
        json={"pack_id": str(pack.id)},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 201, response.get_json()
    body = response.get_json()["payment"]
    assert body["status"] == "pending"
    assert (body["coins"], body["amount_minor"], body["currency"]) == (120, 1000, "eur")
    session = standin.sessions[_db.session.get(Payment, uuid.UUID(body["id"])).provider_session_id]
    assert body["checkout_url"] == session["url"]
    # What the shop sent to Stripe: one-off price, our payment id in three places.
    call = next(c for c in standin.api_calls if c["path"] == "/v1/checkout/sessions")
    assert call["idempotency_key"] == body["id"]
    assert session["mode"] == "payment"
    assert session["amount_total"] == 1000 and session["currency"] == "eur"
    assert session["client_reference_id"] == body["id"]
    assert session["metadata"] == {"payment_id": body["id"]}
    assert session["success_url"] == f"http://shop.test/billing/payments/{body['id']}"
    assert session["cancel_url"] == f"http://shop.test/billing/payments/{body['id']}/cancelled"
    assert ("line_items[0][price_data][unit_amount]", "1000") in call["form"]
    # Nothing is credited before the webhook says so.
    assert coins(user.id) == 0


def test_checkout_bad_input_is_a_clear_4xx(client, make_user, api_token, make_pack):
    token = api_token(make_user())
    headers = {"Authorization": f"Bearer {token}"}
    inactive = make_pack(is_active=False)
    cases = [
        ({"pack_id": "nope"}, 400, "invalid_pack_id"),
        ({"pack_id": 5}, 400, "invalid_pack_id"),
        ({}, 400, "invalid_pack_id"),
        ({"pack_id": str(uuid.uuid4())}, 404, "pack_not_found"),
        ({"pack_id": str(inactive.id)}, 404, "pack_not_found"),
    ]
    for body, status, code in cases:
        response = client.post("/api/v1/billing/checkout", json=body, headers=headers)
        assert (response.status_code, response.get_json()["error"]) == (status, code), body
    response = client.post("/api/v1/billing/checkout", data="[", headers=headers)
    assert response.status_code == 400
    assert _db.session.execute(select(func.count(Payment.id))).scalar() == 0


def test_stripe_unreachable_fails_the_payment_with_a_clear_message(
    app, client, make_user, api_token, make_pack, closed_port
):
    app.config["STRIPE_API_BASE"] = f"http://127.0.0.1:{closed_port}"
    user = make_user()
    pack = make_pack()
    response = client.post(
        "/api/v1/billing/checkout",
        json={"pack_id": str(pack.id)},
        headers={"Authorization": f"Bearer {api_token(user)}"},
    )
    assert response.status_code == 503
    body = response.get_json()
    assert body["error"] == "payment_provider_unavailable"
    assert "Nothing was charged" in body["message"]
    # No payment is left pending: it is failed, with the reason.
    (payment,) = _db.session.execute(select(Payment)).scalars().all()
    assert payment.status == "failed" and "could not be reached" in payment.error


def test_stripe_answering_500_fails_the_payment(client, make_user, api_token, make_pack, standin):
    standin.api_fault = "500"
    pack = make_pack()
    response = client.post(
        "/api/v1/billing/checkout",
        json={"pack_id": str(pack.id)},
        headers={"Authorization": f"Bearer {api_token(make_user())}"},
    )
    assert response.status_code == 503
    assert _db.session.execute(select(Payment.status)).scalar_one() == "failed"


def test_checkout_without_a_stripe_key_says_payments_are_off(
    app, client, make_user, api_token, make_pack
):
    app.config["STRIPE_SECRET_KEY"] = ""
    pack = make_pack()
    response = client.post(
        "/api/v1/billing/checkout",
        json={"pack_id": str(pack.id)},
        headers={"Authorization": f"Bearer {api_token(make_user())}"},
    )
    assert (response.status_code, response.get_json()["error"]) == (503, "payments_not_configured")


def test_payments_lists_only_the_callers_own(client, make_user, api_token, checkout):
    mine, theirs = make_user(), make_user()
    own = checkout(mine)
    checkout(theirs)
    response = client.get(
        "/api/v1/billing/payments", headers={"Authorization": f"Bearer {api_token(mine)}"}
    )
    assert [p["id"] for p in response.get_json()["payments"]] == [str(own.id)]
    assert _db.session.execute(select(func.count(CoinTransaction.id))).scalar() == 0


def test_open_payments_older_than_a_day_expire_in_the_sweep(app, make_user, checkout):
    from datetime import timedelta

    from vpsshop.models.types import utcnow
    from vpsshop.services import sweeper

    user = make_user()
    old, fresh_one, flagged = checkout(user), checkout(user), checkout(user)
    for payment in (old, flagged):
        payment.created_at = utcnow() - timedelta(hours=25)
    flagged.flag = "Amount mismatch"
    _db.session.commit()
    counts = sweeper.sweep()
    assert counts["payments_expired"] == 1
    _db.session.expire_all()
    assert _db.session.get(Payment, old.id).status == "expired"
    assert _db.session.get(Payment, fresh_one.id).status == "pending"
    assert _db.session.get(Payment, flagged.id).status == "pending"  # waits for an admin


class TestCheckoutRateLimit:
    @pytest.fixture
    def app_config(self, stripe_config):
        from tests.security.test_rate_limits import limits

        return {**stripe_config, **limits(purchases_per_user="2 per minute")}

    def test_checkouts_share_the_purchase_allowance(self, client, make_user, api_token, make_pack):
        pack = make_pack()
        headers = {"Authorization": f"Bearer {api_token(make_user())}"}
        body = {"pack_id": str(pack.id)}
        for _ in range(2):
            assert (
                client.post("/api/v1/billing/checkout", json=body, headers=headers).status_code
                == 201
            )
        refused = client.post("/api/v1/billing/checkout", json=body, headers=headers)
        assert refused.status_code == 429
        assert _db.session.execute(select(func.count(Payment.id))).scalar() == 2
