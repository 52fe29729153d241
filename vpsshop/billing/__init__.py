"""The buyer's billing pages: coin packs, checkout, payments and their live status."""

from flask import Blueprint

bp = Blueprint("billing", __name__, url_prefix="/billing")

from vpsshop.billing import routes  # noqa: E402,F401
