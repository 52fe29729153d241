"""The mails about a user's server: ready, failed and refunded, ending soon, ended.

Each is recorded in the transaction that changes the session (sent after its commit) and
keyed by its event, so a step that runs twice mails once. A mail names the product and
links to the session page; it never carries the connection details, the node's address
or the node's own words (a failure line may name hosts).
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta

from flask import current_app
from redis.exceptions import RedisError

from vpsshop.extensions import db
from vpsshop.models import SessionStatus, VpsSession
from vpsshop.models.types import utcnow
from vpsshop.queue import DEFAULT_JOB_OPTIONS, get_mail_queue
from vpsshop.services import notices

log = logging.getLogger(__name__)
ENDING_JOB = "jobs.mail.session_ending"


def _context(session: VpsSession) -> dict:
    return {
        "session_id": str(session.id),
        "product_name": session.product.name,
        "price_coins": session.price_coins,
        "expires_at": session.expires_at.isoformat() if session.expires_at else None,
    }


def ready(session: VpsSession) -> None:
    """The server can be used now; the caller commits."""
    notices.notify(session.user_id, "server_ready", _context(session), f"server_ready:{session.id}")


def failed(session: VpsSession, refunded: bool) -> None:
    """It never became ready (and the coins came back); the caller commits."""
    context = {**_context(session), "refunded": refunded}
    notices.notify(session.user_id, "server_failed", context, f"server_failed:{session.id}")


def ended(session: VpsSession) -> None:
    """A server that was ready is gone (expired, deleted or lost); the caller commits."""
    if session.ready_at is None:
        return
    context = {**_context(session), "status": session.status}
    notices.notify(session.user_id, "server_ended", context, f"server_ended:{session.id}")


def _lead() -> timedelta:
    return timedelta(minutes=current_app.config["MAIL_ENDING_NOTICE_MINUTES"])


def schedule_ending(session_id: uuid.UUID, expires_at: datetime) -> None:
    """Schedule the "ends soon" mail for this expiry; nothing when it is closer than that.

    Called whenever an expiry is scheduled, so a moved expiry gets a notice of its own;
    the job checks that the expiry is still the one it was scheduled for.
    """
    at = expires_at - _lead()
    if at <= utcnow():
        return
    stamp = expires_at.isoformat()
    try:
        get_mail_queue().enqueue_at(
            at,
            ENDING_JOB,
            str(session_id),
            stamp,
            job_id=f"mail-ending-{session_id}-{int(expires_at.timestamp())}",
            **DEFAULT_JOB_OPTIONS,
        )
    except RedisError:
        log.warning("ending notice not scheduled session_id=%s", session_id)


def ending(session_id: uuid.UUID, expires_at: str) -> bool:
    """Record the "ends soon" mail if the session still ends at ``expires_at`` (once);
    True when it was recorded now. Commits."""
    session = db.session.get(VpsSession, session_id)
    if (
        session is None
        or session.status != SessionStatus.READY
        or session.expires_at is None
        or session.expires_at.isoformat() != expires_at
        or session.expires_at <= utcnow()
    ):
        db.session.rollback()
        return False
    minutes = max(1, round((session.expires_at - utcnow()).total_seconds() / 60))
    context = {
        **_context(session),
        "minutes": minutes,
        # The extension offer, once products can be extended (DESIGN.md "A session's time").
        "can_extend": bool(getattr(session.product, "extend_minutes", None)),
    }
    recorded = notices.notify(
        session.user_id, "server_ending", context, f"server_ending:{session.id}:{expires_at}"
    )
    db.session.commit()
    return recorded is not None
