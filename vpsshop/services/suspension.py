"""Suspending an account: its logins and tokens end at once, optionally its servers stop."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from vpsshop.errors import Conflict
from vpsshop.extensions import db
from vpsshop.models import SessionStatus, User, VpsSession
from vpsshop.models.types import utcnow
from vpsshop.services import activity, audit, provisioning
from vpsshop.services.activity import ActivityKind
from vpsshop.services.text import required_text
from vpsshop.services.tokens import revoke_all_tokens

# Sessions a suspension may stop: those with a VM starting or running.
_RUNNING = (SessionStatus.PENDING, SessionStatus.PROVISIONING, SessionStatus.READY)


def check_reason(raw: object) -> str:
    return required_text(
        raw,
        what="reason",
        max_length=500,
        code="invalid_reason",
        missing="A reason is required: the user is shown it.",
        missing_code="reason_required",
    )


def suspend(
    user: User, reason: object, *, actor_id: uuid.UUID, stop_sessions: bool = False
) -> list[uuid.UUID]:
    """Suspend ``user``: every cookie login and API token ends in the same commit; with
    ``stop_sessions`` their running servers are stopped through the user's own delete
    path. Audited. Commits; returns the ids of the sessions asked to stop."""
    reason = check_reason(reason)
    db.session.refresh(user, with_for_update=True)  # two admins at once: one suspends
    if user.id == actor_id:
        raise Conflict("You cannot suspend your own account.", code="cannot_suspend_self")
    if user.is_suspended:
        raise Conflict("This account is suspended already.", code="already_suspended")
    user.suspended_at = utcnow()
    user.suspended_reason = reason
    user.session_version += 1  # ends every cookie login at once
    revoked = revoke_all_tokens(user.id)
    running = (
        list(
            db.session.execute(
                select(VpsSession.id).where(
                    VpsSession.user_id == user.id, VpsSession.status.in_(_RUNNING)
                )
            ).scalars()
        )
        if stop_sessions
        else []
    )
    audit.record(
        actor_id,
        "user.suspend",
        "user",
        user.id,
        reason=reason,
        stop_sessions=stop_sessions,
        sessions_stopped=len(running),
        tokens_revoked=revoked,
    )
    activity.record(user.id, ActivityKind.SUSPENDED, reason)
    db.session.commit()
    for session_id in running:
        provisioning.request_stop(session_id, SessionStatus.DELETED)
    return running


def unsuspend(user: User, *, actor_id: uuid.UUID) -> None:
    """Lift a suspension; the user signs in again as before. Audited. Commits."""
    db.session.refresh(user, with_for_update=True)
    if not user.is_suspended:
        raise Conflict("This account is not suspended.", code="not_suspended")
    audit.record(actor_id, "user.unsuspend", "user", user.id, reason=user.suspended_reason)
    user.suspended_at = None
    user.suspended_reason = None
    activity.record(user.id, ActivityKind.UNSUSPENDED)
    db.session.commit()
