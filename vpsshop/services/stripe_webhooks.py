"""Stripe's webhook: verify the raw body, record the event once, credit or take back coins.

Each delivery is one database transaction: the event row (its id is unique, so a
redelivery, even a parallel one, is recognised by the database), the payment's new
state and the ledger rows commit together or not at all. Nothing here needs Redis.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from typing import Any

import stripe
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from vpsshop.errors import ValidationError
from vpsshop.extensions import db
from vpsshop.models import Payment, PaymentStatus, StripeEvent
from vpsshop.models.billing import CREDITED_STATUSES
from vpsshop.models.types import utcnow
from vpsshop.services import activity, ledger, notices, payments
from vpsshop.services.activity import ActivityKind

log = logging.getLogger(__name__)
# Stripe's own default: a signed delivery older than this is a replay.
TOLERANCE_SECONDS = 300
MAX_ID_LENGTH = 255


class BadWebhook(ValidationError):
    """The body is not a genuine, recent Stripe event."""

    code = "invalid_webhook"


def secrets_from(config_value: str) -> list[str]:
    """``STRIPE_WEBHOOK_SECRET``: one secret, or several separated by commas (rotation)."""
    return [part.strip() for part in (config_value or "").split(",") if part.strip()]


def verify(payload: bytes, signature: str | None, secrets: list[str]) -> dict[str, Any]:
    """The event in ``payload`` when one of ``secrets`` signed it within the tolerance."""
    for secret in secrets:
        try:
            stripe.Webhook.construct_event(payload, signature, secret, TOLERANCE_SECONDS)
        except stripe.SignatureVerificationError:
            continue
        except (ValueError, TypeError, KeyError, AttributeError):
            # Signed, but not an event (not UTF-8, not JSON, not an object).
            raise BadWebhook("The body is not a Stripe event.", code="invalid_payload") from None
        break
    else:
        raise BadWebhook("The Stripe-Signature does not match.", code="invalid_signature")
    event = json.loads(payload)
    if not isinstance(event, dict):
        raise BadWebhook("The body is not a Stripe event.", code="invalid_payload")
    event_id, kind = event.get("id"), event.get("type")
    data = event.get("data")
    if (
        not _is_id(event_id)
        or not _is_id(kind)
        or not isinstance(data, dict)
        or not isinstance(data.get("object"), dict)
    ):
        raise BadWebhook("The event lacks an id, a type or an object.", code="invalid_payload")
    return event


def _is_id(value: object) -> bool:
    return isinstance(value, str) and 0 < len(value) <= MAX_ID_LENGTH and value.isprintable()


def _text(obj: dict[str, Any], key: str) -> str | None:
    value = obj.get(key)
    return value if _is_id(value) else None


def _int(obj: dict[str, Any], key: str) -> int | None:
    value = obj.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return value


def process(event: dict[str, Any]) -> str:
    """Apply a verified event once and commit; returns its outcome.

    A redelivered event id answers "duplicate" and changes nothing. Unexpected errors
    propagate after a rollback (Stripe then retries: nothing was half-written).
    """
    record = StripeEvent(event_id=event["id"], type=event["type"], outcome="received")
    try:
        with db.session.begin_nested():
            db.session.add(record)
            db.session.flush()
    except IntegrityError:
        # Another delivery of this event committed first (or is committing: the insert
        # waited for it on the unique index).
        db.session.rollback()
        return "duplicate"
    try:
        handler = HANDLERS.get(event["type"])
        obj = event["data"]["object"]
        outcome, detail, payment = handler(obj) if handler else ("ignored", "", None)
        record.outcome = outcome
        record.detail = detail[:500]
        record.payment_id = payment.id if payment is not None else None
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    log.info(
        "stripe event id=%s type=%s outcome=%s payment_id=%s",
        record.event_id,
        record.type,
        record.outcome,
        record.payment_id,
    )
    return record.outcome


Outcome = tuple[str, str, Payment | None]


def _lock_payment(*conditions: Any) -> Payment | None:
    return db.session.execute(
        select(Payment).where(*conditions).with_for_update()
    ).scalar_one_or_none()


def _payment_of_session(session: dict[str, Any]) -> Payment | None:
    """The payment a Checkout Session names (metadata, then client_reference_id, then its id)."""
    metadata = session.get("metadata") if isinstance(session.get("metadata"), dict) else {}
    for raw in (metadata.get("payment_id"), session.get("client_reference_id")):
        if isinstance(raw, str):
            try:
                payment_id = uuid.UUID(raw)
            except ValueError:
                continue
            payment = _lock_payment(Payment.id == payment_id)
            if payment is not None:
                return payment
    session_id = _text(session, "id")
    if session_id is None:
        return None
    return _lock_payment(Payment.provider_session_id == session_id)


def _session_matches(payment: Payment, session: dict[str, Any]) -> bool:
    session_id = _text(session, "id")
    if payment.provider_session_id is None and session_id is not None:
        payment.provider_session_id = session_id  # Stripe answered, our update did not land
        return True
    return session_id == payment.provider_session_id


def _credit(session: dict[str, Any]) -> Outcome:
    payment = _payment_of_session(session)
    if payment is None:
        return "unknown_payment", f"session {session.get('id')!s:.100}", None
    if not _session_matches(payment, session):
        payment.flag = "A paid event named another Checkout Session; nothing was credited."
        return "session_mismatch", str(session.get("id"))[:100], payment
    amount, currency = _int(session, "amount_total"), _text(session, "currency")
    if amount != payment.amount_minor or (currency or "").lower() != payment.currency:
        payment.flag = (
            f"Amount mismatch: Stripe reported {amount} {currency}, the payment is for "
            f"{payment.amount_minor} {payment.currency}. Nothing was credited."
        )[:500]
        return "amount_mismatch", payment.flag, payment
    if payment_intent := _text(session, "payment_intent"):
        payment.payment_intent = payment_intent
    entry = ledger.credit_topup(
        payment.user_id,
        payment.coins,
        payment_id=payment.id,
        reason=f"top-up: payment {payment.id}",
    )
    if entry is None:
        return "already_credited", "", payment
    if payment.status not in CREDITED_STATUSES:
        payment.status = PaymentStatus.PAID.value
        payment.error = None
    payment.paid_at = utcnow()
    notices.notify(
        payment.user_id,
        "coins_credited",
        {"amount": entry.delta, "balance": entry.balance_after, "source": "top-up"},
        dedupe_key=f"coins_credited:{entry.id}",
    )
    # Stripe's request, not the user's: its address is not the user's.
    activity.record(
        payment.user_id, ActivityKind.PAYMENT, f"{payment.coins} coins paid", from_request=False
    )
    return "credited", f"{payment.coins} coins", payment


def on_session_completed(session: dict[str, Any]) -> Outcome:
    if session.get("payment_status") == "paid":
        return _credit(session)
    payment = _payment_of_session(session)
    if payment is not None and (payment_intent := _text(session, "payment_intent")):
        payment.payment_intent = payment_intent
    return "awaiting_payment", str(session.get("payment_status"))[:50], payment


def _mark(status: PaymentStatus, error: str) -> Callable[[dict[str, Any]], Outcome]:
    def handler(session: dict[str, Any]) -> Outcome:
        payment = _payment_of_session(session)
        if payment is None:
            return "unknown_payment", "", None
        if payment.status != PaymentStatus.PENDING.value:
            return "ignored_status", payment.status, payment
        payment.status = status.value
        payment.error = error
        return f"marked_{status.value}", "", payment

    return handler


def _reverse(payment: Payment, target: int, status: PaymentStatus, what: str) -> Outcome:
    """Take back up to ``target`` coins in all for this payment (what earlier reversals
    took counts), never below a zero balance; the rest is unrecovered and holds the
    account."""
    if payment.status not in CREDITED_STATUSES:
        return "not_credited", f"{what} of a payment never credited", payment
    accounted = payment.coins_reversed + payment.coins_unrecovered + payment.coins_written_off
    owed = max(0, min(target, payment.coins) - accounted)
    taken = 0
    if owed:
        taken, _entry = ledger.take_back_topup(
            payment.user_id, owed, payment_id=payment.id, reason=f"{what}: payment {payment.id}"
        )
        missing = owed - taken
        payment.coins_reversed += taken
        if missing:
            payment.coins_unrecovered += missing
            payments.add_unrecovered(payment.user_id, missing)
    if payment.status != PaymentStatus.DISPUTED.value:
        payment.status = status.value
    return "reversed", f"owed {owed}, taken {taken}, unrecovered {owed - taken}", payment


def on_charge_refunded(charge: dict[str, Any]) -> Outcome:
    payment_intent = _text(charge, "payment_intent")
    payment = _lock_payment(Payment.payment_intent == payment_intent) if payment_intent else None
    if payment is None:
        return "unknown_payment", f"payment_intent {payment_intent!s:.100}", None
    refunded = _int(charge, "amount_refunded")
    if refunded is None or (_text(charge, "currency") or "").lower() != payment.currency:
        payment.flag = "A refund event had no amount or another currency; nothing was taken."
        return "refund_mismatch", "", payment
    refunded = min(refunded, payment.amount_minor)
    payment.amount_refunded_minor = max(payment.amount_refunded_minor, refunded)
    full = payment.amount_refunded_minor >= payment.amount_minor
    target = payment.coins * payment.amount_refunded_minor // payment.amount_minor
    status = PaymentStatus.REFUNDED if full else PaymentStatus.PARTIALLY_REFUNDED
    return _reverse(payment, target, status, "refund")


def on_dispute_created(dispute: dict[str, Any]) -> Outcome:
    payment_intent = _text(dispute, "payment_intent")
    payment = _lock_payment(Payment.payment_intent == payment_intent) if payment_intent else None
    if payment is None:
        return "unknown_payment", f"payment_intent {payment_intent!s:.100}", None
    return _reverse(payment, payment.coins, PaymentStatus.DISPUTED, "dispute")


HANDLERS: dict[str, Callable[[dict[str, Any]], Outcome]] = {
    "checkout.session.completed": on_session_completed,
    "checkout.session.async_payment_succeeded": _credit,
    "checkout.session.async_payment_failed": _mark(
        PaymentStatus.FAILED, "The bank did not confirm the payment."
    ),
    "checkout.session.expired": _mark(PaymentStatus.EXPIRED, "The checkout expired unpaid."),
    "charge.refunded": on_charge_refunded,
    "charge.dispute.created": on_dispute_created,
}
