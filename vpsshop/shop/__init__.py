"""The buyer's pages: catalogue, purchase and sessions."""

from flask import Blueprint

bp = Blueprint("shop", __name__)

from vpsshop.shop import routes, time_routes  # noqa: E402,F401
