"""The buyer's whole loop through the Stripe stand-in over HTTP: pay, refund, dispute."""

from __future__ import annotations

import pytest
import requests
from click.testing import CliRunner

from tests.helpers import assert_ledger_invariant, coins
from vpsshop.extensions import db as _db
from vpsshop.models import Payment
from vpsshop.stripe_standin import parse_form
from vpsshop.stripe_standin.cli import stripe_standin


def _status(payment_id) -> Payment:
    _db.session.expire_all()
    return _db.session.get(Payment, payment_id)


def _buy(live_server, token, pack) -> dict:
    answer = requests.post(
        live_server.url + "/api/v1/billing/checkout",
        json={"pack_id": str(pack.id)},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert answer.status_code == 201, answer.text
    return answer.json()["payment"]


@pytest.mark.postgresql_only
def test_pay_refund_and_dispute_through_the_standin(
    app, shop_webhook, live_server, make_user, api_token, make_pack
):
    app.config["PUBLIC_URL"] = live_server.url
    user = make_user()
    token = api_token(user)
    pack = make_pack(coins=100, price_minor=1000)
    payment = _buy(live_server, token, pack)

    # The test payment page, then its Pay button: a signed webhook, then back to the shop.
    page = requests.get(payment["checkout_url"], timeout=10)
    assert page.status_code == 200 and "10.00 EUR" in page.text
    paid = requests.post(
        payment["checkout_url"], data={"action": "pay"}, allow_redirects=False, timeout=30
    )
    assert paid.status_code == 303
    assert paid.headers["Location"] == f"{live_server.url}/billing/payments/{payment['id']}"
    assert coins(user.id) == 100
    row = _status(payment["id"])
    assert row.status == "paid" and row.payment_intent.startswith("pi_test_")
    delivered = shop_webhook.events[-1]["attempts"]
    assert delivered[-1]["status"] == 200

    # Refund 25% and then a dispute over HTTP (what tests and the demo's overview use).
    control = f"{shop_webhook.url}/control/payment_intents/{row.payment_intent}"
    assert requests.post(control + "/refund", json={"amount": 250}, timeout=30).ok
    assert coins(user.id) == 75
    assert requests.post(control + "/dispute", json={}, timeout=30).ok
    assert coins(user.id) == 0
    assert _status(payment["id"]).status == "disputed"
    listed = requests.get(
        live_server.url + "/api/v1/billing/payments",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    ).json()["payments"]
    assert [(p["id"], p["status"], p["coins_reversed"]) for p in listed] == [
        (payment["id"], "disputed", 100)
    ]
    assert_ledger_invariant()


@pytest.mark.postgresql_only
def test_a_bank_transfer_confirmed_later_credits_when_it_clears(
    app, shop_webhook, live_server, make_user, api_token, make_pack
):
    user = make_user()
    payment = _buy(live_server, api_token(user), make_pack(coins=30))
    session_id = payment["checkout_url"].rsplit("/", 1)[1]
    shop_webhook.pay(session_id, outcome="async_succeeded")
    assert _status(payment["id"]).status == "pending"  # completed, not yet paid
    shop_webhook.wait_for_scheduled()
    assert _status(payment["id"]).status == "paid"
    assert coins(user.id) == 30


def test_the_standin_reuses_a_session_for_the_same_idempotency_key(standin):
    headers = {"Authorization": "Bearer sk_test_x", "Idempotency-Key": "payment-1"}
    form = {
        "mode": "payment",
        "line_items[0][quantity]": "1",
        "line_items[0][price_data][currency]": "eur",
        "line_items[0][price_data][unit_amount]": "500",
        "line_items[0][price_data][product_data][name]": "Pack",
    }
    first = requests.post(f"{standin.url}/v1/checkout/sessions", data=form, headers=headers)
    second = requests.post(f"{standin.url}/v1/checkout/sessions", data=form, headers=headers)
    assert first.json()["id"] == second.json()["id"]
    assert first.json()["amount_total"] == 500
    unauthorized = requests.post(f"{standin.url}/v1/checkout/sessions", data=form)
    assert unauthorized.status_code == 401
    missing = requests.get(f"{standin.url}/v1/checkout/sessions/cs_nope", headers=headers)
    assert missing.status_code == 404
    got = requests.get(f"{standin.url}/v1/checkout/sessions/{first.json()['id']}", headers=headers)
    assert got.json()["status"] == "open"


def test_the_standin_reads_stripes_form_encoding():
    parsed = parse_form(
        [
            ("line_items[1][quantity]", "2"),
            ("line_items[0][quantity]", "1"),
            ("metadata[payment_id]", "p"),
        ]
    )
    assert parsed == {
        "line_items": [{"quantity": "1"}, {"quantity": "2"}],
        "metadata": {"payment_id": "p"},
    }


def test_the_cli_refunds_and_disputes_over_http(standin):
    runner = CliRunner()
    missing = runner.invoke(stripe_standin, ["refund", "--url", standin.url, "pi_nope"])
    assert missing.exit_code != 0 and "No such payment_intent" in missing.output
    session = standin.create_session(
        {
            "mode": "payment",
            "line_items": [
                {"quantity": "1", "price_data": {"currency": "eur", "unit_amount": "900"}}
            ],
        },
        None,
    )
    standin.pay(session["id"])
    payment_intent = standin.sessions[session["id"]]["payment_intent"]
    result = runner.invoke(
        stripe_standin, ["refund", "--url", standin.url, payment_intent, "--amount", "100"]
    )
    assert result.exit_code == 0, result.output
    assert standin.charges[payment_intent]["amount_refunded"] == 100
    result = runner.invoke(stripe_standin, ["dispute", "--url", standin.url, payment_intent])
    assert result.exit_code == 0 and "charge.dispute.created" in result.output
