"""Operational endpoints for the platform (health checks, Prometheus metrics)."""

from flask import Blueprint

bp = Blueprint("ops", __name__)

from vpsshop.ops import metrics_route, routes  # noqa: E402,F401
