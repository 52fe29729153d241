"""The billing API: coin packs, checkout, the buyer's payments, Stripe's webhook."""

from __future__ import annotations

import logging
from typing import Any

from flask import current_app, jsonify, request
from flask_login import current_user
from sqlalchemy.exc import SQLAlchemyError

from vpsshop.api import bp
from vpsshop.api.errors import error_response
from vpsshop.api.helpers import admin_required, token_required
from vpsshop.api.openapi import PUBLIC, documented, responses, sent_fields
from vpsshop.api.schemas import (
    CheckoutRequest,
    CoinPackBody,
    CoinPackRequest,
    CoinPacksBody,
    PaymentBody,
    PaymentsBody,
    StripeEvent,
    WebhookBody,
)
from vpsshop.api.serializers import iso
from vpsshop.extensions import db
from vpsshop.models import CoinPack, Payment, PaymentStatus
from vpsshop.services import coin_packs, payments, stripe_webhooks

log = logging.getLogger(__name__)
BILLING = ("billing",)


def pack_json(pack: CoinPack) -> dict[str, Any]:
    return {
        "id": str(pack.id),
        "name": pack.name,
        "coins": pack.coins,
        "price_minor": pack.price_minor,
        "currency": pack.currency,
        "is_active": pack.is_active,
    }


def payment_json(payment: Payment) -> dict[str, Any]:
    """A payment as its buyer sees it; the checkout URL only while it can be paid."""
    is_open = payment.status == PaymentStatus.PENDING.value
    return {
        "id": str(payment.id),
        "status": payment.status,
        "coins": payment.coins,
        "amount_minor": payment.amount_minor,
        "currency": payment.currency,
        "checkout_url": payment.checkout_url if is_open else None,
        "pack_id": str(payment.pack_id) if payment.pack_id else None,
        "coins_reversed": payment.coins_reversed,
        "coins_unrecovered": payment.coins_unrecovered,
        "created_at": iso(payment.created_at),
        "paid_at": iso(payment.paid_at),
    }


@bp.get("/billing/packs")
@token_required
@documented(resp=responses({200: CoinPacksBody}), tags=BILLING)
def billing_packs():
    return jsonify(packs=[pack_json(pack) for pack in coin_packs.active_packs()])


@bp.post("/billing/checkout")
@token_required
@documented(
    json=CheckoutRequest, resp=responses({201: PaymentBody}, errors=(403, 503)), tags=BILLING
)
def billing_checkout():
    fields = sent_fields(CheckoutRequest)
    payment = payments.start_checkout(current_user, fields.get("pack_id"))
    return jsonify(payment=payment_json(payment)), 201


@bp.get("/billing/payments")
@token_required
@documented(resp=responses({200: PaymentsBody}), tags=BILLING)
def billing_payments():
    return jsonify(payments=[payment_json(p) for p in payments.list_payments(current_user)])


@bp.post("/admin/coin-packs")
@admin_required
@documented(
    json=CoinPackRequest, resp=responses({201: CoinPackBody}, errors=(403,)), tags=("admin",)
)
def admin_create_coin_pack():
    pack = coin_packs.create_pack(sent_fields(CoinPackRequest), current_user.id)
    db.session.commit()
    return jsonify(pack=pack_json(pack)), 201


@bp.post("/billing/stripe/webhook")
# The body is documented, never parsed through the model: the signature covers raw bytes.
@documented(
    json=StripeEvent,
    resp=responses({200: WebhookBody}, errors=(503,)),
    tags=BILLING,
    security=PUBLIC,
)
def stripe_webhook():
    """Stripe's deliveries: no login, no CSRF; the signature over the raw body decides."""
    secrets = stripe_webhooks.secrets_from(current_app.config.get("STRIPE_WEBHOOK_SECRET", ""))
    if not secrets:
        return error_response("webhooks_not_configured", "STRIPE_WEBHOOK_SECRET is not set.", 503)
    payload = request.get_data(cache=False)
    event = stripe_webhooks.verify(payload, request.headers.get("Stripe-Signature"), secrets)
    try:
        outcome = stripe_webhooks.process(event)
    except SQLAlchemyError:
        # Nothing was written; Stripe retries a 5xx.
        log.exception("stripe webhook not applied event_id=%s", event["id"])
        db.session.rollback()
        return error_response(
            "database_unavailable", "The event could not be stored; retry later.", 503
        )
    return jsonify(received=True, outcome=outcome)
