"""Sign-up, sign-in and sign-out pages."""

from flask import Blueprint

bp = Blueprint("auth", __name__)

from vpsshop.auth import account_routes, routes  # noqa: E402,F401
