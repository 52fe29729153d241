"""The JSON API under /api/v1, authenticated with Bearer tokens."""

from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/api/v1")

from vpsshop.api import (  # noqa: E402,F401
    account_routes,
    admin_routes,
    admin_voucher_routes,
    auth_routes,
    billing_routes,
    coin_routes,
    docs,
    errors,
    mail_routes,
    time_routes,
    vps_routes,
)
