"""Stripe's API as the shop uses it: create a Checkout Session for a payment."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import stripe
from flask import current_app

from vpsshop.errors import ServiceUnavailable

log = logging.getLogger(__name__)


class PaymentProviderUnavailable(ServiceUnavailable):
    code = "payment_provider_unavailable"


@dataclass(frozen=True)
class CheckoutSession:
    id: str
    url: str


def is_configured() -> bool:
    """True when a Stripe secret key is set."""
    return bool(current_app.config.get("STRIPE_SECRET_KEY"))


def _client() -> stripe.StripeClient:
    config = current_app.config
    if not config.get("STRIPE_SECRET_KEY"):
        raise PaymentProviderUnavailable(
            "Card payments are not set up on this shop yet.", code="payments_not_configured"
        )
    http_client = stripe.RequestsClient(timeout=float(config["STRIPE_TIMEOUT_SECONDS"]))
    return stripe.StripeClient(
        config["STRIPE_SECRET_KEY"],
        base_addresses={"api": config["STRIPE_API_BASE"].rstrip("/")},
        http_client=http_client,
        # Safe to retry: every create carries the payment's id as its idempotency key.
        max_network_retries=1,
    )


def create_checkout_session(
    *,
    payment_id: str,
    name: str,
    amount_minor: int,
    currency: str,
    email: str,
    success_url: str,
    cancel_url: str,
) -> CheckoutSession:
    """A one-off Checkout Session for one payment; raises PaymentProviderUnavailable."""
    params = {
        "mode": "payment",
        "line_items": [
            {
                "quantity": 1,
                "price_data": {
                    "currency": currency,
                    "unit_amount": amount_minor,
                    "product_data": {"name": name},
                },
            }
        ],
        "client_reference_id": payment_id,
        "metadata": {"payment_id": payment_id},
        "payment_intent_data": {"metadata": {"payment_id": payment_id}},
        "customer_email": email,
        "success_url": success_url,
        "cancel_url": cancel_url,
    }
    try:
        session = _client().v1.checkout.sessions.create(
            params=params, options={"idempotency_key": payment_id}
        )
    except stripe.StripeError as error:
        log.warning(
            "stripe checkout failed payment_id=%s error=%s", payment_id, type(error).__name__
        )
        raise PaymentProviderUnavailable(
            "The payment provider could not be reached. Nothing was charged; try again in a "
            "few minutes."
        ) from None
    if not session.id or not session.url:
        raise PaymentProviderUnavailable(
            "The payment provider gave no checkout page. Nothing was charged; try again."
        )
    return CheckoutSession(id=str(session.id), url=str(session.url))
