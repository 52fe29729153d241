"""The per-account limit on failed voucher redemptions (a moving window in Redis).

Every try takes a place in the account's window *before* the database is asked, in one
atomic Redis step, so parallel guesses cannot all slip past the count; a redemption that
succeeds gives its place back. Past ``VOUCHER_MAX_FAILURES`` places within
``VOUCHER_FAILURE_WINDOW_SECONDS`` the account is refused (429) until the oldest one
leaves the window. When Redis cannot be reached the try is let through and logged, as the
sign-in limits do: a code has about 59 random bits, and credit still happens at most once
per voucher and user by the database's constraints.
"""

from __future__ import annotations

import logging
import math
import secrets
import time
import uuid

import redis
from flask import current_app

from vpsshop import redis_keys
from vpsshop.errors import ServiceError
from vpsshop.wording import human_duration

logger = logging.getLogger(__name__)


class TooManyAttempts(ServiceError):
    """Too many failed voucher codes from one account: try again in ``retry_after`` s."""

    code = "rate_limited"
    status = 429

    def __init__(self, retry_after: int):
        super().__init__(
            f"Too many wrong voucher codes. Try again in {human_duration(retry_after)}."
        )
        self.retry_after = retry_after


def _key(user_id: uuid.UUID) -> str:
    return redis_keys.key("voucher-failures", user_id)


def _redis() -> redis.Redis:
    return current_app.extensions["redis"]


def take_place(user_id: uuid.UUID) -> str | None:
    """Count one try of ``user_id``; raises ``TooManyAttempts`` when the window is full.

    Returns the place's token for ``give_back`` (None when Redis is unreachable).
    """
    limit = current_app.config["VOUCHER_MAX_FAILURES"]
    window = current_app.config["VOUCHER_FAILURE_WINDOW_SECONDS"]
    key = _key(user_id)
    now = time.time()
    token = f"{now:.6f}:{secrets.token_hex(4)}"
    try:
        pipe = _redis().pipeline(transaction=True)
        pipe.zremrangebyscore(key, "-inf", now - window)
        pipe.zadd(key, {token: now})
        pipe.zcard(key)
        pipe.expire(key, int(math.ceil(window)) + 1)
        _, _, count, _ = pipe.execute()
        if count <= limit:
            return token
        pipe = _redis().pipeline(transaction=True)
        pipe.zrem(key, token)
        pipe.zrange(key, 0, 0, withscores=True)
        _, oldest = pipe.execute()
    except redis.RedisError:
        logger.warning("voucher attempt limit unavailable: redis error user=%s", user_id)
        return None
    oldest_at = oldest[0][1] if oldest else now
    raise TooManyAttempts(max(1, math.ceil(oldest_at + window - now)))


def give_back(user_id: uuid.UUID, token: str | None) -> None:
    """A try that succeeded does not count as a failure."""
    if token is None:
        return
    try:
        _redis().zrem(_key(user_id), token)
    except redis.RedisError:
        logger.warning("voucher attempt not given back: redis error user=%s", user_id)


def failures(user_id: uuid.UUID) -> int:
    """Failed tries of ``user_id`` in the current window (0 when Redis is unreachable)."""
    window = current_app.config["VOUCHER_FAILURE_WINDOW_SECONDS"]
    try:
        return int(_redis().zcount(_key(user_id), time.time() - window, "+inf"))
    except redis.RedisError:
        return 0
