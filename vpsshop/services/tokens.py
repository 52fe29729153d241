"""API bearer tokens: random, shown once, stored only as a SHA-256 hash; named, optionally
expiring, listed and revoked by their owner."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import timedelta

from sqlalchemy import delete, or_, select, update

from vpsshop.errors import NotFound, ValidationError
from vpsshop.extensions import db
from vpsshop.models import ApiToken, User
from vpsshop.models.types import utcnow
from vpsshop.services.text import is_storable

# last_used_at moves at most this often: polling clients must not write per request.
LAST_USED_GRANULARITY = timedelta(minutes=1)
NAME_MAX = 100
# What the token page offers; the API's /auth/token tokens never expire on their own.
EXPIRY_DAYS = (7, 30, 90, 365)


def token_digest(token: str) -> str:
    """What a token is stored (and cached) as: its SHA-256, hex."""
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def check_name(raw: object) -> str:
    """A token's name: trimmed text of at most 100 characters (empty allowed), or a 400."""
    if raw is None:
        return ""
    if not isinstance(raw, str) or not is_storable(raw) or any(ord(c) < 32 for c in raw):
        raise ValidationError("The token name must be plain text.", code="invalid_name")
    name = raw.strip()
    if len(name) > NAME_MAX:
        raise ValidationError(
            f"The token name must have at most {NAME_MAX} characters.", code="invalid_name"
        )
    return name


def issue_token(user: User, name: str = "", expires_in_days: int | None = None) -> str:
    """Create a token for ``user`` and return it; only its hash is kept. Caller commits."""
    token = secrets.token_urlsafe(32)
    expires_at = utcnow() + timedelta(days=expires_in_days) if expires_in_days else None
    db.session.add(
        ApiToken(
            user_id=user.id,
            token_hash=token_digest(token),
            name=check_name(name),
            expires_at=expires_at,
        )
    )
    db.session.flush()
    return token


def token_for(token: str) -> tuple[ApiToken, User] | None:
    """The live token row and its user for a presented token, or None (unknown, expired,
    or of a suspended account). Moves ``last_used_at`` at most once a minute."""
    if not token or len(token) > 200:
        return None
    now = utcnow()
    row = db.session.execute(
        select(ApiToken, User)
        .join(User, User.id == ApiToken.user_id)
        .where(
            ApiToken.token_hash == token_digest(token),
            or_(ApiToken.expires_at.is_(None), ApiToken.expires_at > now),
            User.suspended_at.is_(None),
        )
    ).first()
    if row is None:
        return None
    api_token, user = row
    cutoff = now - LAST_USED_GRANULARITY
    if api_token.last_used_at is None or api_token.last_used_at < cutoff:
        # Conditional, so that concurrent requests with one token write it once.
        db.session.execute(
            update(ApiToken)
            .where(
                ApiToken.id == api_token.id,
                or_(ApiToken.last_used_at.is_(None), ApiToken.last_used_at < cutoff),
            )
            .values(last_used_at=now)
            .execution_options(synchronize_session=False)
        )
        db.session.commit()
    return api_token, user


def user_for_token(token: str) -> User | None:
    """The user of a live token, or None."""
    found = token_for(token)
    return found[1] if found else None


def list_tokens(user_id: uuid.UUID) -> list[ApiToken]:
    """The user's tokens, newest first (expired ones included, so they can be cleaned up)."""
    return list(
        db.session.execute(
            select(ApiToken)
            .where(ApiToken.user_id == user_id)
            .order_by(ApiToken.created_at.desc(), ApiToken.id)
            .limit(500)
        ).scalars()
    )


def revoke_token(user_id: uuid.UUID, token_id: uuid.UUID) -> ApiToken:
    """Delete one of the user's tokens (it stops at once); another user's is NotFound
    exactly like a missing one. Caller commits."""
    api_token = db.session.get(ApiToken, token_id)
    if api_token is None or api_token.user_id != user_id:
        raise NotFound("No such token.", code="token_not_found")
    db.session.delete(api_token)
    db.session.flush()
    return api_token


def revoke_all_tokens(user_id: uuid.UUID) -> int:
    """End every API token of ``user_id`` at once (password change or reset, suspension);
    returns how many there were. Caller commits."""
    result = db.session.execute(
        delete(ApiToken)
        .where(ApiToken.user_id == user_id)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0
