"""The periodic sweep: finishes whatever a lost job, a dead worker or a Redis outage left.

It runs as a self-rescheduling RQ job. Several workers may start it at once: a chain
token in Redis lets one chain survive, and every repair it makes is idempotent.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

from flask import current_app
from rq import get_current_job
from sqlalchemy import and_, or_, select

from vpsshop import redis_keys
from vpsshop.extensions import db
from vpsshop.models import FINAL_STATUSES, SessionStatus, VpsSession
from vpsshop.models.types import utcnow
from vpsshop.queue import DEFAULT_JOB_OPTIONS, get_queue, get_redis
from vpsshop.services import day_figures, mail_outbox, payments, provisioning, stats, waitlist
from vpsshop.services.session_jobs import enqueue_session_job, has_lease

log = logging.getLogger(__name__)
BATCH = 500


def _chain_key() -> str:
    return redis_keys.key("sweep-chain")


def sweep() -> dict[str, int]:
    """Repair every session that has no job coming; returns counts per repair."""
    now = utcnow()
    counts = {"provision": 0, "watch": 0, "stop": 0, "failed": 0, "expired": 0}
    stale = select(VpsSession).where(
        or_(
            VpsSession.status.in_(
                [SessionStatus.PENDING, SessionStatus.PROVISIONING, SessionStatus.STOPPING]
            ),
            and_(VpsSession.status == SessionStatus.READY, VpsSession.expires_at <= now),
            and_(
                VpsSession.status.in_(list(FINAL_STATUSES)),
                VpsSession.worker_route.is_not(None),
                VpsSession.vm_stopped_at.is_(None),
                VpsSession.ended_at >= now - timedelta(days=7),
            ),
        )
    )
    rows = db.session.execute(stale.order_by(VpsSession.created_at).limit(BATCH)).scalars().all()
    todo = [(s.id, s.status, s.created_at) for s in rows]
    db.session.rollback()
    for session_id, status, created_at in todo:
        if has_lease(session_id):
            continue
        kind = _repair(session_id, status, created_at, now)
        if kind:
            counts[kind] += 1
    counts["check"] = _check_ready_sessions(now)
    counts["payments_expired"] = payments.expire_stale_payments()
    # The net under the waitlist's own jobs: lapsed entries leave, free slots are served.
    counts["waitlist"] = waitlist.sweep()
    counts["mail"] = mail_outbox.requeue_stalled()
    # Last: the one step that may read a day's worth of ledger rows (once a day).
    counts["days_closed"] = day_figures.close_days(stats.day_range(stats.CHART_DAYS, now)[1], now)
    if any(counts.values()):
        log.info("sweep %s", " ".join(f"{k}={v}" for k, v in counts.items()))
    return counts


def _check_ready_sessions(now) -> int:
    """Enqueue a look at running ready sessions: a VM its node lost becomes lost.

    Each session is looked at once per ``LOST_CHECK_INTERVAL_SECONDS`` and a sweep enqueues
    at most ``LOST_CHECKS_PER_SWEEP``, so thousands of ready sessions never crowd new
    purchases' jobs out of the queue (a buyer looking at the page finds a lost VM at once
    through the log proxy's 404 anyway).
    """
    config = current_app.config
    interval = max(1, int(config["LOST_CHECK_INTERVAL_SECONDS"]))
    room = int(config["LOST_CHECKS_PER_SWEEP"])
    running = select(VpsSession.id).where(
        VpsSession.status == SessionStatus.READY,
        or_(VpsSession.expires_at.is_(None), VpsSession.expires_at > now),
    )
    ids = db.session.execute(running.order_by(VpsSession.ready_at).limit(BATCH)).scalars().all()
    db.session.rollback()
    enqueued = 0
    for session_id in ids:
        if enqueued >= room:
            break
        # Due once per interval: the marker's expiry is the next time it is due.
        if get_redis().set(redis_keys.key("lost-check", session_id), 1, nx=True, ex=interval):
            provisioning.enqueue_check(session_id)
            enqueued += 1
    return enqueued


def _repair(session_id: uuid.UUID, status: str, created_at, now) -> str | None:
    timeout = timedelta(seconds=current_app.config["PROVISION_TIMEOUT_SECONDS"])
    if (
        status in (SessionStatus.PENDING, SessionStatus.PROVISIONING)
        and now >= created_at + timeout
    ):
        provisioning.fail_and_refund(session_id, "The server was not ready in time. Refunded.")
        return "failed"
    if status == SessionStatus.PENDING:
        enqueue_session_job("provision", session_id)
        return "provision"
    if status == SessionStatus.PROVISIONING:
        enqueue_session_job("watch", session_id)
        return "watch"
    if status == SessionStatus.READY:
        provisioning.expire(session_id)
        return "expired"
    enqueue_session_job("stop", session_id)
    return "stop"


def ensure_sweep_scheduled(delay: float | None = None) -> bool:
    """Schedule the next sweep unless a sweep chain is alive; True when one was scheduled."""
    interval = current_app.config["SWEEP_INTERVAL_SECONDS"]
    delay = interval if delay is None else delay
    job_id = f"sweep-{uuid.uuid4().hex[:12]}"
    ttl = int(delay + interval * 3) + 1
    if not get_redis().set(_chain_key(), job_id, nx=True, ex=ttl):
        return False
    _enqueue_sweep(job_id, delay)
    return True


def continue_chain() -> None:
    """Called at the end of a sweep job: schedule the next one if this job owns the chain."""
    job = get_current_job()
    redis_conn = get_redis()
    owner = redis_conn.get(_chain_key())
    if job is not None and owner is not None and owner.decode() != job.id:
        return  # a duplicate chain: let it end here
    interval = current_app.config["SWEEP_INTERVAL_SECONDS"]
    job_id = f"sweep-{uuid.uuid4().hex[:12]}"
    redis_conn.set(_chain_key(), job_id, ex=int(interval * 4) + 1)
    _enqueue_sweep(job_id, interval)


def _enqueue_sweep(job_id: str, delay: float) -> None:
    get_queue().enqueue_in(
        timedelta(seconds=delay),
        "jobs.maintenance.sweep_sessions",
        job_id=job_id,
        **DEFAULT_JOB_OPTIONS,
    )
