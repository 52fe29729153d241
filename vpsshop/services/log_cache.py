"""A session's node log in Redis, shared by all of its readers across processes.

The viewers' log proxy and the worker's lost check read a session's log through here, so
between them its node is asked at most once per ``LOG_CACHE_SECONDS``: the first reader
takes a Redis lock (SET NX) and fetches, the others wait for its answer and reuse it. The
outcome (``OK``, ``GONE``, ``ERROR``) is kept for the window, the last good log (masked)
for ``LOG_KEEP_SECONDS``. Nothing about the node (URL, token, error text) is stored.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass

import redis
from flask import current_app

from vpsshop import redis_keys
from vpsshop.models import Worker
from vpsshop.queue import get_redis
from vpsshop.services import log_parser, node_client
from vpsshop.services.node_client import NodeError, NodeNotFound

WAIT_STEP_SECONDS = 0.05

# Outcome of the newest fetch, stored for LOG_CACHE_SECONDS (its presence means "fresh").
OK, GONE, ERROR = "ok", "gone", "error"


@dataclass(frozen=True)
class Reading:
    """What a reader learnt: the newest outcome of asking the node (None when none is
    fresh and the wait for another reader's fetch ran out), the last good log as
    ``{"text", "at"}``, and whether this reader asked the node itself (with its error
    when the node failed)."""

    state: str | None
    cached: dict | None
    fetched: bool = False
    error: NodeError | None = None


def _keys(session_id: str) -> tuple[str, str, str]:
    return tuple(redis_keys.key("log", session_id, part) for part in ("text", "state", "lock"))


def _cached(conn: redis.Redis, text_key: str, state_key: str) -> tuple[str | None, dict | None]:
    state, raw = conn.mget(state_key, text_key)
    return (state.decode() if state else None), (json.loads(raw) if raw else None)


def last_log(session_id: str) -> dict | None:
    """The last good log kept for the session, without asking its node. Raises RedisError."""
    text_key, state_key, _ = _keys(session_id)
    return _cached(get_redis(), text_key, state_key)[1]


def fetch(session_id: str, worker: Worker, route: str) -> Reading:
    """Ask the node once, outside the cache (the bounded, masked text when it answers)."""
    try:
        text = node_client.fetch_log(worker, route)
    except NodeNotFound as error:
        return Reading(GONE, None, fetched=True, error=error)
    except NodeError as error:
        # The kind only: a node's error text may name its URL.
        current_app.logger.warning("log_fetch_failed session=%s kind=%s", session_id, error.kind)
        return Reading(ERROR, None, fetched=True, error=error)
    limit = int(current_app.config["NODE_LOG_MAX_BYTES"])
    # Masked before it is cached: the password lives encrypted in the database only.
    masked = log_parser.mask_credentials(text[-limit:])
    return Reading(OK, {"text": masked, "at": time.time()}, fetched=True)


def _release(conn: redis.Redis, lock_key: str, token: str) -> None:
    # Delete the lock only if it is still ours (it may have expired and been retaken).
    conn.eval(
        "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end "
        "return 0",
        1,
        lock_key,
        token,
    )


def read(session_id: str, worker: Worker, route: str, *, last_will_do: bool = False) -> Reading:
    """The newest outcome of asking the node for the session's log, asking it only when no
    reader did within the cache window. ``last_will_do``: a kept log is enough, fresh or
    not (a final session's VM is gone or going). Raises RedisError.

    The caller holds no database transaction: this may wait on the lock or the node.
    """
    config = current_app.config
    text_key, state_key, lock_key = _keys(session_id)
    cache_ms = max(1, int(float(config["LOG_CACHE_SECONDS"]) * 1000))
    # The last good log, kept past the polling window so a dead node still has a log.
    keep_seconds = max(1, int(config["LOG_KEEP_SECONDS"]))
    # The node client cuts a fetch off at this budget; the lock outlives it by a margin so
    # that no second reader starts another fetch while the first is still running.
    fetch_budget = node_client.call_budget(config["NODE_LOG_READ_TIMEOUT"])
    conn = get_redis()
    deadline = time.monotonic() + fetch_budget + 1.0
    while True:
        state, cached = _cached(conn, text_key, state_key)
        if state is not None or (last_will_do and cached):
            return Reading(state, cached)
        token = secrets.token_hex(16)
        lock_ms = int((fetch_budget + 2.0) * 1000)
        if conn.set(lock_key, token, nx=True, px=lock_ms):
            try:
                state, cached = _cached(conn, text_key, state_key)
                if state is not None:  # another reader fetched between our read and lock
                    return Reading(state, cached)
                reading = fetch(session_id, worker, route)
                pipe = conn.pipeline(transaction=True)
                if reading.cached is not None:
                    pipe.set(text_key, json.dumps(reading.cached), ex=keep_seconds)
                pipe.set(state_key, reading.state, px=cache_ms)
                pipe.execute()
                return Reading(reading.state, reading.cached or cached, True, reading.error)
            finally:
                _release(conn, lock_key, token)
        if time.monotonic() >= deadline:
            return Reading(None, cached)
        time.sleep(WAIT_STEP_SECONDS)
