"""Reading and deleting a user's sessions, with the owner check.

STUB: interface fixed, implementation pending (issue 4).
"""

from __future__ import annotations

import uuid

from vpsshop.models import User, VpsSession
from vpsshop.services.log_parser import ConnectionDetails


def get_owned_session(user: User, session_id: uuid.UUID | str) -> VpsSession:
    """The session if ``user`` owns it (or is admin); NotFound otherwise, bad ids included."""
    raise NotImplementedError


def list_sessions(user: User) -> list[VpsSession]:
    """The user's sessions, newest first."""
    raise NotImplementedError


def credentials(session: VpsSession) -> ConnectionDetails | None:
    """Decrypted connection details when the session is ready, else None."""
    raise NotImplementedError


def request_delete(user: User, session_id: uuid.UUID | str) -> VpsSession:
    """Owner's delete: `stopping` at once and the stop job enqueued (or `deleted` when
    there is nothing to stop). Final sessions are returned unchanged. Commits."""
    raise NotImplementedError


def admin_stop(session: VpsSession, actor_id: uuid.UUID) -> VpsSession:
    """Admin "stop now": the same stop path as a user delete, audit-logged. Commits."""
    raise NotImplementedError


def admin_fail_and_refund(session: VpsSession, actor_id: uuid.UUID) -> VpsSession:
    """Admin action for a session that never became ready: failed, VM stopped, refunded
    once, audit-logged. Raises ValidationError for a session that was ever ready. Commits."""
    raise NotImplementedError
