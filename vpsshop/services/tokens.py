"""API bearer tokens: random, shown once, stored only as a SHA-256 hash."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import select

from vpsshop.extensions import db
from vpsshop.models import ApiToken, User
from vpsshop.models.types import utcnow

LAST_USED_GRANULARITY = timedelta(minutes=5)


def token_digest(token: str) -> str:
    """What a token is stored (and cached) as: its SHA-256, hex."""
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def issue_token(user: User) -> str:
    """Create a token for ``user`` and return it; only its hash is kept. Caller commits."""
    token = secrets.token_urlsafe(32)
    db.session.add(ApiToken(user_id=user.id, token_hash=token_digest(token)))
    db.session.flush()
    return token


def user_for_token(token: str) -> User | None:
    if not token or len(token) > 200:
        return None
    row = db.session.execute(
        select(ApiToken, User)
        .join(User, User.id == ApiToken.user_id)
        .where(ApiToken.token_hash == token_digest(token))
    ).first()
    if row is None:
        return None
    api_token, user = row
    now = utcnow()
    # Written at most every few minutes so that polling clients do not write per request.
    if api_token.last_used_at is None or now - api_token.last_used_at > LAST_USED_GRANULARITY:
        api_token.last_used_at = now
        db.session.commit()
    return user
