"""``GET /metrics``: Prometheus text format behind ``Authorization: Bearer $METRICS_TOKEN``."""

from __future__ import annotations

import hmac
import time

from flask import Response, abort, current_app, g, request
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.multiprocess import MultiProcessCollector

from vpsshop import metrics
from vpsshop.login import bearer_token
from vpsshop.ops import bp
from vpsshop.ops.collector import ShopCollector

REQUEST_STARTED = "vpsshop_request_started"


@bp.before_app_request
def _start_timer() -> None:
    setattr(g, REQUEST_STARTED, time.perf_counter())


@bp.after_app_request
def _observe(response: Response) -> Response:
    started = g.get(REQUEST_STARTED)
    if started is not None:
        rule = request.url_rule.rule if request.url_rule is not None else None
        metrics.observe_request(
            rule, request.method, response.status_code, time.perf_counter() - started
        )
    return response


def _registry() -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    if metrics.multiprocess_dir():
        MultiProcessCollector(registry)
    else:
        for metric in metrics.LIVE_METRICS:
            registry.register(metric)
    registry.register(ShopCollector())
    return registry


@bp.get("/metrics")
def prometheus_metrics() -> Response:
    expected = current_app.config.get("METRICS_TOKEN") or ""
    if not expected:
        abort(404)  # not configured: as if there were no such page
    given = bearer_token(request) or ""
    if not hmac.compare_digest(given.encode(), expected.encode()):
        response = Response("A valid metrics token is required.\n", 401, mimetype="text/plain")
        response.headers["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    body = generate_latest(_registry())
    response = Response(body, mimetype=None, content_type=CONTENT_TYPE_PLAIN_0_0_4)
    response.headers["Cache-Control"] = "no-store"
    return response
