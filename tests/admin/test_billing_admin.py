"""Admin: coin packs (audited), payments with settling an account on hold, webhook events."""

from __future__ import annotations

import json
import uuid

from sqlalchemy import select

from tests.helpers import assert_ledger_invariant
from vpsshop.models import AuditEntry, CoinPack, CoinTransaction, Payment, StripeEvent, User
from vpsshop.services import ledger


def _disputed_payment(db, user, *, coins: int = 100, unrecovered: int = 60) -> Payment:
    """A payment credited, then disputed after the user spent ``unrecovered`` coins."""
    payment = Payment(
        id=uuid.uuid4(),
        user_id=user.id,
        coins=coins,
        amount_minor=1000,
        currency="eur",
        status="disputed",
        provider_session_id=f"cs_test_{uuid.uuid4().hex}",
        payment_intent=f"pi_test_{uuid.uuid4().hex}",
        coins_reversed=coins - unrecovered,
        coins_unrecovered=unrecovered,
    )
    db.session.add(payment)
    db.session.flush()
    ledger.credit_topup(user.id, coins, payment_id=payment.id, reason="top-up")
    ledger.sub(user.id, unrecovered, reason="spent")
    ledger.take_back_topup(user.id, coins - unrecovered, payment_id=payment.id, reason="dispute")
    db.session.get(User, user.id).coins_unrecovered = unrecovered
    db.session.commit()
    return payment


def test_create_and_edit_a_coin_pack_is_audited(admin_client, db, admin):
    response = admin_client.post(
        "/admin/coin_packs/new/",
        {"name": "Starter", "coins": 50, "price_minor": 500, "currency": "EUR", "is_active": "y"},
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    pack = db.session.execute(select(CoinPack)).scalar_one()
    assert (pack.coins, pack.price_minor, pack.currency, pack.is_active) == (50, 500, "eur", True)
    response = admin_client.post(
        f"/admin/coin_packs/edit/?id={pack.id}",
        {"name": "Starter", "coins": 60, "price_minor": 500, "currency": "eur"},
    )
    assert response.status_code == 302
    db.session.expire_all()
    assert (pack.coins, pack.is_active) == (60, False)
    actions = db.session.execute(select(AuditEntry.action, AuditEntry.actor_id)).all()
    assert actions == [("coin_pack.create", admin.id), ("coin_pack.update", admin.id)]
    assert "5.00 EUR" in admin_client.get("/admin/coin_packs/").get_data(as_text=True)


def test_a_bad_coin_pack_is_refused_inline(admin_client, db):
    for fields in (
        {"name": "x", "coins": 0, "price_minor": 500, "currency": "eur"},
        {"name": "x", "coins": 5, "price_minor": 500, "currency": "euro"},
        {"name": " ", "coins": 5, "price_minor": 500, "currency": "eur"},
    ):
        response = admin_client.post("/admin/coin_packs/new/", fields)
        assert response.status_code == 200, fields
    assert db.session.execute(select(CoinPack)).first() is None


def test_settle_an_account_on_hold_recovers_then_writes_off(admin_client, db, admin, make_user):
    user = make_user()
    payment = _disputed_payment(db, user, unrecovered=60)
    ledger.add(user.id, 25, reason="new coins since")
    db.session.commit()
    listing = admin_client.get("/admin/payments/").get_data(as_text=True)
    assert "60 on hold" in listing and "Settle: recover from balance" in listing
    response = admin_client.post("/admin/payments/settle/", {"id": str(payment.id), "recover": "1"})
    assert response.status_code == 302
    db.session.expire_all()
    row = db.session.get(Payment, payment.id)
    assert (row.coins_reversed, row.coins_unrecovered, row.coins_written_off) == (65, 0, 35)
    assert row.settled_by_id == admin.id
    assert db.session.get(User, user.id).coins_unrecovered == 0
    assert db.session.get(User, user.id).coins == 0
    entry = db.session.execute(select(AuditEntry)).scalar_one()
    assert entry.action == "payment.settle"
    assert json.loads(entry.details)["written_off"] == 35
    # Settling twice is refused, nothing changes.
    admin_client.post("/admin/payments/settle/", {"id": str(payment.id), "recover": "1"})
    assert db.session.execute(select(AuditEntry)).scalars().all() == [entry]
    assert "settled" in admin_client.get("/admin/payments/").get_data(as_text=True)
    assert_ledger_invariant()


def test_settle_by_write_off_takes_nothing(admin_client, db, make_user):
    user = make_user()
    payment = _disputed_payment(db, user, unrecovered=10)
    ledger.add(user.id, 50, reason="new coins")
    db.session.commit()
    admin_client.post("/admin/payments/settle/", {"id": str(payment.id), "recover": "0"})
    db.session.expire_all()
    assert db.session.get(User, user.id).coins == 50
    assert db.session.get(User, user.id).coins_unrecovered == 0
    reversals = db.session.execute(
        select(CoinTransaction).where(CoinTransaction.kind == "topup_reversal")
    ).all()
    assert len(reversals) == 1  # only the dispute's own


def test_settle_needs_csrf_and_a_real_payment(admin_client, db, make_user):
    payment = _disputed_payment(db, make_user())
    refused = admin_client.post(
        "/admin/payments/settle/", {"id": str(payment.id), "recover": "0"}, csrf=False
    )
    assert refused.status_code == 400
    assert admin_client.post("/admin/payments/settle/", {"id": "nope"}).status_code == 404


def test_plain_users_cannot_open_the_billing_views(user_client):
    for path in ("/admin/payments/", "/admin/coin_packs/", "/admin/stripe_events/"):
        assert user_client.get(path).status_code == 403


def test_webhook_events_are_listed(admin_client, db):
    db.session.add(StripeEvent(event_id="evt_test_1", type="charge.refunded", outcome="reversed"))
    db.session.commit()
    page = admin_client.get("/admin/stripe_events/").get_data(as_text=True)
    assert "evt_test_1" in page and "charge.refunded" in page and "reversed" in page
