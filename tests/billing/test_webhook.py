"""Stripe's webhook: only genuine, recent events count, and each payment is credited once."""

from __future__ import annotations

import json
import threading
import time
import uuid

import pytest
import requests
from sqlalchemy import func, select

from tests.fixtures.stripe import (
    OLD_WEBHOOK_SECRET,
    WEBHOOK_PATH,
    charge_object,
    deliver,
    event,
    session_object,
    signed_headers,
)
from tests.helpers import assert_ledger_invariant, coins
from vpsshop.extensions import db as _db
from vpsshop.models import CoinTransaction, Payment, StripeEvent, User
from vpsshop.services import ledger

pytestmark = pytest.mark.usefixtures("invariant")


@pytest.fixture
def invariant(app):
    yield
    assert_ledger_invariant()


def _payment(payment_id) -> Payment:
    _db.session.expire_all()
    return _db.session.get(Payment, payment_id)


def _topups(payment_id) -> int:
    return _db.session.execute(
        select(func.count()).where(
            CoinTransaction.payment_id == payment_id, CoinTransaction.kind == "topup"
        )
    ).scalar()


def _events() -> list[tuple[str, str]]:
    _db.session.expire_all()
    rows = _db.session.execute(select(StripeEvent).order_by(StripeEvent.id)).scalars()
    return [(row.type, row.outcome) for row in rows]


def _paid(client, payment, **overrides):
    return deliver(
        client, event("checkout.session.completed", session_object(payment, **overrides))
    )


# --- only genuine, recent events ----------------------------------------------------


def test_forged_tampered_replayed_and_wrongly_signed_events_are_400(client, make_user, checkout):
    payment = checkout(make_user())
    body = json.dumps(event("checkout.session.completed", session_object(payment)))
    good = signed_headers(body)
    tampered = body.replace('"amount_total": 1000', '"amount_total": 1')
    now = int(time.time())
    attempts = [
        ("no signature", body, {"Content-Type": "application/json"}),
        ("garbage signature", body, {"Stripe-Signature": "nonsense"}),
        ("empty v1", body, {"Stripe-Signature": f"t={now},v1="}),
        ("tampered body", tampered, good),
        ("wrong secret", body, signed_headers(body, secret="whsec_someone_else")),
        ("replayed after 5 minutes", body, signed_headers(body, timestamp=now - 301)),
    ]
    for label, payload, headers in attempts:
        response = client.post(WEBHOOK_PATH, data=payload, headers=headers)
        assert response.status_code == 400, label
        assert response.get_json()["error"] == "invalid_signature", label
    assert coins(payment.user_id) == 0
    assert _events() == []  # nothing unverified is stored
    assert _payment(payment.id).status == "pending"


def test_a_signature_of_the_previous_secret_still_verifies(client, make_user, checkout):
    payment = checkout(make_user())
    body = json.dumps(event("checkout.session.completed", session_object(payment)))
    response = client.post(
        WEBHOOK_PATH, data=body, headers=signed_headers(body, OLD_WEBHOOK_SECRET)
    )
    assert response.status_code == 200
    assert coins(payment.user_id) == payment.coins


def test_signed_bodies_that_are_not_events_are_400(client):
    for payload in ("not json", "[1, 2]", '{"id": "evt_1"}', '{"id": 5, "type": "x", "data": {}}'):
        response = client.post(WEBHOOK_PATH, data=payload, headers=signed_headers(payload))
        assert response.status_code == 400, payload
        assert response.get_json()["error"] in ("invalid_payload", "invalid_signature")
    raw = b"\xff\xfe not utf-8"
    header = signed_headers("x")["Stripe-Signature"]
    response = client.post(WEBHOOK_PATH, data=raw, headers={"Stripe-Signature": header})
    assert response.status_code == 400
    assert _events() == []


def test_without_a_configured_secret_the_webhook_answers_503(app, client):
    app.config["STRIPE_WEBHOOK_SECRET"] = " , "
    body = json.dumps(event("checkout.session.completed", {"id": "cs_1"}))
    response = client.post(WEBHOOK_PATH, data=body, headers=signed_headers(body))
    assert response.status_code == 503  # Stripe retries until it is set


def test_unknown_event_types_are_200_and_recorded(client):
    response = deliver(client, event("customer.created", {"id": "cus_1", "object": "customer"}))
    assert response.status_code == 200
    assert response.get_json() == {"received": True, "outcome": "ignored"}
    assert _events() == [("customer.created", "ignored")]


def test_the_webhook_needs_no_login_and_no_csrf(app, client, make_user, checkout):
    app.config["WTF_CSRF_ENABLED"] = True
    payment = checkout(make_user())
    assert _paid(client, payment).status_code == 200


# --- credit exactly once --------------------------------------------------------------


def test_a_paid_session_credits_the_payment_once(client, make_user, checkout):
    user = make_user()
    payment = checkout(user, coins=120, price_minor=1000)
    paid = event("checkout.session.completed", session_object(payment))
    response = deliver(client, paid)
    assert response.get_json() == {"received": True, "outcome": "credited"}
    row = _payment(payment.id)
    assert row.status == "paid" and row.paid_at is not None
    assert row.payment_intent == f"pi_test_{payment.id.hex}"
    assert coins(user.id) == 120
    entry = _db.session.execute(
        select(CoinTransaction).where(CoinTransaction.payment_id == payment.id)
    ).scalar_one()
    assert (entry.kind, entry.delta, entry.balance_after) == ("topup", 120, 120)

    # The same event again, another event of the same session, the async success.
    assert deliver(client, paid).get_json()["outcome"] == "duplicate"
    assert _paid(client, payment).get_json()["outcome"] == "already_credited"
    late = event("checkout.session.async_payment_succeeded", session_object(payment))
    assert deliver(client, late).get_json()["outcome"] == "already_credited"
    assert coins(user.id) == 120
    assert _topups(payment.id) == 1
    assert [outcome for _type, outcome in _events()] == [
        "credited",
        "already_credited",
        "already_credited",
    ]


def test_the_unique_index_refuses_a_second_topup_row(app, make_user, checkout):
    payment = checkout(make_user())
    first = ledger.credit_topup(payment.user_id, 10, payment_id=payment.id, reason="one")
    second = ledger.credit_topup(payment.user_id, 10, payment_id=payment.id, reason="two")
    _db.session.commit()
    assert first is not None and second is None
    assert coins(payment.user_id) == 10


@pytest.mark.postgresql_only
def test_parallel_deliveries_credit_once(live_server, make_user, checkout):
    user = make_user()
    payment = checkout(user, coins=77)
    same = json.dumps(event("checkout.session.completed", session_object(payment)))
    bodies = [same] * 6 + [
        json.dumps(event("checkout.session.completed", session_object(payment))) for _ in range(3)
    ]
    bodies += [
        json.dumps(event("checkout.session.async_payment_succeeded", session_object(payment)))
        for _ in range(3)
    ]
    start = threading.Barrier(len(bodies))
    answers: list[int] = []

    def post(body: str) -> None:
        start.wait()
        answer = requests.post(
            live_server.url + WEBHOOK_PATH, data=body, headers=signed_headers(body), timeout=30
        )
        answers.append(answer.status_code)

    threads = [threading.Thread(target=post, args=(body,)) for body in bodies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert answers == [200] * len(bodies)
    assert coins(user.id) == 77
    assert _topups(payment.id) == 1
    outcomes = [outcome for _type, outcome in _events()]
    assert outcomes.count("credited") == 1
    assert len(outcomes) == 1 + 3 + 3  # one row per distinct event id


def test_an_amount_or_currency_mismatch_credits_nothing_and_flags(client, make_user, checkout):
    user = make_user()
    cheap = checkout(user, price_minor=1000)
    other = checkout(user, price_minor=1000)
    assert _paid(client, cheap, amount_total=1).get_json()["outcome"] == "amount_mismatch"
    assert _paid(client, other, currency="usd").get_json()["outcome"] == "amount_mismatch"
    assert coins(user.id) == 0
    for payment_id in (cheap.id, other.id):
        row = _payment(payment_id)
        assert row.status == "pending" and row.flag.startswith("Amount mismatch")


def test_a_session_of_another_payment_credits_nothing(client, make_user, checkout):
    payment = checkout(make_user())
    response = _paid(client, payment, id="cs_test_someone_elses")
    assert response.get_json()["outcome"] == "session_mismatch"
    assert coins(payment.user_id) == 0


def test_an_event_for_an_unknown_payment_is_200_and_recorded(client):
    obj = {"id": "cs_test_nobody", "payment_status": "paid", "metadata": {"payment_id": "x"}}
    response = deliver(client, event("checkout.session.completed", obj))
    assert response.status_code == 200
    assert _events() == [("checkout.session.completed", "unknown_payment")]


def test_delayed_payments_wait_then_credit_or_fail(client, make_user, checkout):
    user = make_user()
    later_ok, later_no = checkout(user, coins=5), checkout(user, coins=7)
    for payment in (later_ok, later_no):
        assert _paid(client, payment, payment_status="unpaid").get_json()["outcome"] == (
            "awaiting_payment"
        )
    assert coins(user.id) == 0
    ok = event("checkout.session.async_payment_succeeded", session_object(later_ok))
    no = event("checkout.session.async_payment_failed", session_object(later_no))
    assert deliver(client, ok).get_json()["outcome"] == "credited"
    assert deliver(client, no).get_json()["outcome"] == "marked_failed"
    assert coins(user.id) == 5
    assert _payment(later_no.id).status == "failed"


def test_an_expired_checkout_is_marked_and_a_late_payment_still_credits(
    client, make_user, checkout
):
    payment = checkout(make_user(), coins=9)
    expired = event("checkout.session.expired", session_object(payment, status="expired"))
    assert deliver(client, expired).get_json()["outcome"] == "marked_expired"
    assert _payment(payment.id).status == "expired"
    assert _paid(client, payment).get_json()["outcome"] == "credited"
    assert _payment(payment.id).status == "paid" and coins(payment.user_id) == 9


# --- refunds and disputes -------------------------------------------------------------


def test_a_full_refund_takes_every_coin_back_once(client, make_user, checkout):
    user = make_user()
    payment = checkout(user, coins=100, price_minor=1000)
    _paid(client, payment)
    payment = _payment(payment.id)
    refund = event("charge.refunded", charge_object(payment, 1000))
    assert deliver(client, refund).get_json()["outcome"] == "reversed"
    assert deliver(client, refund).get_json()["outcome"] == "duplicate"
    again = event("charge.refunded", charge_object(payment, 1000))
    assert deliver(client, again).get_json()["outcome"] == "reversed"  # owes nothing more
    row = _payment(payment.id)
    assert (row.status, row.coins_reversed, row.coins_unrecovered) == ("refunded", 100, 0)
    assert coins(user.id) == 0
    kinds = _db.session.execute(
        select(CoinTransaction.kind, CoinTransaction.delta).order_by(CoinTransaction.id)
    ).all()
    assert kinds == [("topup", 100), ("topup_reversal", -100)]


def test_partial_refunds_take_back_in_proportion_and_only_the_difference(
    client, make_user, checkout
):
    user = make_user()
    payment = checkout(user, coins=100, price_minor=1000)
    _paid(client, payment)
    payment = _payment(payment.id)
    deliver(client, event("charge.refunded", charge_object(payment, 300)))
    assert coins(user.id) == 70
    assert _payment(payment.id).status == "partially_refunded"
    # Stripe's amount_refunded is the total so far: the second refund takes the rest of 50%.
    deliver(client, event("charge.refunded", charge_object(payment, 500)))
    assert coins(user.id) == 50
    row = _payment(payment.id)
    assert (row.coins_reversed, row.amount_refunded_minor) == (50, 500)
    # An older event arriving late takes nothing.
    deliver(client, event("charge.refunded", charge_object(payment, 300)))
    assert coins(user.id) == 50
    deliver(client, event("charge.refunded", charge_object(payment, 1000)))
    assert coins(user.id) == 0 and _payment(payment.id).status == "refunded"


def test_a_refund_in_another_currency_takes_nothing_and_flags(client, make_user, checkout):
    payment = checkout(make_user(), coins=10)
    _paid(client, payment)
    payment = _payment(payment.id)
    response = deliver(
        client, event("charge.refunded", charge_object(payment, 1000, currency="usd"))
    )
    assert response.get_json()["outcome"] == "refund_mismatch"
    assert coins(payment.user_id) == 10 and _payment(payment.id).flag


def test_a_dispute_after_spending_puts_the_account_on_hold_until_settled(
    app, client, make_user, api_token, checkout, make_product, make_worker, sim_node
):
    user = make_user()
    payment = checkout(user, coins=100, price_minor=1000)
    _paid(client, payment)
    payment = _payment(payment.id)
    ledger.sub(user.id, 70, reason="spent on servers")
    _db.session.commit()
    dispute = {
        "id": "dp_test_1",
        "object": "dispute",
        "amount": 1000,
        "currency": "eur",
        "payment_intent": payment.payment_intent,
    }
    assert deliver(client, event("charge.dispute.created", dispute)).get_json()["outcome"] == (
        "reversed"
    )
    row = _payment(payment.id)
    assert (row.status, row.coins_reversed, row.coins_unrecovered) == ("disputed", 30, 70)
    assert coins(user.id) == 0  # never below zero
    assert _db.session.get(User, user.id).coins_unrecovered == 70

    # On hold: no server purchase, no new checkout.
    token = api_token(user)
    headers = {"Authorization": f"Bearer {token}"}
    product = make_product([make_worker(sim_node.url)], price=1)
    ledger.add(user.id, 5, reason="admin grant while on hold")
    _db.session.commit()
    bought = client.post(
        "/api/v1/vps/purchase-and-create", json={"product_id": str(product.id)}, headers=headers
    )
    assert (bought.status_code, bought.get_json()["error"]) == (403, "account_on_hold")
    pack_id = str(payment.pack_id)
    again = client.post("/api/v1/billing/checkout", json={"pack_id": pack_id}, headers=headers)
    assert (again.status_code, again.get_json()["error"]) == (403, "account_on_hold")
    assert coins(user.id) == 5

    # A refund on top of the dispute takes nothing more.
    deliver(client, event("charge.refunded", charge_object(row, 1000)))
    assert coins(user.id) == 5 and _payment(payment.id).status == "disputed"

    # The admin settles: what the balance holds now is recovered, the rest written off.
    from vpsshop.services import payments

    admin = make_user(admin=True)
    payments.settle(payment.id, admin.id, recover=True)
    row = _payment(payment.id)
    assert (row.coins_reversed, row.coins_unrecovered, row.coins_written_off) == (35, 0, 65)
    assert row.settled_at is not None and row.settled_by_id == admin.id
    _db.session.expire_all()
    assert _db.session.get(User, user.id).coins_unrecovered == 0
    assert coins(user.id) == 0
    ledger.add(user.id, 5, reason="after settling")
    _db.session.commit()
    bought = client.post(
        "/api/v1/vps/purchase-and-create", json={"product_id": str(product.id)}, headers=headers
    )
    assert bought.status_code == 202


def test_a_reversal_of_a_payment_never_credited_takes_nothing(client, make_user, checkout):
    payment = checkout(make_user())
    payment.payment_intent = "pi_test_never_paid"
    _db.session.commit()
    response = deliver(client, event("charge.refunded", charge_object(payment, 1000)))
    assert response.get_json()["outcome"] == "not_credited"
    assert coins(payment.user_id) == 0


# --- faults -----------------------------------------------------------------------------


class TestRedisDown:
    @pytest.fixture
    def app_config(self, stripe_config, closed_port):
        return {**stripe_config, "REDIS_URL": f"redis://127.0.0.1:{closed_port}/0"}

    def test_the_webhook_still_credits_with_redis_down(self, client, make_user, make_pack):
        from vpsshop.models import Payment as PaymentRow

        user = make_user()
        pack = make_pack(coins=40)
        payment = PaymentRow(
            id=uuid.uuid4(),
            user_id=user.id,
            pack_id=pack.id,
            coins=40,
            amount_minor=pack.price_minor,
            currency="eur",
            provider_session_id="cs_test_redis_down",
        )
        _db.session.add(payment)
        _db.session.commit()
        response = _paid(client, payment)
        assert response.status_code == 200
        assert response.get_json()["outcome"] == "credited"
        assert coins(user.id) == 40


@pytest.mark.postgresql_only
def test_a_database_error_mid_credit_writes_nothing_and_a_retry_credits(
    app, client, make_user, checkout
):
    from sqlalchemy import text

    payment = checkout(make_user(), coins=25)
    paid = event("checkout.session.completed", session_object(payment))
    # The top-up's ledger insert fails: the event row and the balance were already written
    # in the same transaction.
    with _db.engine.begin() as conn:
        conn.execute(
            text(
                "CREATE OR REPLACE FUNCTION billing_test_fail() RETURNS trigger AS $$ "
                "BEGIN RAISE EXCEPTION 'injected failure'; END $$ LANGUAGE plpgsql"
            )
        )
        conn.execute(
            text(
                "CREATE TRIGGER billing_test_break BEFORE INSERT ON coin_transactions "
                "FOR EACH ROW WHEN (NEW.kind = 'topup') EXECUTE FUNCTION billing_test_fail()"
            )
        )
    try:
        response = deliver(client, paid)
        assert response.status_code == 503  # Stripe retries
        assert coins(payment.user_id) == 0
        assert _events() == []
        assert _payment(payment.id).status == "pending"
    finally:
        with _db.engine.begin() as conn:
            conn.execute(text("DROP TRIGGER IF EXISTS billing_test_break ON coin_transactions"))
            conn.execute(text("DROP FUNCTION IF EXISTS billing_test_fail()"))
    assert deliver(client, paid).get_json()["outcome"] == "credited"
    assert coins(payment.user_id) == 25
