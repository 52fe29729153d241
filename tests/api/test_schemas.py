"""Request models answer bad bodies with DESIGN.md's codes (no database needed)."""

from __future__ import annotations

import pytest

from tests.conftest import make_test_config
from vpsshop import create_app
from vpsshop.api.openapi import body
from vpsshop.api.schemas import (
    CoinsRequest,
    CreateVouchersRequest,
    NodeLoginRequest,
    NotificationsRequest,
    ProductFields,
    PurchaseRequest,
    RedeemRequest,
    SuspendRequest,
)
from vpsshop.errors import ValidationError


@pytest.fixture(scope="module")
def app():
    # No database or Redis is opened: the models check the request alone.
    return create_app(make_test_config(SQLALCHEMY_DATABASE_URI="sqlite://"))


def _refusal(app, model, data) -> tuple[str, str]:
    with app.test_request_context(json=data, method="POST"):
        with pytest.raises(ValidationError) as caught:
            body(model)
    return caught.value.code, caught.value.message


@pytest.mark.parametrize(
    ("model", "data", "code", "message"),
    [
        (CoinsRequest, {"zz": 1, "aa": 2, "op": 5}, "unknown_field", "Unknown field: aa."),
        (CoinsRequest, {"op": "mul"}, "invalid_op", "The operation must be add, sub or set."),
        (CoinsRequest, {}, "invalid_op", "The operation must be add, sub or set."),
        (PurchaseRequest, {"product_id": " "}, "invalid_product_id", None),
        (PurchaseRequest, {"product_id": 7}, "invalid_product_id", None),
        (NodeLoginRequest, {"email": "nope", "password": ""}, "invalid_email", None),
        (NodeLoginRequest, {"email": "a@b.c", "password": ""}, "invalid_password", None),
        (ProductFields, {"worker_ids": [1]}, "invalid_worker_ids", None),
        (ProductFields, {"worker_ids": None}, "invalid_worker_ids", None),
        (ProductFields, [1, 2], "invalid_json", "The body must be a JSON object."),
        (RedeemRequest, {"code": "X", "extra": 1}, "unknown_field", "Unknown field: extra."),
        (CreateVouchersRequest, {"coins": 5, "colour": 1}, "unknown_field", None),
        (SuspendRequest, {"stop_sessions": "yes"}, "invalid_stop_sessions", None),
        (NotificationsRequest, {"servers": None}, "invalid_notifications", None),
        (NotificationsRequest, {"coins": 1}, "invalid_notifications", None),
    ],
)
def test_bad_bodies_get_the_routes_codes(app, model, data, code, message):
    got_code, got_message = _refusal(app, model, data)
    assert got_code == code
    if message is not None:
        assert got_message == message


def test_a_good_body_keeps_only_what_was_sent(app):
    with app.test_request_context(json={"name": "x", "price_coins": "5"}, method="POST"):
        # Values a service checks pass through as sent, for the service's own refusal.
        assert body(ProductFields).model_dump(exclude_unset=True) == {
            "name": "x",
            "price_coins": "5",
        }
    with app.test_request_context(json={"product_id": f" {'1' * 32} "}, method="POST"):
        assert body(PurchaseRequest).product_id == "11111111-1111-1111-1111-111111111111"


def test_models_that_leave_unknown_fields_to_the_route_keep_them(app):
    # The notification route and the coin-pack service name unknown fields themselves.
    with app.test_request_context(json={"servers": True, "sms": True}, method="POST"):
        assert body(NotificationsRequest).model_dump(exclude_unset=True) == {
            "servers": True,
            "sms": True,
        }
