"""The account activity log: one ``record`` for every event a user should be able to see."""

from __future__ import annotations

import uuid
from enum import StrEnum

from flask import has_request_context, request
from sqlalchemy import and_, or_, select

from vpsshop.errors import ValidationError
from vpsshop.extensions import db
from vpsshop.models import ActivityEvent

PAGE_DEFAULT = 50
PAGE_MAX = 100
_UA_MAX = 300
_DETAIL_MAX = 500


class ActivityKind(StrEnum):
    """What happened; the values are the ``kind`` the API shows."""

    SIGN_IN = "sign_in"
    SIGN_IN_FAILED = "sign_in_failed"
    PASSWORD_CHANGED = "password_changed"
    TWO_FACTOR_ENABLED = "2fa_enabled"
    TWO_FACTOR_DISABLED = "2fa_disabled"
    RECOVERY_CODE_USED = "recovery_code_used"
    TOKEN_CREATED = "token_created"
    TOKEN_REVOKED = "token_revoked"
    PURCHASE = "purchase"
    EXTENSION = "extension"
    PAYMENT = "payment"
    SUSPENDED = "suspended"
    UNSUSPENDED = "unsuspended"


LABELS = {
    ActivityKind.SIGN_IN: "Signed in",
    ActivityKind.SIGN_IN_FAILED: "Failed sign-in",
    ActivityKind.PASSWORD_CHANGED: "Password changed",
    ActivityKind.TWO_FACTOR_ENABLED: "Two-factor sign-in turned on",
    ActivityKind.TWO_FACTOR_DISABLED: "Two-factor sign-in turned off",
    ActivityKind.RECOVERY_CODE_USED: "Recovery code used",
    ActivityKind.TOKEN_CREATED: "API token created",
    ActivityKind.TOKEN_REVOKED: "API token revoked",
    ActivityKind.PURCHASE: "Server bought",
    ActivityKind.EXTENSION: "Server extended",
    ActivityKind.PAYMENT: "Payment",
    ActivityKind.SUSPENDED: "Account suspended",
    ActivityKind.UNSUSPENDED: "Suspension lifted",
}


def label(kind: str) -> str:
    """What an event's kind reads as on a page."""
    try:
        return LABELS[ActivityKind(kind)]
    except ValueError:
        return kind


def _printable(text: str, limit: int) -> str:
    # Headers may carry control characters; a NUL would fail the whole insert on PostgreSQL.
    cleaned = "".join(ch if ch.isprintable() else "?" for ch in text)
    return cleaned.encode("utf-8", "replace").decode("utf-8")[:limit]


def client_address() -> str | None:
    """The request's client address: ``remote_addr``, which ProxyFix sets from the trusted
    proxies' ``X-Forwarded-For`` when ``TRUST_PROXY_HOPS`` says there are some."""
    if not has_request_context():
        return None
    return (request.remote_addr or "")[:64] or None


def _user_agent() -> str | None:
    if not has_request_context():
        return None
    return _printable(request.user_agent.string or "", _UA_MAX) or None


def record(
    user_id: uuid.UUID, kind: ActivityKind | str, detail: str = "", *, from_request: bool = True
) -> ActivityEvent:
    """Add an event to ``user_id``'s activity in the caller's transaction (the caller
    commits). The address and user agent come from the current request, if any (none in
    a job); pass ``from_request=False`` where the request is not the user's (a payment
    provider's webhook). ``detail`` is a short text shown as is: never a secret."""
    event = ActivityEvent(
        user_id=user_id,
        kind=ActivityKind(kind).value,
        ip=client_address() if from_request else None,
        user_agent=_user_agent() if from_request else None,
        detail=_printable(detail or "", _DETAIL_MAX),
    )
    db.session.add(event)
    return event


def page_args(raw_limit: object, raw_before: object) -> tuple[int, int | None]:
    """``?limit=`` (1..100, default 50) and ``?before=<id>`` as numbers, or a 400."""
    limit = PAGE_DEFAULT
    if raw_limit not in (None, ""):
        if not isinstance(raw_limit, str) or not raw_limit.isdigit():
            raise ValidationError("limit must be a whole number.", code="invalid_limit")
        limit = int(raw_limit)
        if not 1 <= limit <= PAGE_MAX:
            raise ValidationError(f"limit must be between 1 and {PAGE_MAX}.", code="invalid_limit")
    before = None
    if raw_before not in (None, ""):
        if not isinstance(raw_before, str) or not raw_before.isdigit() or len(raw_before) > 18:
            raise ValidationError("before must be an event's id.", code="invalid_before")
        before = int(raw_before)
    return limit, before


def events_of(user_id: uuid.UUID, limit: int = PAGE_DEFAULT, before: int | None = None):
    """``user_id``'s events, newest first; ``before`` pages on from an event's id."""
    query = select(ActivityEvent).where(ActivityEvent.user_id == user_id)
    if before is not None:
        # Keyset paging along the (user_id, created_at, id) index; an id that is not one
        # of this user's events gives an empty page, never someone else's rows.
        anchor = db.session.execute(
            select(ActivityEvent.created_at).where(
                ActivityEvent.id == before, ActivityEvent.user_id == user_id
            )
        ).scalar_one_or_none()
        if anchor is None:
            return []
        query = query.where(
            or_(
                ActivityEvent.created_at < anchor,
                and_(ActivityEvent.created_at == anchor, ActivityEvent.id < before),
            )
        )
    query = query.order_by(ActivityEvent.created_at.desc(), ActivityEvent.id.desc()).limit(limit)
    return list(db.session.execute(query).scalars())
