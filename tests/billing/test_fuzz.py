"""Random bodies to the billing endpoints (Hypothesis): a clear 4xx, never a 500."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from tests.fixtures.stripe import WEBHOOK_PATH, signed_headers
from tests.reliability.test_bad_input import assert_json_refusal, json_values, raw_bodies
from vpsshop.extensions import db as _db
from vpsshop.models import CoinTransaction, Payment

SETTINGS = settings(
    max_examples=40,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
EVENT_TYPES = [
    "checkout.session.completed",
    "checkout.session.async_payment_succeeded",
    "checkout.session.async_payment_failed",
    "checkout.session.expired",
    "charge.refunded",
    "charge.dispute.created",
    "customer.created",
]
# Events shaped like Stripe's, with any values where the fields go.
objects = st.fixed_dictionaries(
    {},
    optional={
        key: json_values
        for key in (
            "id",
            "amount_total",
            "currency",
            "metadata",
            "client_reference_id",
            "payment_status",
            "payment_intent",
            "amount_refunded",
        )
    },
)
events = st.fixed_dictionaries(
    {
        "id": st.text(min_size=1, max_size=40) | json_values,
        "type": st.sampled_from(EVENT_TYPES) | json_values,
        "data": st.fixed_dictionaries({"object": objects}) | json_values,
    }
)


def _credits() -> int:
    _db.session.expire_all()
    return _db.session.execute(select(func.count(CoinTransaction.id))).scalar()


def test_signed_random_events_never_500_and_credit_nothing(client, make_user, checkout):
    payment = checkout(make_user())
    before = _credits()

    @SETTINGS
    @given(body=events, metadata=st.booleans())
    def check(body, metadata):
        if metadata and isinstance(body.get("data"), dict):
            # Name the real payment, so the handlers get past the lookup with bad values.
            obj = body["data"].get("object")
            if isinstance(obj, dict):
                obj["metadata"] = {"payment_id": str(payment.id)}
        payload = json.dumps(body, allow_nan=True)
        response = client.post(WEBHOOK_PATH, data=payload, headers=signed_headers(payload))
        assert_json_refusal(response)
        assert _credits() == before

    check()
    _db.session.expire_all()
    assert _db.session.get(Payment, payment.id).status in ("pending", "failed", "expired")


def test_unsigned_and_raw_bodies_are_400(client):
    # Header values are Latin-1 text on one line (what an HTTP client can send at all).
    header_text = st.text(st.characters(min_codepoint=32, max_codepoint=255), max_size=80)

    @SETTINGS
    @given(body=raw_bodies, signature=st.none() | header_text | st.just("t=1,v1=abc"))
    def check(body, signature):
        headers = {} if signature is None else {"Stripe-Signature": signature}
        response = client.post(WEBHOOK_PATH, data=body, headers=headers)
        assert response.status_code == 400
        assert_json_refusal(response)

    check()


def test_random_checkout_and_pack_bodies_never_500(client, make_user, api_token):
    user_token = api_token(make_user())
    admin_token = api_token(make_user(admin=True))

    @SETTINGS
    @given(
        body=json_values
        | st.dictionaries(st.sampled_from(["pack_id", "name", "coins"]), json_values),
        admin=st.booleans(),
    )
    def check(body, admin):
        path = "/api/v1/admin/coin-packs" if admin else "/api/v1/billing/checkout"
        token = admin_token if admin else user_token
        response = client.post(
            path,
            data=json.dumps(body, allow_nan=True),
            content_type="application/json",
            headers={"Authorization": f"Bearer {token}"},
        )
        assert_json_refusal(response)

    check()
