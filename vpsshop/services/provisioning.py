"""The session lifecycle run by background jobs: create with failover, watch, stop, expire.

Every step reloads the session, checks its state under a row lock before changing it,
and never holds a database transaction open across a call to a node. Running a step
twice, or after a worker died in the middle of it, changes nothing twice.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from redis.exceptions import RedisError
from sqlalchemy import select

from vpsshop.extensions import db
from vpsshop.models import FINAL_STATUSES, SessionStatus, VpsSession, Worker
from vpsshop.models.types import utcnow
from vpsshop.queue import DEFAULT_JOB_OPTIONS, get_queue
from vpsshop.services import crypto, ledger, log_cache, node_client, session_notices, workers
from vpsshop.services.log_parser import parse_log
from vpsshop.services.node_client import NodeBusy, NodeError, NodeNotFound
from vpsshop.services.session_jobs import current_job_id, enqueue_session_job, join_node_watch

log = logging.getLogger(__name__)


def _locked(session_id: uuid.UUID) -> VpsSession | None:
    return db.session.execute(
        select(VpsSession).where(VpsSession.id == session_id).with_for_update()
    ).scalar_one_or_none()


def _detached(obj):
    """Keep a loaded row usable after the transaction ends, without reopening one."""
    if obj is not None:
        db.session.expunge(obj)
    return obj


def _node_target(
    session_id: uuid.UUID, wanted: Callable[[VpsSession], bool]
) -> tuple[str | None, Worker | None] | None:
    """The session's route and a detached copy of its worker when ``wanted(session)``,
    else None; the transaction ends either way (no node call runs inside one)."""
    session = db.session.get(VpsSession, session_id)
    if session is None or not wanted(session):
        db.session.rollback()
        return None
    target = (session.worker_route, _detached(session.worker))
    db.session.rollback()
    return target


def _schedule(
    kind: str, session_id: uuid.UUID, delay: float = 0.0, at: datetime | None = None
) -> None:
    job = enqueue_session_job(kind, session_id, delay, at)
    log.info(
        "scheduled kind=%s session_id=%s job_id=%s delay=%.1f", kind, session_id, job.id, delay
    )


def _schedule_after_commit(kind: str, session_id: uuid.UUID) -> None:
    """Schedule from a web request whose change is committed; Redis down is no error here.

    The session has no lease then, so the sweeper enqueues the job once Redis is back.
    """
    try:
        _schedule(kind, session_id)
    except RedisError:
        log.warning("enqueue failed kind=%s session_id=%s, left to the sweeper", kind, session_id)


def _note_node_failure(worker_id: uuid.UUID | None, error: NodeError) -> None:
    # A busy node is healthy; it just has no room. Anything else counts against it.
    if worker_id is None or isinstance(error, NodeBusy):
        return
    worker = db.session.get(Worker, worker_id)
    if worker is not None:
        workers.record_failure(worker, f"{error.kind}: {error.message}")


def _note_node_success(worker_id: uuid.UUID | None) -> None:
    if worker_id is not None:
        workers.note_seen(worker_id)


# --- create, with failover -------------------------------------------------------------


def provision(session_id: uuid.UUID) -> None:
    """Ask the session's node to create the VM; fail over to other nodes of the product."""
    while True:
        session = db.session.get(VpsSession, session_id)
        if session is None or session.status != SessionStatus.PENDING:
            db.session.rollback()
            return
        action = session.product.provision_action
        worker = _detached(session.worker)
        db.session.rollback()  # no transaction stays open across the node call
        try:
            if worker is None:
                raise node_client.NodeUnreachable("the reserved worker no longer exists")
            route = node_client.create_vm(worker, action, session_id)
        except NodeError as error:
            log.warning(
                "create failed session_id=%s worker_id=%s kind=%s",
                session_id,
                worker.id if worker else None,
                error.kind,
            )
            if not _fail_over(session_id, worker.id if worker else None, error):
                return
            continue
        _created(session_id, worker, route)
        return


def _fail_over(session_id: uuid.UUID, worker_id: uuid.UUID | None, error: NodeError) -> bool:
    """Move the reservation to an untried worker; False when none is left (failed)."""
    _note_node_failure(worker_id, error)
    db.session.flush()
    session = _locked(session_id)
    if session is None or session.status != SessionStatus.PENDING:
        db.session.commit()
        return False
    tried = set(json.loads(session.tried_worker_ids or "[]"))
    if worker_id is not None:
        tried.add(str(worker_id))
    session.tried_worker_ids = json.dumps(sorted(tried))
    # Release the row lock on the session before locking workers (lock order).
    db.session.commit()
    product = db.session.get(VpsSession, session_id).product
    candidate = workers.reserve_slot(product, exclude=[uuid.UUID(w) for w in tried])
    session = _locked(session_id)
    if session.status != SessionStatus.PENDING:
        db.session.commit()
        return False
    if candidate is not None:
        session.worker_id = candidate.id
        db.session.commit()
        log.info("failover session_id=%s worker_id=%s", session_id, candidate.id)
        return True
    reason = "busy" if isinstance(error, NodeBusy) else "failing"
    _fail(session, f"No server could create the VM (last node {reason}). Refunded.")
    db.session.commit()
    return False


def _created(session_id: uuid.UUID, worker: Worker, route: str) -> None:
    _note_node_success(worker.id)
    session = _locked(session_id)
    if session.worker_route and (session.worker_route, session.worker_id) != (route, worker.id):
        # Another run already gave this session its VM: this one belongs to no one.
        db.session.commit()
        log.warning("surplus VM session_id=%s worker_id=%s route=%s", session_id, worker.id, route)
        stop_orphan(worker.id, route)
        return
    session.worker_route = route
    session.log_url = f"/log/{route}"
    if session.status == SessionStatus.PENDING:
        session.status = SessionStatus.PROVISIONING
        db.session.commit()
        log.info("created session_id=%s worker_id=%s route=%s", session_id, worker.id, route)
        # First look at once, with the node's other new sessions (a fast node may already
        # show the details): one tick job for them all, not a job per session.
        join_node_watch(session_id, worker.id, time.monotonic(), current_job_id(), at_once=True)
        return
    # Deleted or failed while the node was creating: the new VM must not be left running.
    db.session.commit()
    _schedule("stop", session_id)


ORPHAN_STOP_ATTEMPTS = 10


def _stop_retry_delay(attempts: int) -> float:
    """Exponential back-off after ``attempts`` failed stops, capped."""
    config = current_app.config
    return min(
        config["STOP_RETRY_BASE_SECONDS"] * 2 ** (attempts - 1), config["STOP_RETRY_MAX_SECONDS"]
    )


def stop_orphan(worker_id: uuid.UUID, route: str, attempt: int = 1) -> None:
    """Stop a VM no session owns; retried with back-off by a job of its own."""
    worker = _detached(db.session.get(Worker, worker_id))
    db.session.rollback()
    if worker is None:
        return
    try:
        node_client.stop_vm(worker, route)
    except NodeError as error:
        _note_node_failure(worker.id, error)
        db.session.commit()
        if attempt >= ORPHAN_STOP_ATTEMPTS:
            log.error("surplus VM not stopped worker_id=%s route=%s", worker_id, route)
            return
        delay = _stop_retry_delay(attempt)
        get_queue().enqueue_in(
            timedelta(seconds=delay),
            "jobs.provisioning.stop_orphan_vm",
            str(worker_id),
            route,
            attempt + 1,
            **DEFAULT_JOB_OPTIONS,
        )
        return
    log.info("surplus VM stopped worker_id=%s route=%s", worker_id, route)


# --- watch the log until ready ------------------------------------------------------------


def deadline_after(created_at: datetime) -> datetime:
    """When a session bought at ``created_at`` is failed if not ready yet."""
    return created_at + timedelta(seconds=current_app.config["PROVISION_TIMEOUT_SECONDS"])


def provisioning_deadline(session: VpsSession) -> datetime:
    return deadline_after(session.created_at)


@dataclass(frozen=True)
class WatchTarget:
    """What one read of a provisioning session's log needs, read before the node call."""

    session_id: uuid.UUID
    route: str | None
    action: int
    deadline: datetime
    worker: Worker | None  # detached


def watch_target(session: VpsSession, worker: Worker | None) -> WatchTarget:
    """The target of a loaded session and its worker, detached by the caller (who ends the
    transaction before the node call)."""
    return WatchTarget(
        session.id,
        session.worker_route,
        session.product.provision_action,
        provisioning_deadline(session),
        worker,
    )


def watch(session_id: uuid.UUID) -> None:
    """Read the node's log once: ready, failed, or look again at the node's next tick."""
    session = db.session.get(VpsSession, session_id)
    if session is None or session.status != SessionStatus.PROVISIONING:
        db.session.rollback()
        return
    target = watch_target(session, _detached(session.worker))
    db.session.rollback()
    started = time.monotonic()
    if look(target).again:
        join_node_watch(session_id, target.worker.id, started, current_job_id())


@dataclass(frozen=True)
class Look:
    """What one read of a session's log came to."""

    node: NodeError | bool  # True: the node answered; its error; False: no read was made
    again: bool  # still booting, or the read failed: look again at the node's next tick


def look(target: WatchTarget, *, note_health: bool = True) -> Look:
    """One read of the session's log and what follows: ready, failed, or (``again``) a
    session to read at the node's next watch tick, which the caller joins. No read is made
    past the deadline. ``note_health`` False leaves the node's health to the caller (a
    node's tick records it once for all its reads)."""
    session_id, worker = target.session_id, target.worker
    if utcnow() >= target.deadline:
        _fail_locked(session_id, "The server was not ready in time. Refunded.")
        return Look(False, again=False)
    try:
        if worker is None:
            raise NodeNotFound("the worker no longer exists")
        text = node_client.fetch_log(worker, target.route)
    except NodeNotFound:
        _fail_locked(session_id, "The node lost the VM before it was ready. Refunded.")
        return Look(True, again=False)
    except NodeError as error:
        log.warning("log read failed session_id=%s kind=%s", session_id, error.kind)
        if note_health:
            _note_node_failure(worker.id, error)
            db.session.commit()
        return Look(error, again=True)
    if note_health:
        _note_node_success(worker.id)
    reading = parse_log(text, target.action)
    if not (reading.failure or reading.ready):
        # Still booting: nothing to write, so no row lock and no commit. A session stopped
        # or deleted since the targets were read has a newer job on its lease (the join
        # then does nothing) or is not among the next tick's targets.
        if note_health:
            db.session.commit()
        return Look(True, again=True)
    session = _locked(session_id)
    if session.status != SessionStatus.PROVISIONING:
        db.session.commit()
        return Look(True, again=False)
    if reading.failure:
        _fail(session, f"The node reported a failure: {reading.failure[:200]}. Refunded.")
        db.session.commit()
        _schedule("stop", session_id)
        return Look(True, again=False)
    _mark_ready(session, reading.details)
    db.session.commit()
    if session.expires_at is not None:
        schedule_expiry(session_id, session.expires_at)
    return Look(True, again=False)


def note_node_outcome(worker_id: uuid.UUID, outcome: NodeError | None) -> None:
    """Record one outcome of a node's calls against its health; commits."""
    if outcome is None:
        _note_node_success(worker_id)
    else:
        _note_node_failure(worker_id, outcome)
    db.session.commit()


def _mark_ready(session: VpsSession, details) -> None:
    now = utcnow()
    session.rdp_host = details.host[:255]
    session.rdp_port = details.port
    session.rdp_user = details.username[:255]
    session.rdp_password_encrypted = crypto.encrypt(details.password)
    session.status = SessionStatus.READY
    session.ready_at = now
    minutes = session.product.duration_minutes
    session.expires_at = now + timedelta(minutes=minutes) if minutes else None
    session_notices.ready(session)
    log.info("ready session_id=%s", session.id)


# --- a ready VM its node no longer knows --------------------------------------------------

LOST_MESSAGE = (
    "The node no longer knows this server (it was restarted or lost it), so it is gone. "
    "It was ready and in use, so it is not refunded."
)


def check_ready(session_id: uuid.UUID) -> None:
    """Ask the node for a ready session's log; a 404 makes the session ``lost``.

    Through the log cache its viewers share: a log the node gave within LOG_CACHE_SECONDS
    answers for it, and this read serves them in turn, so the node is asked at most once
    per window whoever reads."""
    target = _node_target(session_id, lambda s: s.status == SessionStatus.READY)
    if target is None:
        return
    route, worker = target
    if worker is None or not route:
        _mark_lost(session_id)
        return
    try:
        reading = log_cache.read(str(session_id), worker, route)
    except RedisError:  # no cache to share: ask the node itself
        reading = log_cache.fetch(str(session_id), worker, route)
    if reading.state == log_cache.GONE:
        _mark_lost(session_id)
        return
    if reading.error is not None:  # this check asked, and the node is down, not the VM
        _note_node_failure(worker.id, reading.error)
    elif reading.fetched:
        _note_node_success(worker.id)
    db.session.commit()


def _mark_lost(session_id: uuid.UUID) -> None:
    session = _locked(session_id)
    if session is None or session.status != SessionStatus.READY:
        db.session.commit()
        return
    now = utcnow()
    session.status = SessionStatus.LOST
    session.error = LOST_MESSAGE
    session.ended_at = now
    # The node has nothing left to stop; the slot is free from this commit on.
    session.vm_stopped_at = now
    session_notices.ended(session)
    db.session.commit()
    log.warning("lost session_id=%s", session_id)


def enqueue_check(session_id: uuid.UUID) -> None:
    """Enqueue ``check_ready`` (no lease: it only reads, then changes under a row lock)."""
    get_queue().enqueue("jobs.provisioning.check_session", str(session_id), **DEFAULT_JOB_OPTIONS)


# --- failure, stop and expiry --------------------------------------------------------------


def _fail(session: VpsSession, message: str) -> None:
    """Mark a never-ready session failed and refund it (once); the caller commits."""
    session.status = SessionStatus.FAILED
    session.error = message[:500]
    session.ended_at = utcnow()
    refunded = session.ready_at is None
    if refunded:
        ledger.refund(session, message)
    session_notices.failed(session, refunded)
    log.info("failed session_id=%s error=%s", session.id, message)


def _fail_locked(session_id: uuid.UUID, message: str) -> None:
    session = _locked(session_id)
    if session is None or session.status not in (
        SessionStatus.PENDING,
        SessionStatus.PROVISIONING,
    ):
        db.session.commit()
        return
    _fail(session, message)
    db.session.commit()
    if session.worker_route:
        _schedule_after_commit("stop", session_id)


def begin_stop(session: VpsSession, final_status: str) -> bool:
    """Move a locked session towards ``final_status`` (deleted or expired); caller commits.

    Returns True when a stop job must be enqueued after the commit.
    """
    if session.status in FINAL_STATUSES or session.status == SessionStatus.STOPPING:
        return session.status == SessionStatus.STOPPING
    never_ready = session.ready_at is None
    if never_ready:
        ledger.refund(session, f"{final_status} before it was ready")
    if session.status == SessionStatus.PENDING and not session.worker_route:
        # No VM exists yet; a create call in flight sees this and stops its VM itself.
        session.status = final_status
        session.ended_at = utcnow()
        return False
    session.status = SessionStatus.STOPPING
    session.stop_reason = final_status
    return True


def needs_stop(session: VpsSession) -> bool:
    return (
        bool(session.worker_route)
        and session.vm_stopped_at is None
        and (session.status == SessionStatus.STOPPING or session.status in FINAL_STATUSES)
    )


def stop(session_id: uuid.UUID) -> None:
    """Ask the node to stop the VM; retry with back-off until it answers 2xx or 404."""
    target = _node_target(session_id, needs_stop)
    if target is None:
        return
    route, worker = target
    try:
        if worker is not None:
            node_client.stop_vm(worker, route)
    except NodeError as error:
        _note_node_failure(worker.id, error)
        session = _locked(session_id)
        session.stop_attempts += 1
        attempts = session.stop_attempts
        session.error = f"Stopping failed {attempts} time(s), retrying: {error.kind}"[:500]
        db.session.commit()
        delay = _stop_retry_delay(attempts)
        log.warning(
            "stop failed session_id=%s attempts=%d retry_in=%.1f", session_id, attempts, delay
        )
        _schedule("stop", session_id, delay)
        return
    if worker is not None:
        _note_node_success(worker.id)
    session = _locked(session_id)
    session.vm_stopped_at = utcnow()
    if session.status == SessionStatus.STOPPING:
        session.status = session.stop_reason or SessionStatus.DELETED
        session.ended_at = session.vm_stopped_at
        if session.error and session.error.startswith("Stopping failed"):
            session.error = None
        session_notices.ended(session)
    db.session.commit()
    log.info("stopped session_id=%s status=%s", session_id, session.status)


def request_stop(session_id: uuid.UUID, final_status: str) -> VpsSession | None:
    """Lock, begin the stop towards ``final_status``, commit, enqueue the stop job."""
    session = _locked(session_id)
    if session is None:
        db.session.rollback()
        return None
    must_stop = begin_stop(session, final_status)
    db.session.commit()
    if must_stop:
        _schedule_after_commit("stop", session_id)
    return session


def expire(session_id: uuid.UUID) -> None:
    """Stop a ready session whose time is over.

    The time is read under the session's row lock, the lock an extension takes
    (services/extension.py): an extension committed first moved ``expires_at`` and this
    run only schedules the new end; one waiting for the lock finds the session stopping
    and is refused. A server is never both extended and stopped.
    """
    session = _locked(session_id)
    if session is None or session.status != SessionStatus.READY or session.expires_at is None:
        db.session.rollback()
        return
    expires_at = session.expires_at
    if expires_at > utcnow():  # early, or extended: look again at the time itself
        db.session.rollback()
        schedule_expiry(session_id, expires_at)
        return
    must_stop = begin_stop(session, SessionStatus.EXPIRED)
    db.session.commit()
    if must_stop:
        _schedule_after_commit("stop", session_id)


def schedule_expiry(session_id: uuid.UUID, expires_at: datetime) -> None:
    """Schedule the session's expiry at ``expires_at`` itself (the sweeper is the net),
    and the mail that tells the user a few minutes before."""
    _schedule("expire", session_id, at=expires_at)
    session_notices.schedule_ending(session_id, expires_at)


def fail_and_refund(session_id: uuid.UUID, message: str) -> VpsSession:
    """Fail a never-ready session now (admin action); stops its VM if it has one."""
    _fail_locked(session_id, message)
    return db.session.get(VpsSession, session_id)
