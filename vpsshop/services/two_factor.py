"""Two-factor sign-in with TOTP (RFC 6238): setup, enable, codes accepted once, recovery
codes, disable. The secret is encrypted at rest (services/crypto.py)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
import uuid

import pyotp
import segno
from flask import current_app
from markupsafe import Markup
from sqlalchemy import delete, func, or_, select, update

from vpsshop.errors import Conflict, ServiceError
from vpsshop.extensions import db
from vpsshop.models import RecoveryCode, User
from vpsshop.models.types import utcnow
from vpsshop.services import activity, crypto, notices
from vpsshop.services.activity import ActivityKind
from vpsshop.services.versions import COVERED

ISSUER = "vpsshop"
RECOVERY_CODE_COUNT = 10
# Codes one step either side of now pass, for clocks a little off (RFC 6238 section 5.2).
VALID_WINDOW = 1
# No look-alike letters (0/O, 1/I/L); 10 of 31 letters: about 50 bits per code.
_RECOVERY_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
_CODE_INPUT_MAX = 32


class WrongCode(ServiceError):
    """A TOTP or recovery code that is not right, or was used already."""

    code = "otp_invalid"
    status = 401


def _totp(user: User) -> pyotp.TOTP:
    return pyotp.TOTP(crypto.decrypt(user.totp_secret_encrypted or ""))


def otpauth_uri(user: User) -> str:
    """The ``otpauth://`` URI of the user's (pending or enabled) secret."""
    return _totp(user).provisioning_uri(name=user.email, issuer_name=ISSUER)


def qr_svg(uri: str) -> Markup:
    """The URI as an inline SVG QR code.

    Markup because it is segno's own output for a URI this app built: path data and
    numbers only (no text, no script, no style attribute, so the CSP allows it); the
    email inside the URI is encoded as modules, never written as text.
    """
    return Markup(segno.make(uri, error="m").svg_inline(scale=4, border=2, light="#fff"))


def secret_text(user: User) -> str:
    """The pending secret in groups of four, for typing it into an app by hand."""
    secret = crypto.decrypt(user.totp_secret_encrypted or "")
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def start_setup(user: User) -> str:
    """Give ``user`` a new pending secret (not in force until ``enable``) and return it.
    Conflict when 2FA is already on. Caller commits."""
    if user.has_2fa:
        raise Conflict("Two-factor sign-in is already on.", code="2fa_already_enabled")
    secret = pyotp.random_base32()
    user.totp_secret_encrypted = crypto.encrypt(secret)
    user.totp_last_step = None
    return secret


def _clean(raw: object) -> str:
    if not isinstance(raw, str) or len(raw) > _CODE_INPUT_MAX:
        return ""
    return "".join(ch for ch in raw.upper() if ch.isalnum())


def _matching_step(user: User, digits: str, at: float) -> int | None:
    totp = _totp(user)
    now_step = totp.timecode(at)
    for offset in range(-VALID_WINDOW, VALID_WINDOW + 1):
        if hmac.compare_digest(totp.at(at, counter_offset=offset), digits):
            return now_step + offset
    return None


def _use_step(user: User, step: int) -> bool:
    # One conditional UPDATE: of two requests with the same code, only one moves the step.
    result = db.session.execute(
        update(User)
        .where(
            User.id == user.id,
            or_(User.totp_last_step.is_(None), User.totp_last_step < step),
        )
        .values(totp_last_step=step)
        .execution_options(synchronize_session=False, **{COVERED: True})
    )
    return bool(result.rowcount)


def _recovery_hash(user_id: uuid.UUID, code: str) -> str:
    return hashlib.sha256(f"{user_id}:{code}".encode()).hexdigest()


def _use_recovery_code(user: User, code: str) -> bool:
    result = db.session.execute(
        update(RecoveryCode)
        .where(
            RecoveryCode.user_id == user.id,
            RecoveryCode.code_hash == _recovery_hash(user.id, code),
            RecoveryCode.used_at.is_(None),
        )
        .values(used_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)


def verify_totp(user: User, raw_code: object, *, at: float | None = None) -> bool:
    """Whether ``raw_code`` is a right TOTP code not used before; marks it used. The caller
    commits (or rolls back, which makes the code usable again)."""
    digits = _clean(raw_code)
    if not user.totp_secret_encrypted or len(digits) != 6 or not digits.isdigit():
        return False
    step = _matching_step(user, digits, time.time() if at is None else at)
    return step is not None and _use_step(user, step)


def check_code(user: User, raw_code: object, *, at: float | None = None) -> str:
    """Accept a TOTP code or an unused recovery code of a user with 2FA on, once: returns
    ``"totp"`` or ``"recovery"``; raises WrongCode otherwise. Caller commits."""
    if not user.has_2fa:
        raise WrongCode("Two-factor sign-in is not on for this account.")
    if verify_totp(user, raw_code, at=at):
        return "totp"
    code = _clean(raw_code)
    if len(code) == 10 and _use_recovery_code(user, code):
        activity.record(
            user.id, ActivityKind.RECOVERY_CODE_USED, f"{remaining_recovery_codes(user)} left"
        )
        return "recovery"
    raise WrongCode("The code is not right, or it was used already.")


def _new_recovery_codes(user: User) -> list[str]:
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = [
        "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(10))
        for _ in range(RECOVERY_CODE_COUNT)
    ]
    db.session.add_all(
        RecoveryCode(user_id=user.id, code_hash=_recovery_hash(user.id, code)) for code in codes
    )
    return [f"{code[:5]}-{code[5:]}" for code in codes]


def enable(user: User, raw_code: object, *, at: float | None = None) -> list[str]:
    """Turn 2FA on with a right code of the pending secret; returns the recovery codes
    (shown once, kept hashed). Caller commits."""
    if user.has_2fa:
        raise Conflict("Two-factor sign-in is already on.", code="2fa_already_enabled")
    if not user.totp_secret_encrypted:
        raise Conflict("Start the setup first.", code="2fa_not_set_up")
    if not verify_totp(user, raw_code, at=at):
        raise WrongCode("The code is not right. Check the time on your phone and try again.")
    user.totp_enabled_at = utcnow()
    codes = _new_recovery_codes(user)
    activity.record(user.id, ActivityKind.TWO_FACTOR_ENABLED)
    _tell(user, "turned on")
    return codes


def disable(user: User, raw_code: object, *, at: float | None = None) -> None:
    """Turn 2FA off after a right code (TOTP or recovery); the password is the caller's
    check. Caller commits."""
    check_code(user, raw_code, at=at)
    user.totp_secret_encrypted = None
    user.totp_enabled_at = None
    user.totp_last_step = None
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    activity.record(user.id, ActivityKind.TWO_FACTOR_DISABLED)
    _tell(user, "turned off")


def _tell(user: User, change: str) -> None:
    # A security notice: always sent, whatever the user's notification settings.
    now = utcnow().isoformat()
    notices.notify(user.id, "2fa_changed", {"change": change}, dedupe_key=f"2fa:{user.id}:{now}")


def remaining_recovery_codes(user: User) -> int:
    return db.session.execute(
        select(func.count())
        .select_from(RecoveryCode)
        .where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))
    ).scalar_one()


def admin_needs_2fa(user: User) -> bool:
    """True for an admin without 2FA while ``ADMIN_REQUIRE_2FA`` is on: such an admin gets
    no admin page or admin API call until they set it up."""
    return bool(current_app.config.get("ADMIN_REQUIRE_2FA") and user.is_admin and not user.has_2fa)
