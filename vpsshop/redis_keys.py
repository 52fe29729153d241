"""Every Redis key the shop writes, built from one configurable prefix."""

from __future__ import annotations

from flask import current_app


def key(*parts: object) -> str:
    """``<REDIS_KEY_PREFIX>:<part>:<part>...``: two deployments with different prefixes
    share one Redis database without seeing each other's leases, locks and caches."""
    return ":".join([current_app.config["REDIS_KEY_PREFIX"], *map(str, parts)])
