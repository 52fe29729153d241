"""Buying coins: a pending payment, its Checkout Session, expiry, holds and settling.

Coins are never credited here: only a verified webhook does that
(services/stripe_webhooks.py). Lock order: the payment row, then the user's.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

from flask import current_app, url_for
from sqlalchemy import select, update

from vpsshop.errors import Conflict, Forbidden, NotFound, ValidationError
from vpsshop.extensions import db
from vpsshop.models import CoinPack, Payment, PaymentStatus, User
from vpsshop.models.types import utcnow
from vpsshop.services import audit, email_verification, ledger, stripe_gateway

log = logging.getLogger(__name__)
PAYMENT_LIST_LIMIT = 50
EXPIRY_BATCH = 500


class AccountOnHold(Forbidden):
    code = "account_on_hold"


def ensure_not_on_hold(user: User) -> None:
    """Refuse purchases of an account whose refunds or disputes left coins unrecovered."""
    if user.coins_unrecovered > 0:
        raise AccountOnHold(
            f"Your account is on hold: a refund or dispute took back {user.coins_unrecovered} "
            "coins more than your balance held. Contact support to settle it; until then "
            "purchases are paused."
        )


def parse_pack_id(raw: object) -> uuid.UUID:
    if isinstance(raw, uuid.UUID):
        return raw
    if isinstance(raw, str):
        try:
            return uuid.UUID(raw.strip())
        except ValueError:
            pass
    raise ValidationError("pack_id must be a coin pack's id.", code="invalid_pack_id")


def public_url(endpoint: str, **values: object) -> str:
    """An absolute URL of the shop under ``PUBLIC_URL`` (the request's host when unset)."""
    base = current_app.config.get("PUBLIC_URL", "").rstrip("/")
    if not base:
        return url_for(endpoint, _external=True, **values)
    return base + url_for(endpoint, **values)


def start_checkout(user: User, pack_id: object) -> Payment:
    """A pending payment and its Checkout Session; commits.

    Raises AccountOnHold (403), ValidationError (400), NotFound (404, unknown or inactive
    pack) or PaymentProviderUnavailable (503: Stripe unreachable; the payment is failed,
    never left open).
    """
    ensure_not_on_hold(user)
    email_verification.require_verified(user)  # 403 email_unverified
    pack = db.session.get(CoinPack, parse_pack_id(pack_id))
    if pack is None or not pack.is_active:
        raise NotFound("No such coin pack.", code="pack_not_found")
    payment = Payment(
        id=uuid.uuid4(),
        user_id=user.id,
        pack_id=pack.id,
        coins=pack.coins,
        amount_minor=pack.price_minor,
        currency=pack.currency,
        status=PaymentStatus.PENDING.value,
    )
    db.session.add(payment)
    # Committed before Stripe is asked: a webhook that beats our answer finds the row.
    db.session.commit()
    payment_id = str(payment.id)
    try:
        session = stripe_gateway.create_checkout_session(
            payment_id=payment_id,
            name=f"{pack.name} ({pack.coins} coins)",
            amount_minor=payment.amount_minor,
            currency=payment.currency,
            email=user.email,
            success_url=public_url("billing.payment_detail", payment_id=payment.id),
            cancel_url=public_url("billing.payment_cancelled", payment_id=payment.id),
        )
    except stripe_gateway.PaymentProviderUnavailable as error:
        # Only a payment still pending fails: a webhook may have settled it meanwhile.
        db.session.execute(
            update(Payment)
            .where(Payment.id == payment.id, Payment.status == PaymentStatus.PENDING.value)
            .values(
                status=PaymentStatus.FAILED.value, error=error.message[:500], updated_at=utcnow()
            )
        )
        db.session.commit()
        raise
    db.session.execute(
        update(Payment)
        .where(Payment.id == payment.id)
        .values(provider_session_id=session.id, checkout_url=session.url, updated_at=utcnow())
    )
    db.session.commit()
    db.session.refresh(payment)
    log.info("checkout started payment_id=%s session=%s", payment.id, session.id)
    return payment


def list_payments(user: User, limit: int = PAYMENT_LIST_LIMIT) -> list[Payment]:
    """The user's own payments, newest first."""
    return list(
        db.session.execute(
            select(Payment)
            .where(Payment.user_id == user.id)
            .order_by(Payment.created_at.desc(), Payment.id.desc())
            .limit(limit)
        ).scalars()
    )


def get_owned_payment(user: User, payment_id: uuid.UUID) -> Payment:
    """The user's payment (any, for an admin); someone else's answers like a missing one."""
    payment = db.session.get(Payment, payment_id)
    if payment is None or (payment.user_id != user.id and not user.is_admin):
        raise NotFound("No such payment.", code="payment_not_found")
    return payment


def expire_stale_payments() -> int:
    """Mark open payments older than ``PAYMENT_EXPIRY_HOURS`` expired; returns how many.

    A flagged payment waits for an admin instead. A late webhook still credits an expired
    payment that was really paid.
    """
    hours = float(current_app.config["PAYMENT_EXPIRY_HOURS"])
    cutoff = utcnow() - timedelta(hours=hours)
    rows = (
        db.session.execute(
            select(Payment)
            .where(
                Payment.status == PaymentStatus.PENDING.value,
                Payment.flag.is_(None),
                Payment.created_at < cutoff,
            )
            .order_by(Payment.created_at)
            .limit(EXPIRY_BATCH)
            .with_for_update(skip_locked=True)
        )
        .scalars()
        .all()
    )
    for payment in rows:
        payment.status = PaymentStatus.EXPIRED.value
        payment.error = "Not paid within the checkout's time."
    db.session.commit()
    return len(rows)


def add_unrecovered(user_id: uuid.UUID, amount: int) -> None:
    """Move the user's on-hold total by ``amount`` (negative when settling)."""
    db.session.execute(
        update(User)
        .where(User.id == user_id)
        .values(coins_unrecovered=User.coins_unrecovered + amount)
    )


def settle(payment_id: uuid.UUID, actor_id: uuid.UUID, *, recover: bool) -> Payment:
    """Settle a payment's unrecovered coins (audited, commits).

    With ``recover`` the coins the user holds now are taken first (a ``topup_reversal``
    row, never below 0); what is still missing is written off. The account's hold lifts
    once none of its payments needs settling.
    """
    payment = db.session.execute(
        select(Payment).where(Payment.id == payment_id).with_for_update()
    ).scalar_one_or_none()
    if payment is None:
        raise NotFound("No such payment.", code="payment_not_found")
    if not payment.needs_settling:
        raise Conflict("This payment has nothing to settle.", code="nothing_to_settle")
    owed = payment.coins_unrecovered
    taken = 0
    if recover:
        taken, _entry = ledger.take_back_topup(
            payment.user_id,
            owed,
            payment_id=payment.id,
            reason=f"settled: unrecovered coins of payment {payment.id}",
        )
    payment.coins_reversed += taken
    payment.coins_written_off += owed - taken
    payment.coins_unrecovered = 0
    payment.settled_at = utcnow()
    payment.settled_by_id = actor_id
    add_unrecovered(payment.user_id, -owed)
    audit.record(
        actor_id,
        "payment.settle",
        "payment",
        payment.id,
        user_id=payment.user_id,
        unrecovered=owed,
        recovered=taken,
        written_off=owed - taken,
    )
    db.session.commit()
    return payment
