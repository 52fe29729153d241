"""The sign-in between its two steps: a password was typed, the two-factor code is due.

Every sign-in of an account with two-factor sign-in comes here, the password right or
not, so the first step never tells whether it was. The signed session cookie (readable by
its holder, not changeable) keeps a proof that the password was right: an HMAC of the
account and its session version under SECRET_KEY, or random bytes of the same length when
it was wrong. Only the server tells them apart, at the code step, which then refuses both
the same way. A password change or suspension in between moves the version and ends it.
It never signs anyone in by itself.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
import uuid

from flask import current_app, session

from vpsshop.extensions import db
from vpsshop.models import User

PENDING_KEY = "_pending_2fa"
LIFETIME_SECONDS = 300


def _proof(user: User) -> str:
    key = current_app.secret_key
    key = key.encode() if isinstance(key, str) else key
    message = f"pending-2fa:{user.id}:{user.session_version}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def start(user: User, next_path: str | None, *, password_ok: bool) -> None:
    """The code step comes next for ``user``, whether the password was right or not."""
    session.clear()  # nothing planted before sign-in survives it
    session[PENDING_KEY] = {
        "uid": str(user.id),
        "proof": _proof(user) if password_ok else secrets.token_hex(32),
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
    """The account waiting for its code, while the wait is fresh."""
    state = _state()
    if state is None:
        return None
    try:
        user = db.session.get(User, uuid.UUID(str(state.get("uid"))))
    except ValueError:
        return None
    if user is None or not user.has_2fa:
        return None
    return user


def password_was_right(user: User) -> bool:
    """Whether step one's password was right and nothing changed the account since."""
    state = _state()
    proof = state.get("proof") if state else None
    return isinstance(proof, str) and hmac.compare_digest(proof, _proof(user))


def clear() -> None:
    session.pop(PENDING_KEY, None)
