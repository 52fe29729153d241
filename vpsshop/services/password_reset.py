"""Password reset: single-use random tokens stored only as a hash, valid for an hour.

The request never says whether an address has an account: the web answer is the same for
any address, and the lookup itself happens in a job (``request_reset``), so the answer
takes the same time too. The token is minted when its mail is built, so it exists only as
its SHA-256 here and in that one mail.
"""

from __future__ import annotations

import logging
import secrets
import uuid
from datetime import timedelta

from flask import current_app
from redis.exceptions import RedisError
from sqlalchemy import delete, select, update

from vpsshop.errors import ServiceUnavailable, ValidationError
from vpsshop.extensions import db
from vpsshop.models import PasswordResetToken, User
from vpsshop.models.types import utcnow
from vpsshop.queue import DEFAULT_JOB_OPTIONS, get_mail_queue
from vpsshop.services import accounts, notices
from vpsshop.services.tokens import token_digest

log = logging.getLogger(__name__)
TOKEN_MAX = 200
REQUEST_JOB = "jobs.mail.request_password_reset"


class InvalidResetToken(ValidationError):
    code = "invalid_reset_token"


INVALID_MESSAGE = (
    "This reset link is not valid: it was used already, it is older than an hour, or it "
    "was cut short. Ask for a new one."
)


def request_reset(email: str) -> bool:
    """Record a reset mail for the account with ``email`` (normalised), if there is one.

    Runs in a job; True when a mail was recorded. The caller commits.
    """
    user = db.session.execute(select(User).where(User.email == email)).scalar_one_or_none()
    if user is None:
        return False
    notices.notify(user.id, "password_reset")
    return True


def mint_token(user_id: uuid.UUID) -> str:
    """A new token for the user; only its hash is stored. The caller commits."""
    token = secrets.token_urlsafe(32)
    ttl = timedelta(seconds=current_app.config["PASSWORD_RESET_TTL_SECONDS"])
    db.session.add(
        PasswordResetToken(
            user_id=user_id, token_hash=token_digest(token), expires_at=utcnow() + ttl
        )
    )
    return token


def _usable(token: object) -> PasswordResetToken | None:
    if not isinstance(token, str) or not token or len(token) > TOKEN_MAX:
        return None
    return db.session.execute(
        select(PasswordResetToken).where(
            PasswordResetToken.token_hash == token_digest(token),
            PasswordResetToken.used_at.is_(None),
            PasswordResetToken.expires_at > utcnow(),
        )
    ).scalar_one_or_none()


def token_is_usable(token: object) -> bool:
    """Whether the reset page should offer the form (the POST checks again)."""
    found = _usable(token) is not None
    db.session.rollback()
    return found


def reset_password(token: object, new_password: object) -> User:
    """Set a new password with a reset token; every login and API token ends. Commits.

    Raises ``ValidationError`` (``invalid_password``) or ``InvalidResetToken``.
    """
    password = accounts.check_password_rules(new_password)
    row = _usable(token)
    if row is None:
        raise InvalidResetToken(INVALID_MESSAGE)
    # Used with a conditional update: of two requests with one token, one wins.
    claimed = db.session.execute(
        update(PasswordResetToken)
        .where(PasswordResetToken.id == row.id, PasswordResetToken.used_at.is_(None))
        .values(used_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:
        db.session.rollback()
        raise InvalidResetToken(INVALID_MESSAGE)
    user = db.session.get(User, row.user_id)
    accounts.change_password(user, password)
    # The link came by mail: the address is the user's.
    if user.email_verified_at is None:
        user.email_verified_at = utcnow()
    # Every other link of this account ends with this one.
    db.session.execute(
        delete(PasswordResetToken).where(
            PasswordResetToken.user_id == user.id, PasswordResetToken.id != row.id
        )
    )
    db.session.commit()
    log.info("password reset user_id=%s", user.id)
    return user


RESET_ANSWER = (
    "If an account has this address, we sent it a link to set a new password. "
    "The link works once, for an hour."
)


def ask_for_reset(raw_email: object) -> None:
    """Queue the look-up of a reset request: the same work for any well-formed address.

    Raises ``ValidationError`` for a malformed address and ``ServiceUnavailable`` when
    the queue is down (alike for every address).
    """
    email = accounts.normalise_email(raw_email)
    try:
        # result_ttl=0: the address does not stay in Redis once the job has run.
        get_mail_queue().enqueue(REQUEST_JOB, email, **{**DEFAULT_JOB_OPTIONS, "result_ttl": 0})
    except RedisError:
        log.warning("password reset request not queued: redis unavailable")
        raise ServiceUnavailable(
            "Password resets are unavailable for a moment. Try again soon."
        ) from None
