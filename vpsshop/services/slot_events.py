"""Notices that a slot may have freed, derived from SQLAlchemy's flushes, as the versions
are: a session leaving the active states (deleted, expired, failed, lost), a worker
enabled, given more sessions or healthy again, a product put on sale or given workers.

After the commit that made the slot free, a fulfilment job is enqueued for the products
with people waiting (services/waitlist.py); nothing is enqueued while nobody waits. No
service has to remember to call anything, and the sweep is the net when Redis is away.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import current_app, has_app_context
from sqlalchemy import event, inspect
from sqlalchemy.orm import Session

from vpsshop.models import ACTIVE_STATUSES, VpsProduct, VpsSession, Worker, WorkerStatus
from vpsshop.queue import DEFAULT_JOB_OPTIONS, get_queue
from vpsshop.services.after_commit import AfterCommit

log = logging.getLogger(__name__)
_ACTIVE = {status.value for status in ACTIVE_STATUSES}


def _history(obj: object, name: str) -> tuple[list, list]:
    history = inspect(obj).attrs[name].history
    return list(history.deleted or ()), list(history.added or ())


def _session_freed(session: VpsSession) -> bool:
    before, after = _history(session, "status")
    return bool(before) and str(before[0]) in _ACTIVE and str(session.status) not in _ACTIVE


def _worker_grew(worker: Worker) -> bool:
    status_before, status_after = _history(worker, "status")
    if status_after and str(worker.status) == WorkerStatus.ACTIVE.value and status_before:
        return True
    size_before, _ = _history(worker, "max_sessions")
    if size_before and isinstance(worker.max_sessions, int):
        return (size_before[0] or 0) < worker.max_sessions
    failures_before, _ = _history(worker, "consecutive_failures")
    failures = worker.consecutive_failures
    # An SQL expression (a failure counted) is never a recovery.
    return bool(failures_before) and isinstance(failures, int) and failures < failures_before[0]


def _product_grew(product: VpsProduct) -> bool:
    state = inspect(product)
    return any(state.attrs[name].history.has_changes() for name in ("is_active", "workers"))


def _after_flush(session: Session, _context: Any) -> None:
    workers: set = set()
    products: set = set()
    for obj in session.dirty:
        if isinstance(obj, VpsSession) and obj.worker_id and _session_freed(obj):
            workers.add(obj.worker_id)
        elif isinstance(obj, Worker) and _worker_grew(obj):
            workers.add(obj.id)
        elif isinstance(obj, VpsProduct) and _product_grew(obj):
            products.add(obj.id)
    if workers or products:
        pending = _pending.pending(session)
        pending["workers"] |= workers
        pending["products"] |= products


def _enqueue_fulfilment(pending: dict[str, set]) -> None:
    if not has_app_context() or "redis" not in current_app.extensions:
        return
    from vpsshop.services import waitlist

    if not waitlist.is_open():
        return
    try:
        get_queue().enqueue(
            "jobs.waitlist.slots_freed",
            sorted(str(worker_id) for worker_id in pending["workers"]),
            sorted(str(product_id) for product_id in pending["products"]),
            **DEFAULT_JOB_OPTIONS,
        )
    except Exception:  # Redis away: the sweep serves the line
        log.warning("slots_freed not enqueued; the sweep fulfils", exc_info=True)


_pending = AfterCommit(
    "slot_events_pending", lambda: {"workers": set(), "products": set()}, _enqueue_fulfilment
)


def install() -> None:
    """Listen to every ORM session of the process; idempotent."""
    if _pending.installed:
        return
    event.listen(Session, "after_flush", _after_flush)
    _pending.install()
