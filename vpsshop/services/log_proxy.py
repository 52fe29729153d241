"""What a viewer sees of a session's node log, fetched server-side.

However many viewers poll a session, its node is asked at most once per
``LOG_CACHE_SECONDS``, by them and the worker's lost check together (services/log_cache.py).
The last good log is kept so that a node that stops answering still leaves something to
show, marked stale. Nothing about the node (URL, token, headers, error text) is ever part
of what this module returns.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import redis
from flask import current_app
from sqlalchemy import inspect

from vpsshop.extensions import db
from vpsshop.models import SessionStatus, VpsSession, Worker
from vpsshop.services import log_cache, provisioning
from vpsshop.services.log_cache import ERROR, GONE, OK

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

    try:
        if worker is None or not route:
            cached = log_cache.last_log(session_id)
            return _view(None, cached) if cached else LogView("", "pending")
        reading = log_cache.read(session_id, worker, route, last_will_do=is_final)
    except redis.RedisError as error:
        # Without Redis there is no coalescing, so the node is not asked at all.
        current_app.logger.warning("log_cache_down session=%s error=%s", session_id, error)
        return LogView("", "unavailable")
    if reading.fetched and reading.state == GONE and is_ready:
        _report_gone(session_id)
    # A final session's VM is gone or going: its last log is as good as it gets.
    last_is_all = is_final and reading.cached is not None
    return _view(reading.state or (GONE if last_is_all else ERROR), reading.cached)


def tail_lines(text: str, max_lines: int = 400) -> str:
    """The last ``max_lines`` lines of ``text``, for the page's log panel."""
    lines = text.splitlines()
    return "\n".join(lines[-max_lines:])
