"""The buyer's Coins page: balance, history and redeeming a voucher."""

from flask import Blueprint

bp = Blueprint("coins", __name__)

from vpsshop.coins import routes  # noqa: E402,F401
