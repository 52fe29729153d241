"""The sign-in between its two steps: the password was right, the two-factor code is due.

Kept in the signed session cookie (tamper-proof, and shown only to whoever typed the right
password), for a few minutes; it names the account and its session version, so a password
change or a suspension in between ends it too. It never signs anyone in by itself.
"""

from __future__ import annotations

import time
import uuid

from flask import session

from vpsshop.extensions import db
from vpsshop.models import User

PENDING_KEY = "_pending_2fa"
LIFETIME_SECONDS = 300


def start(user: User, next_path: str | None) -> None:
    """Remember that ``user``'s password was right; the code step comes next."""
    session.clear()  # nothing planted before sign-in survives it
    session[PENDING_KEY] = {
        "uid": str(user.id),
        "ver": user.session_version,
        "email": user.email,
        "at": int(time.time()),
        "next": next_path or "",
    }


def _state() -> dict | None:
    state = session.get(PENDING_KEY)
    if not isinstance(state, dict):
        return None
    started = state.get("at")
    if not isinstance(started, int) or time.time() - started > LIFETIME_SECONDS:
        return None
    return state


def pending_email() -> str | None:
    """The email of the account waiting for its code (for the per-account limit)."""
    state = _state()
    return state.get("email") if state else None


def pending_next() -> str | None:
    state = _state()
    return (state.get("next") or None) if state else None


def pending_user() -> User | None:
    """The account waiting for its code, while the wait is fresh and nothing changed."""
    state = _state()
    if state is None:
        return None
    try:
        user = db.session.get(User, uuid.UUID(str(state.get("uid"))))
    except ValueError:
        return None
    if user is None or user.session_version != state.get("ver") or not user.has_2fa:
        return None
    return user


def clear() -> None:
    session.pop(PENDING_KEY, None)
