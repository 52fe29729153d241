"""Names of every Redis key the shop writes, under one configurable prefix."""

from __future__ import annotations

from flask import current_app


def redis_key(*parts: str) -> str:
    """``<REDIS_KEY_PREFIX>:part:part…``: two deployments on one Redis never share a key."""
    return ":".join((current_app.config["REDIS_KEY_PREFIX"], *parts))
