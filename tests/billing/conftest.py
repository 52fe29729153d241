"""Billing tests run against the Stripe stand-in on loopback, over HTTP."""

from __future__ import annotations

import pytest

from vpsshop.extensions import db as _db
from vpsshop.models import Payment
from vpsshop.services import payments

BOTH_DATABASES = pytest.mark.parametrize("database", ["postgresql", "sqlite"], indirect=True)


@pytest.fixture
def app_config(stripe_config) -> dict:
    return dict(stripe_config)


@pytest.fixture
def checkout(app, make_pack):
    """Factory: ``checkout(user, coins=100, price_minor=1000)`` -> a pending Payment with
    its Checkout Session at the stand-in."""

    def start(user, **pack_options) -> Payment:
        pack = make_pack(**pack_options)
        with app.test_request_context():  # the success and cancel URLs are built from routes
            payment = payments.start_checkout(user, str(pack.id))
        _db.session.expire_all()
        return _db.session.get(Payment, payment.id)

    return start
