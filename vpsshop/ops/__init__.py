"""Operational endpoints for the platform (health checks)."""

from flask import Blueprint

bp = Blueprint("ops", __name__)

from vpsshop.ops import routes  # noqa: E402,F401
from vpsshop.ops import metrics_route  # noqa: E402,F401
