"""Accounts: email rules, password hashing, registration and sign-in."""

from __future__ import annotations

import re
import unicodedata

from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from vpsshop.errors import Conflict, ValidationError
from vpsshop.extensions import db
from vpsshop.models import User
from vpsshop.models.types import utcnow
from vpsshop.services import activity, ledger, notices
from vpsshop.services.activity import ActivityKind
from vpsshop.services.passwords import hash_password, needs_rehash, verify_password
from vpsshop.services.text import is_storable
from vpsshop.services.tokens import revoke_all_tokens

EMAIL_MAX = 254
PASSWORD_MIN = 8
PASSWORD_MAX = 256
# Control characters (NUL above all: PostgreSQL refuses it in text) are never valid.
_EMAIL_RE = re.compile(
    r"^[^@\s\x00-\x1f\x7f]{1,64}@[^@\s.\x00-\x1f\x7f][^@\s\x00-\x1f\x7f]*"
    r"\.[^@\s\x00-\x1f\x7f]+$"
)


def normalise_email(raw: object) -> str:
    """Trim, NFKC-normalise and lower-case an email, or raise ``ValidationError``."""
    if not isinstance(raw, str):
        raise ValidationError("Enter a valid email address.", code="invalid_email")
    email = unicodedata.normalize("NFKC", raw).strip().lower()
    if len(email) > EMAIL_MAX or not _EMAIL_RE.match(email) or not is_storable(email):
        raise ValidationError("Enter a valid email address.", code="invalid_email")
    return email


def check_password_rules(password: object) -> str:
    if not isinstance(password, str):
        raise ValidationError("Enter a password.", code="invalid_password")
    if len(password) < PASSWORD_MIN:
        raise ValidationError(
            f"The password must have at least {PASSWORD_MIN} characters.",
            code="invalid_password",
        )
    if len(password) > PASSWORD_MAX:
        raise ValidationError(
            f"The password must have at most {PASSWORD_MAX} characters.",
            code="invalid_password",
        )
    if not is_storable(password):  # a NUL, or a lone surrogate argon2 cannot encode
        raise ValidationError(
            "The password contains a forbidden character.", code="invalid_password"
        )
    return password


def _insert_user(
    email: str, password_hash: str, is_admin: bool, *, verified: bool = True
) -> User | None:
    """The new user, or None when the email is taken (also by a concurrent insert)."""
    if db.session.execute(select(User.id).where(User.email == email)).first():
        return None
    user = User(
        email=email,
        password_hash=password_hash,
        is_admin=is_admin,
        coins=0,
        email_verified_at=utcnow() if verified else None,
    )
    try:
        with db.session.begin_nested():
            db.session.add(user)
    except IntegrityError:  # a concurrent registration won the race
        return None
    return user


def create_user(email: str, password: str, *, is_admin: bool = False) -> User:
    """Insert a user with zero coins; the caller commits. Raises on a taken email.

    Made by an operator (create-user, an admin), the address counts as confirmed.
    """
    email = normalise_email(email)
    password = check_password_rules(password)
    user = _insert_user(email, hash_password(password), is_admin)
    if user is None:
        raise Conflict("An account with this email already exists.", code="email_taken")
    return user


def sign_up(email: str, password: str) -> User | None:
    """A self-service sign-up: the new user (with ``SIGNUP_COINS`` credited through the
    ledger; the caller commits), or None when the email is taken, which leaves that
    account as it was.

    The caller answers both outcomes alike, so the sign-up form tells nobody which
    addresses have accounts; the password is hashed in both, so they take as long.
    Raises ``ValidationError`` for a malformed email or password, which tells nothing.
    The address is unconfirmed until its owner follows the mailed link.
    """
    email = normalise_email(email)
    password_hash = hash_password(check_password_rules(password))
    user = _insert_user(email, password_hash, is_admin=False, verified=False)
    welcome = current_app.config["SIGNUP_COINS"]
    if user is not None and welcome > 0:
        db.session.flush()
        ledger.credit_signup(user.id, welcome)
    return user


def find_user(email: object) -> User | None:
    """The account of ``email`` (any spelling that normalises to it), or None."""
    try:
        email = normalise_email(email)
    except ValidationError:
        return None
    return db.session.execute(select(User).where(User.email == email)).scalar_one_or_none()


def record_failed_sign_in(email: object, detail: str) -> None:
    """A failed sign-in in the activity of the account whose email was tried, if there is
    one (nothing for unknown addresses). Commits: the refusal that follows rolls back."""
    user = find_user(email)
    if user is not None:
        activity.record(user.id, ActivityKind.SIGN_IN_FAILED, detail)
        db.session.commit()


def authenticate(email: object, password: object) -> User | None:
    """The user for these credentials, or ``None`` for any mismatch."""
    try:
        email = normalise_email(email)
    except ValidationError:
        email = None
    if not isinstance(password, str) or len(password) > PASSWORD_MAX or not is_storable(password):
        password = ""
    user = (
        db.session.execute(select(User).where(User.email == email)).scalar_one_or_none()
        if email
        else None
    )
    if not verify_password(user.password_hash if user else None, password) or user is None:
        return None
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
        db.session.commit()
    return user


def change_password(user: User, new_password: str) -> None:
    """Set a new password and end every other login and API token; the caller commits.

    The user is told by mail (a security notice, always sent).
    """
    user.password_hash = hash_password(check_password_rules(new_password))
    user.session_version += 1
    revoke_all_tokens(user.id)
    activity.record(user.id, ActivityKind.PASSWORD_CHANGED)
    notices.notify(
        user.id,
        "password_changed",
        {"changed_at": utcnow().isoformat()},
        dedupe_key=f"password_changed:{user.id}:{user.session_version}",
    )
