"""The JSON API under /api/v1, authenticated with Bearer tokens."""

from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/api/v1")

from vpsshop.api import admin_routes, auth_routes, errors, mail_routes, vps_routes  # noqa: E402,F401
