"""Buying more time for a running session (DESIGN.md "A session's time").

The extension locks the session row (SELECT ... FOR UPDATE) before it charges, the lock
the expiry takes before it decides (provisioning.expire), so one of them wins: an
extension committed first moves ``expires_at`` and the expiry only schedules the new end;
an extension that gets the lock after the expiry decided finds the server stopping and
is refused with nothing charged. Lock order as everywhere: the session, then the balance.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from redis.exceptions import RedisError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from vpsshop.errors import Conflict
from vpsshop.extensions import db
from vpsshop.models import SessionExtension, SessionStatus, User, VpsProduct, VpsSession
from vpsshop.models.types import utcnow
from vpsshop.services import activity, ledger, provisioning
from vpsshop.services import sessions as session_service
from vpsshop.services.activity import ActivityKind
from vpsshop.services.purchase import IdempotencyMismatch

log = logging.getLogger(__name__)


class NotExtendable(Conflict):
    code = "not_extendable"


@dataclass(frozen=True)
class Offer:
    """What one extension of a session would buy now; ``reason`` says why not when refused."""

    minutes: int
    price_coins: int
    new_expires_at: datetime | None
    reason: str | None

    @property
    def possible(self) -> bool:
        return self.reason is None


def offer(session: VpsSession, product: VpsProduct, now: datetime | None = None) -> Offer | None:
    """The extension this session could buy now, or None when its product sells none."""
    if product.extend_minutes is None or product.extend_price_coins is None:
        return None
    now = now or utcnow()
    minutes, price = product.extend_minutes, product.extend_price_coins

    def refused(reason: str) -> Offer:
        return Offer(minutes, price, None, reason)

    if session.status != SessionStatus.READY:
        if session.is_final or session.status == SessionStatus.STOPPING:
            return refused("This server has ended; it can no longer be extended.")
        return refused("A server can be extended once it is ready.")
    if session.expires_at is None:
        return refused("This server runs until you delete it; there is nothing to extend.")
    if session.expires_at <= now:
        return refused("This server's time is over; it is being stopped.")
    new_end = session.expires_at + timedelta(minutes=minutes)
    cap = product.max_total_minutes
    start = session.ready_at or session.created_at
    if cap is not None and new_end - start > timedelta(minutes=cap):
        return refused(f"A server of this kind runs at most {cap} minutes in all.")
    return Offer(minutes, price, new_end, None)


def _existing(user_id: uuid.UUID, key: str, session_id: uuid.UUID) -> SessionExtension | None:
    found = db.session.execute(
        select(SessionExtension).where(
            SessionExtension.user_id == user_id, SessionExtension.idempotency_key == key
        )
    ).scalar_one_or_none()
    if found is not None and found.session_id != session_id:
        raise IdempotencyMismatch("This idempotency key was already used for another server.")
    return found


def _locked(session_id: uuid.UUID) -> VpsSession:
    return db.session.execute(
        select(VpsSession).where(VpsSession.id == session_id).with_for_update()
    ).scalar_one()


def extend(user: User, session_id: uuid.UUID, idempotency_key: str | None = None) -> VpsSession:
    """Charge the product's extension price and move ``expires_at``; commits.

    Raises NotFound (someone else's or missing session, 404), NotExtendable (409: not
    ready, no duration, past the cap, final, or its time already over), InsufficientCoins
    (402), IdempotencyMismatch (422). The same key again returns the session unchanged
    and charges nothing, whatever runs in parallel (a unique constraint decides).
    """
    session = session_service.get_owned_session(user, session_id)
    owner_id = session.user_id
    if idempotency_key is not None and _existing(owner_id, idempotency_key, session.id):
        return session
    db.session.rollback()
    try:
        session = _locked(session_id)
        product = db.session.get(VpsProduct, session.product_id)
        terms = offer(session, product)
        if terms is None:
            raise NotExtendable("This server cannot be extended.")
        if not terms.possible:
            raise NotExtendable(terms.reason)
        # Under the lock a retry with the same key finds the first one's row.
        if idempotency_key is not None and _existing(owner_id, idempotency_key, session.id):
            db.session.rollback()
            return session_service.get_owned_session(user, session_id)
        old_end = session.expires_at
        record = SessionExtension(
            session_id=session.id,
            user_id=owner_id,
            idempotency_key=idempotency_key,
            minutes=terms.minutes,
            price_coins=terms.price_coins,
            expires_before=old_end,
            expires_after=terms.new_expires_at,
        )
        db.session.add(record)
        db.session.flush()
        entry = ledger.charge_extension(
            owner_id, terms.price_coins, session_id=session.id, minutes=terms.minutes
        )
        record.transaction_id = entry.id
        session.expires_at = terms.new_expires_at
        activity.record(owner_id, ActivityKind.EXTENSION, f"+{terms.minutes} minutes")
        db.session.commit()
    except IntegrityError:
        # The same key won in another transaction: that one was charged, this one is not.
        db.session.rollback()
        if idempotency_key is not None and _existing(owner_id, idempotency_key, session_id):
            return session_service.get_owned_session(user, session_id)
        raise
    except Exception:
        db.session.rollback()
        raise
    log.info(
        "extended session_id=%s minutes=%d expires_at=%s",
        session_id,
        terms.minutes,
        terms.new_expires_at.isoformat(),
    )
    _reschedule(session_id, terms.new_expires_at)
    return session_service.get_owned_session(user, session_id)


def _reschedule(session_id: uuid.UUID, expires_at: datetime) -> None:
    # The new expiry job takes the session's lease, so the earlier one does nothing when
    # it runs; if Redis is away, the earlier one finds the new end under the row lock and
    # schedules it itself (provisioning.expire), and the sweeper is the net below both.
    try:
        provisioning.schedule_expiry(session_id, expires_at)
    except RedisError:
        log.warning("expiry not rescheduled session_id=%s; the old job moves it", session_id)


def ending_soon(session: VpsSession, now: datetime | None = None) -> bool:
    """True in the last ``ENDING_SOON_MINUTES`` of a running session."""
    if session.status != SessionStatus.READY or session.expires_at is None:
        return False
    left = session.expires_at - (now or utcnow())
    return timedelta(0) < left <= timedelta(minutes=current_app.config["ENDING_SOON_MINUTES"])
