"""The admin index page: what needs attention at a glance."""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Any

from flask_admin import AdminIndexView, expose
from sqlalchemy import func, select

from vpsshop.admin.access import AdminOnly
from vpsshop.extensions import db
from vpsshop.models import (
    ACTIVE_STATUSES,
    CoinTransaction,
    TransactionKind,
    VpsSession,
    Worker,
    WorkerStatus,
)
from vpsshop.services import workers as worker_service


def _sessions_by_status() -> dict[str, int]:
    rows = db.session.execute(
        select(VpsSession.status, func.count())
        .where(VpsSession.status.in_([str(status) for status in ACTIVE_STATUSES]))
        .group_by(VpsSession.status)
    ).all()
    counts = {str(status): 0 for status in ACTIVE_STATUSES}
    counts.update({status: count for status, count in rows})
    return counts


def _worker_summary() -> dict[str, int]:
    all_workers = db.session.execute(select(Worker)).scalars().all()
    active = worker_service.active_session_counts([worker.id for worker in all_workers])
    healthy = [
        w for w in all_workers if w.status == WorkerStatus.ACTIVE and worker_service.is_healthy(w)
    ]
    free = sum(max(0, w.max_sessions - active.get(w.id, 0)) for w in healthy)
    return {"total": len(all_workers), "healthy": len(healthy), "free_slots": free}


def _coins_today() -> dict[str, int]:
    midnight = datetime.combine(datetime.now(UTC).date(), time(), tzinfo=UTC)
    rows = db.session.execute(
        select(CoinTransaction.kind, func.coalesce(func.sum(CoinTransaction.delta), 0))
        .where(
            CoinTransaction.created_at >= midnight,
            CoinTransaction.kind.in_([TransactionKind.PURCHASE, TransactionKind.REFUND]),
        )
        .group_by(CoinTransaction.kind)
    ).all()
    sums = dict(rows)
    return {
        "spent": -int(sums.get(TransactionKind.PURCHASE.value, 0)),
        "refunded": int(sums.get(TransactionKind.REFUND.value, 0)),
    }


def failed_jobs_count() -> int | None:
    """Failed RQ jobs, or None when Redis cannot be reached (the page still renders)."""
    from redis.exceptions import RedisError
    from rq.registry import FailedJobRegistry

    from vpsshop.queue import get_queue

    try:
        return FailedJobRegistry(queue=get_queue()).count
    except RedisError:
        return None


class DashboardView(AdminOnly, AdminIndexView):
    """The index at /admin/, for admins only like every other admin page."""

    @expose("/")
    def index(self) -> Any:
        return self.render(
            "admin/vpsshop_dashboard.html",
            sessions=_sessions_by_status(),
            workers=_worker_summary(),
            coins=_coins_today(),
            failed_jobs=failed_jobs_count(),
        )
