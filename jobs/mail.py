"""RQ entry points of mail: send one message, look up a reset request, the "ends soon" mail."""

from __future__ import annotations

import uuid

from vpsshop.extensions import db
from vpsshop.services import mail_outbox, password_reset, session_notices


def send_message(message_id: str) -> str | None:
    return mail_outbox.send(uuid.UUID(message_id))


def request_password_reset(email: str) -> bool:
    recorded = password_reset.request_reset(email)
    db.session.commit()
    return recorded


def session_ending(session_id: str, expires_at: str) -> bool:
    return session_notices.ending(uuid.UUID(session_id), expires_at)
