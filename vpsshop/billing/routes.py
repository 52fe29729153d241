"""Routes of the billing pages; the checkout form posts here and goes on to Stripe."""

from __future__ import annotations

import uuid
from typing import Any

from flask import Response, abort, redirect, render_template, request
from flask_login import current_user, login_required

from vpsshop.billing import bp
from vpsshop.conditional import etag_for, not_modified, revalidated
from vpsshop.errors import NotFound, ServiceError
from vpsshop.extensions import db
from vpsshop.models import Payment, PaymentStatus
from vpsshop.services import coin_packs, payments, stripe_gateway, versions

NOT_FOUND_MESSAGE = "No such payment."
# The statuses after which the success page stops polling.
SETTLED_STATUSES = frozenset(PaymentStatus) - {PaymentStatus.PENDING}


def packs_payments_context() -> dict[str, Any]:
    """What ``billing/_packs_payments.html`` needs, for any page that includes it."""
    return {
        "packs": coin_packs.active_packs(),
        "payments": payments.list_payments(current_user),
        "payments_enabled": stripe_gateway.is_configured(),
        "format_price": coin_packs.format_price,
    }


def _owned_payment(payment_id: uuid.UUID) -> Payment:
    try:
        return payments.get_owned_payment(current_user, payment_id)
    except NotFound:
        abort(404, NOT_FOUND_MESSAGE)


@bp.route("")
@login_required
def index():
    return render_template("billing/index.html", **packs_payments_context())


@bp.route("/checkout", methods=["POST"])
@login_required
def checkout():
    """Start a Checkout Session for the posted pack and send the buyer to Stripe's page."""
    try:
        payment = payments.start_checkout(current_user, request.form.get("pack_id", ""))
    except ServiceError as error:
        db.session.rollback()
        context = packs_payments_context()
        return render_template("billing/index.html", error=error, **context), error.status
    return redirect(payment.checkout_url, code=303)


def _status_context(payment: Payment) -> dict[str, Any]:
    return {
        "payment": payment,
        "final": payment.status in SETTLED_STATUSES,
        "balance": current_user.coins,
        "format_price": coin_packs.format_price,
    }


def _status_html(payment: Payment) -> str:
    return render_template("billing/_payment_status.html", **_status_context(payment))


@bp.route("/payments/<uuid:payment_id>")
@login_required
def payment_detail(payment_id: uuid.UUID):
    """Where Stripe sends the buyer back after paying: "processing" until the webhook."""
    payment = _owned_payment(payment_id)
    response = Response(render_template("billing/payment.html", **_status_context(payment)))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/payments/<uuid:payment_id>/status")
@login_required
def payment_status(payment_id: uuid.UUID):
    """The payment's status card alone, polled by static/js/live.js: 304 while unchanged."""
    etag = etag_for(
        "page-payment", ("user", str(current_user.id)), [versions.user_key(current_user.id)]
    )
    if (unchanged := not_modified(etag)) is not None:
        _owned_payment(payment_id)
        return unchanged
    return revalidated(Response(_status_html(_owned_payment(payment_id))), etag)


@bp.route("/payments/<uuid:payment_id>/cancelled")
@login_required
def payment_cancelled(payment_id: uuid.UUID):
    """Where Stripe sends a buyer who left the checkout: nothing was charged."""
    payment = _owned_payment(payment_id)
    return render_template(
        "billing/cancelled.html", payment=payment, format_price=coin_packs.format_price
    )
