"""The process's Prometheus metrics: request durations and counted outcomes.

Values live in prometheus_client's own store; with ``PROMETHEUS_MULTIPROC_DIR`` set
before the first import (gunicorn.conf.py) they are files every web process writes and
``GET /metrics`` adds up, so a scrape that lands on any process sees all of them.
The metrics are registered in no registry here: ``vpsshop/ops/metrics_route.py`` builds
one per scrape (README "Metrics").
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any, TypeVar

from prometheus_client import Counter, Histogram

from vpsshop.errors import ServiceError

F = TypeVar("F", bound=Callable[..., Any])

HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# No URL rule matched (404 for an unknown path, 405 for a method): one series, not one a path.
UNMATCHED_ROUTE = "<unmatched>"

HTTP_REQUEST_SECONDS = Histogram(
    "vpsshop_http_request_duration_seconds",
    "Time to answer an HTTP request (until its headers, for a stream), by route template.",
    ["route", "method", "status"],
    registry=None,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
PURCHASES = Counter(
    "vpsshop_purchases",
    "Purchases by outcome: ok, or the error code the buyer was answered with.",
    ["outcome"],
    registry=None,
)
PAYMENTS = Counter(
    "vpsshop_payments",
    "Payments from outside (top-ups) by outcome, as the payment code reports them.",
    ["outcome"],
    registry=None,
)
LIVE_METRICS = (HTTP_REQUEST_SECONDS, PURCHASES, PAYMENTS)


def multiprocess_dir() -> str | None:
    """Where the processes' metric files are, when multiprocess mode is on."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def observe_request(route: str | None, method: str, status: int, seconds: float) -> None:
    """Count one answered request under its URL rule (never the raw path)."""
    HTTP_REQUEST_SECONDS.labels(
        route=route or UNMATCHED_ROUTE,
        method=method if method in HTTP_METHODS else "other",
        status=str(status),
    ).observe(seconds)


def record_purchase(outcome: str) -> None:
    """Count a purchase by ``outcome`` ("ok" or an error code)."""
    PURCHASES.labels(outcome=outcome).inc()


def record_payment(outcome: str) -> None:
    """Count a payment by ``outcome`` (e.g. "paid", "refunded", "disputed", "failed")."""
    PAYMENTS.labels(outcome=outcome).inc()


def counts_outcome(record: Callable[[str], None]) -> Callable[[F], F]:
    """Decorate a service call so each call is counted: "ok", the ServiceError's code, or
    "error" for anything unexpected (re-raised unchanged)."""

    def decorate(func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                result = func(*args, **kwargs)
            except ServiceError as error:
                record(error.code)
                raise
            except Exception:
                record("error")
                raise
            record("ok")
            return result

        return wrapper  # type: ignore[return-value]

    return decorate
