"""How many slots a product has free now, and when the next ones are expected (no locks).

What the catalogue and the waitlist show; the slot a purchase takes is decided under a
lock by ``workers.reserve_slot``, never by these counts.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime

from flask import current_app
from sqlalchemy import func, select

from vpsshop.extensions import db
from vpsshop.models import (
    ACTIVE_STATUSES,
    SessionStatus,
    VpsSession,
    WaitlistEntry,
    WaitlistStatus,
    Worker,
    WorkerStatus,
)
from vpsshop.models import vps_product_workers as product_workers
from vpsshop.models.types import utcnow


def _eligible(query):
    return query.where(
        Worker.status == WorkerStatus.ACTIVE.value,
        Worker.consecutive_failures < int(current_app.config["NODE_UNHEALTHY_AFTER"]),
    )


def free_slots(product_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, int]:
    """Free slots per product over its active, healthy workers (one query)."""
    ids = list(product_ids)
    if not ids:
        return {}
    active = (
        select(func.count())
        .where(
            VpsSession.worker_id == Worker.id,
            VpsSession.status.in_([status.value for status in ACTIVE_STATUSES]),
        )
        .correlate(Worker)
        .scalar_subquery()
    )
    rows = db.session.execute(
        _eligible(
            select(product_workers.c.product_id, Worker.max_sessions, active)
            .join(Worker, Worker.id == product_workers.c.worker_id)
            .where(product_workers.c.product_id.in_(ids))
        )
    ).all()
    free = dict.fromkeys(ids, 0)
    for product_id, max_sessions, used in rows:
        free[product_id] += max(0, max_sessions - used)
    return free


def slot_ends(product_ids: Iterable[uuid.UUID], depth: int) -> dict[uuid.UUID, list[datetime]]:
    """The ``depth`` earliest known ends of running sessions on each product's workers: the
    times slots are expected to free, soonest first (sessions without an end are left out)."""
    ids = list(product_ids)
    if not ids or depth < 1:
        return {product_id: [] for product_id in ids}
    rank = (
        func.row_number()
        .over(partition_by=product_workers.c.product_id, order_by=VpsSession.expires_at)
        .label("rank")
    )
    ranked = (
        _eligible(
            select(product_workers.c.product_id, VpsSession.expires_at, rank)
            .join(Worker, Worker.id == product_workers.c.worker_id)
            .join(VpsSession, VpsSession.worker_id == Worker.id)
            .where(
                product_workers.c.product_id.in_(ids),
                VpsSession.status == SessionStatus.READY.value,
                VpsSession.expires_at.is_not(None),
            )
        )
    ).subquery()
    rows = db.session.execute(
        select(ranked.c.product_id, ranked.c.expires_at)
        .where(ranked.c.rank <= depth)
        .order_by(ranked.c.product_id, ranked.c.expires_at)
    ).all()
    ends: dict[uuid.UUID, list[datetime]] = {product_id: [] for product_id in ids}
    for product_id, expires_at in rows:
        ends[product_id].append(expires_at)
    return ends


def expected_at(ends: list[datetime], place: int) -> datetime | None:
    """When the ``place``-th slot of a sold-out product should free (1 = the next one)."""
    if place < 1 or len(ends) < place:
        return None
    return max(ends[place - 1], utcnow())


def products_with_waiters(worker_ids: Iterable[uuid.UUID] | None) -> list[uuid.UUID]:
    """Products with someone waiting, among those the workers serve (None: any product)."""
    query = (
        select(WaitlistEntry.product_id)
        .where(
            WaitlistEntry.status == WaitlistStatus.WAITING.value,
            WaitlistEntry.expires_at > utcnow(),
        )
        .distinct()
    )
    if worker_ids is not None:
        ids = list(worker_ids)
        if not ids:
            return []
        query = query.join(
            product_workers, product_workers.c.product_id == WaitlistEntry.product_id
        ).where(product_workers.c.worker_id.in_(ids))
    return list(db.session.execute(query).scalars())
