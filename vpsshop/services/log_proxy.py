"""A session's node log fetched server-side, coalesced in Redis across processes.

However many viewers poll a session, its node is asked at most once per
``LOG_CACHE_SECONDS``: the first request takes a Redis lock (SET NX) and fetches, the
others wait for its answer and reuse it. The last good log is kept so that a node that
stops answering still leaves something to show, marked stale. Nothing about the node
(URL, token, headers, error text) is ever part of what this module returns.
"""

from __future__ import annotations

import json
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import redis
from flask import current_app
from sqlalchemy import inspect

from vpsshop import redis_keys
from vpsshop.extensions import db
from vpsshop.models import SessionStatus, VpsSession, Worker
from vpsshop.queue import get_redis
from vpsshop.services import log_parser, node_client, provisioning
from vpsshop.services.node_client import NodeError, NodeNotFound

WAIT_STEP_SECONDS = 0.05

# Outcome of the newest fetch, stored for LOG_CACHE_SECONDS (its presence means "fresh").
OK, GONE, ERROR = "ok", "gone", "error"

NOTICES = {
    "pending": "The log starts once a node has accepted the server.",
    "stale": "The node did not answer just now; this is the log as last read.",
    "gone": "The server is gone from its node; this is the last log we read.",
    "gone_empty": "The server is gone from its node; its log is no longer available.",
    "unavailable": "The log is unavailable right now. It will be retried shortly.",
}


@dataclass(frozen=True)
class LogView:
    """What a viewer gets: the text and how current it is.

    ``state`` is ``live`` (fetched within the cache window), ``stale`` (the node failed;
    last good text), ``gone`` (the node no longer knows the VM), ``pending`` (no node has
    the VM yet) or ``unavailable`` (nothing to show).
    """

    text: str
    state: str
    fetched_at: datetime | None = None

    @property
    def notice(self) -> str | None:
        """A human sentence about the log's freshness, or None when it is live."""
        if self.state == "live":
            return None
        if self.state == "gone" and not self.text:
            return NOTICES["gone_empty"]
        return NOTICES[self.state]


def _keys(session_id: str) -> tuple[str, str, str]:
    return tuple(redis_keys.key("log", session_id, part) for part in ("text", "state", "lock"))


def _read(conn: redis.Redis, text_key: str, state_key: str) -> tuple[str | None, dict | None]:
    state, raw = conn.mget(state_key, text_key)
    cached = json.loads(raw) if raw else None
    return (state.decode() if state else None), cached


def _view(state: str | None, cached: dict | None) -> LogView:
    text = cached["text"] if cached else ""
    fetched_at = datetime.fromtimestamp(cached["at"], UTC) if cached else None
    if state == OK:
        return LogView(text, "live", fetched_at)
    if state == GONE:
        return LogView(text, "gone", fetched_at)
    if cached:
        return LogView(text, "stale", fetched_at)
    return LogView("", "unavailable")


def _detached_worker(worker: Worker) -> Worker:
    # A transient copy: the node client can read it after the database session has
    # released its connection, and nothing it does to it reaches the caller's session.
    values = {attr.key: getattr(worker, attr.key) for attr in inspect(Worker).column_attrs}
    return Worker(**values)


def _report_gone(session_id: str) -> None:
    """A ready session's VM is gone: a worker checks it and ends the session as lost.

    This read-only request changes nothing itself; it runs once per cache window at most.
    """
    try:
        provisioning.enqueue_check(uuid.UUID(session_id))
    except redis.RedisError:  # the periodic check in the sweeper finds it too
        current_app.logger.warning("lost_check_not_enqueued session=%s", session_id)


def _fetch(session_id: str, worker: Worker, route: str) -> tuple[str, str | None]:
    """Ask the node once; the outcome and, when it answered, the bounded text."""
    try:
        text = node_client.fetch_log(worker, route)
    except NodeNotFound:
        return GONE, None
    except NodeError as error:
        # The kind only: a node's error text may name its URL.
        current_app.logger.warning("log_fetch_failed session=%s kind=%s", session_id, error.kind)
        return ERROR, None
    limit = int(current_app.config["NODE_LOG_MAX_BYTES"])
    # Masked before it is cached: the password lives encrypted in the database only.
    return OK, log_parser.mask_credentials(text[-limit:])


def _release(conn: redis.Redis, lock_key: str, token: str) -> None:
    # Delete the lock only if it is still ours (it may have expired and been retaken).
    conn.eval(
        "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end "
        "return 0",
        1,
        lock_key,
        token,
    )


def read_log(session: VpsSession) -> LogView:
    """The session's log as its node last told it, fetching at most once per cache window.

    The caller has checked that the viewer owns ``session``. This ends the caller's
    (read-only) database transaction before it waits on the lock or the node, so a slow
    node never pins a pooled connection; ``session`` reloads on its next attribute access.
    """
    session_id = str(session.id)
    route = session.worker_route
    worker = _detached_worker(session.worker) if session.worker is not None else None
    is_final = session.is_final
    is_ready = session.status == SessionStatus.READY
    db.session.rollback()

    config = current_app.config
    text_key, state_key, lock_key = _keys(session_id)
    cache_ms = max(1, int(float(config["LOG_CACHE_SECONDS"]) * 1000))
    # The last good log, kept past the polling window so a dead node still has a log.
    keep_seconds = max(1, int(config["LOG_KEEP_SECONDS"]))
    # The node client cuts a fetch off at this budget; the lock outlives it by a margin so
    # that no second viewer starts another fetch while the first is still running.
    fetch_budget = node_client.call_budget(config["NODE_LOG_READ_TIMEOUT"])
    conn = get_redis()
    try:
        if worker is None or not route:
            _, cached = _read(conn, text_key, state_key)
            return _view(None, cached) if cached else LogView("", "pending")

        deadline = time.monotonic() + fetch_budget + 1.0
        while True:
            state, cached = _read(conn, text_key, state_key)
            # A final session's VM is gone or going: its last log is as good as it gets.
            if state is not None or (is_final and cached):
                return _view(state or GONE, cached)
            token = secrets.token_hex(16)
            lock_ms = int((fetch_budget + 2.0) * 1000)
            if conn.set(lock_key, token, nx=True, px=lock_ms):
                try:
                    state, cached = _read(conn, text_key, state_key)
                    if state is None:  # nobody fetched between our read and our lock
                        state, text = _fetch(session_id, worker, route)
                        if state == GONE and is_ready:
                            _report_gone(session_id)
                        pipe = conn.pipeline(transaction=True)
                        if text is not None:
                            cached = {"text": text, "at": time.time()}
                            pipe.set(text_key, json.dumps(cached), ex=keep_seconds)
                        pipe.set(state_key, state, px=cache_ms)
                        pipe.execute()
                    return _view(state, cached)
                finally:
                    _release(conn, lock_key, token)
            if time.monotonic() >= deadline:
                return _view(ERROR, cached)
            time.sleep(WAIT_STEP_SECONDS)
    except redis.RedisError as error:
        # Without Redis there is no coalescing, so the node is not asked at all.
        current_app.logger.warning("log_cache_down session=%s error=%s", session_id, error)
        return LogView("", "unavailable")


def tail_lines(text: str, max_lines: int = 400) -> str:
    """The last ``max_lines`` lines of ``text``, for the page's log panel."""
    lines = text.splitlines()
    return "\n".join(lines[-max_lines:])
