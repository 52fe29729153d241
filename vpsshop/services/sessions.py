"""Reading and deleting a user's sessions, with the owner check."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from vpsshop.errors import NotFound, ValidationError
from vpsshop.extensions import db
from vpsshop.models import SessionStatus, User, VpsSession
from vpsshop.services import audit, crypto, provisioning
from vpsshop.services.log_parser import ConnectionDetails


def _session_uuid(raw: uuid.UUID | str) -> uuid.UUID:
    if isinstance(raw, uuid.UUID):
        return raw
    try:
        return uuid.UUID(str(raw))
    except ValueError:
        raise NotFound("No such session.", code="session_not_found") from None


def get_owned_session(user: User, session_id: uuid.UUID | str) -> VpsSession:
    """The session if ``user`` owns it (or is admin); NotFound otherwise, bad ids included."""
    # The product comes in the same query: every caller shows its name.
    session = db.session.get(
        VpsSession, _session_uuid(session_id), options=[joinedload(VpsSession.product)]
    )
    # Another user's session answers exactly like a missing one.
    if session is None or (session.user_id != user.id and not user.is_admin):
        raise NotFound("No such session.", code="session_not_found")
    return session


def check_owner(user: User, session_id: uuid.UUID) -> None:
    """NotFound unless ``user`` owns the session (or is admin): the owner check alone, one
    indexed lookup of one column, for answers that need nothing else of the row."""
    owner = db.session.execute(
        select(VpsSession.user_id).where(VpsSession.id == session_id)
    ).scalar_one_or_none()
    if owner is None or (owner != user.id and not user.is_admin):
        raise NotFound("No such session.", code="session_not_found")


def list_sessions(user: User) -> list[VpsSession]:
    """The user's sessions, newest first."""
    return list(
        db.session.execute(
            select(VpsSession)
            .where(VpsSession.user_id == user.id)
            .order_by(VpsSession.created_at.desc())
            .limit(500)
        ).scalars()
    )


def credentials(session: VpsSession) -> ConnectionDetails | None:
    """Decrypted connection details when the session is ready, else None."""
    if session.status != SessionStatus.READY or not session.rdp_password_encrypted:
        return None
    return ConnectionDetails(
        host=session.rdp_host or "",
        port=session.rdp_port or 0,
        username=session.rdp_user or "",
        password=crypto.decrypt(session.rdp_password_encrypted),
    )


def request_delete(user: User, session_id: uuid.UUID | str) -> VpsSession:
    """Owner's delete: `stopping` at once and the stop job enqueued (or `deleted` when
    there is nothing to stop). Final sessions are returned unchanged. Commits."""
    session = get_owned_session(user, session_id)
    db.session.rollback()
    return provisioning.request_stop(session.id, SessionStatus.DELETED)


def admin_stop(session: VpsSession, actor_id: uuid.UUID) -> VpsSession:
    """Admin "stop now": the same stop path as a user delete, audit-logged. Commits."""
    session_id = session.id
    audit.record(actor_id, "session.stop", "session", session_id, status=session.status)
    db.session.commit()
    return provisioning.request_stop(session_id, SessionStatus.DELETED)


def admin_fail_and_refund(session: VpsSession, actor_id: uuid.UUID) -> VpsSession:
    """Admin action for a session that never became ready: failed, VM stopped, refunded
    once, audit-logged. Raises ValidationError for a session that was ever ready. Commits."""
    if session.ready_at is not None:
        raise ValidationError(
            "This session became ready; it cannot be refunded.", code="session_was_ready"
        )
    if session.status not in (SessionStatus.PENDING, SessionStatus.PROVISIONING):
        raise ValidationError(
            f"Only pending or provisioning sessions can be failed (this one is {session.status}).",
            code="session_not_failable",
        )
    session_id = session.id
    audit.record(actor_id, "session.fail_and_refund", "session", session_id, status=session.status)
    db.session.commit()
    return provisioning.fail_and_refund(session_id, "Stopped by an operator. Refunded.")
