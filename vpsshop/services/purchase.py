"""Buying a session: charge, reserve a slot, insert, enqueue (DESIGN.md "Purchase")."""

from __future__ import annotations

import logging
import uuid

from redis.exceptions import RedisError
from sqlalchemy import inspect, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload

from vpsshop import metrics
from vpsshop.errors import (
    NoCapacity,
    NotFound,
    ServiceError,
    ServiceUnavailable,
    ValidationError,
)
from vpsshop.extensions import db
from vpsshop.models import SessionStatus, User, VpsProduct, VpsSession
from vpsshop.models.types import utcnow
from vpsshop.services import activity, email_verification, ledger, payments, waitlist, workers
from vpsshop.services.activity import ActivityKind
from vpsshop.services.session_jobs import enqueue_session_job, new_job_id

log = logging.getLogger(__name__)
IDEMPOTENCY_KEY_MAX = 200


class IdempotencyMismatch(ServiceError):
    code = "idempotency_mismatch"
    status = 422


def _product_id(raw: uuid.UUID | str) -> uuid.UUID:
    if isinstance(raw, uuid.UUID):
        return raw
    if not isinstance(raw, str):
        raise ValidationError("product_id must be a product's id.", code="invalid_product_id")
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise ValidationError(
            "product_id must be a product's id.", code="invalid_product_id"
        ) from None


def _idempotency_key(raw: str | None) -> str | None:
    if raw is None:
        return None
    if not isinstance(raw, str) or not raw.strip() or len(raw) > IDEMPOTENCY_KEY_MAX:
        raise ValidationError(
            f"The idempotency key must be 1 to {IDEMPOTENCY_KEY_MAX} characters.",
            code="invalid_idempotency_key",
        )
    if any(ord(ch) < 32 for ch in raw):
        raise ValidationError(
            "The idempotency key has control characters.", code="invalid_idempotency_key"
        )
    return raw


def _existing(user_id: uuid.UUID, key: str, product_id: uuid.UUID) -> VpsSession | None:
    session = db.session.execute(
        select(VpsSession).where(VpsSession.user_id == user_id, VpsSession.idempotency_key == key)
    ).scalar_one_or_none()
    if session is not None and session.product_id != product_id:
        raise IdempotencyMismatch("This idempotency key was already used for another product.")
    return session


@metrics.counts_outcome(metrics.record_purchase)
def purchase(
    user: User, product_id: uuid.UUID | str, idempotency_key: str | None = None
) -> VpsSession:
    """Charge ``user`` and create a pending session, then enqueue its provision job.

    Commits. Raises ServiceError subclasses (nothing charged in every case):
    NotFound (unknown/inactive product, 404), ValidationError (bad id or key, 400),
    InsufficientCoins (402), AccountOnHold (403), EmailUnverified (403, address not
    confirmed yet), NoCapacity (409), IdempotencyMismatch (422, same key used for another
    product), ServiceUnavailable (503, Redis down: refunded at once, session failed, "you
    were not charged").
    The same ``idempotency_key`` again returns the same session and charges nothing.
    """
    email_verification.require_verified(user)
    product_uuid = _product_id(product_id)
    key = _idempotency_key(idempotency_key)
    if key is not None and (found := _existing(user.id, key, product_uuid)) is not None:
        return found
    payments.ensure_not_on_hold(user)  # 403 account_on_hold

    product = db.session.get(VpsProduct, product_uuid)
    if product is None or not product.is_active:
        raise NotFound("No such product.", code="product_not_found")
    try:
        # A freed slot belongs to the people in line first (services/waitlist.py); a buyer
        # in line buys their own place.
        own_entry = waitlist.refuse_if_queue_ahead(product, user.id)
        session = take_slot(user.id, product, idempotency_key=key)
        if own_entry is not None:
            waitlist.mark_fulfilled(own_entry, session)
        db.session.commit()
    except IntegrityError:
        # The same idempotency key raced us and won: answer with its session.
        db.session.rollback()
        if key is not None and (found := _existing(user.id, key, product_uuid)) is not None:
            return found
        raise
    except Exception:
        db.session.rollback()
        raise
    _reload(session)
    start_session(session)
    return session


def _reload(session: VpsSession) -> None:
    """The committed session and its product back in one query (the answer shows both):
    the commit expired them, and reading them back one at a time cost two."""
    db.session.execute(
        select(VpsSession)
        .options(joinedload(VpsSession.product))
        .where(VpsSession.id == inspect(session).identity[0])
    ).scalar_one()


def take_slot(
    user_id: uuid.UUID, product: VpsProduct, *, idempotency_key: str | None = None
) -> VpsSession:
    """In the caller's transaction: reserve a slot on one of ``product``'s workers, insert
    the pending session and charge its price. Never commits.

    Raises NoCapacity (nothing locked is kept) or InsufficientCoins; the caller rolls back
    (or releases its savepoint) on either. The waitlist takes freed slots through here too.
    """
    session = VpsSession(
        id=uuid.uuid4(),
        user_id=user_id,
        product_id=product.id,
        price_coins=product.price_coins,
        status=SessionStatus.PENDING,
        idempotency_key=idempotency_key,
    )
    # Known before the commit, so the job needs no second commit to be recorded.
    session.rq_job_id = new_job_id("provision", session.id)
    # Lock order everywhere: workers, then the session, then the user's balance.
    worker = workers.reserve_slot(product)
    if worker is None:
        raise NoCapacity("Sold out: no server has a free slot. You were not charged.")
    session.worker_id = worker.id
    db.session.add(session)
    db.session.flush()
    ledger.charge(user_id, product.price_coins, session_id=session.id)
    activity.record(user_id, ActivityKind.PURCHASE, product.name)
    return session


def start_session(session: VpsSession) -> None:
    """After the purchase's commit: enqueue the provision job under the id ``take_slot``
    stored (refunded at once and a 503 when Redis is down, which commits)."""
    try:
        job = enqueue_session_job("provision", session.id, job_id=session.rq_job_id)
    except RedisError:
        log.exception("enqueue failed session_id=%s", session.id)
        _refund_unstarted(session.id)
        raise ServiceUnavailable(
            "The shop cannot start servers right now. You were not charged; try again soon."
        ) from None
    log.info(
        "purchased session_id=%s worker_id=%s job_id=%s", session.id, session.worker_id, job.id
    )


def _refund_unstarted(session_id: uuid.UUID) -> None:
    session = db.session.execute(
        select(VpsSession).where(VpsSession.id == session_id).with_for_update()
    ).scalar_one()
    session.status = SessionStatus.FAILED
    session.error = "Could not start: the job queue is unavailable. Refunded."
    session.ended_at = utcnow()
    ledger.refund(session, "job queue unavailable")
    db.session.commit()
