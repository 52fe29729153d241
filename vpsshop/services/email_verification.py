"""E-mail verification (``REQUIRE_EMAIL_VERIFICATION``): the mailed link, and the gate that
keeps an unconfirmed account from buying or topping up."""

from __future__ import annotations

from flask import current_app

from vpsshop.errors import Forbidden, ValidationError
from vpsshop.extensions import db
from vpsshop.models import User
from vpsshop.models.types import utcnow
from vpsshop.services import mail_links, notices

UNVERIFIED_MESSAGE = (
    "Confirm your email address first: follow the link we mailed you, or send it again "
    "from Notifications."
)


class EmailUnverified(Forbidden):
    code = "email_unverified"


def is_required() -> bool:
    return bool(current_app.config["REQUIRE_EMAIL_VERIFICATION"])


def needs_verification(user: User) -> bool:
    """Whether this user must still confirm the address before buying."""
    return is_required() and user.email_verified_at is None


def require_verified(user: User) -> None:
    """Raise ``EmailUnverified`` (403) for a user who may not buy or top up yet."""
    if needs_verification(user):
        raise EmailUnverified(UNVERIFIED_MESSAGE)


def send_link(user: User) -> bool:
    """Record a confirmation mail (the caller commits); False when there is nothing to do."""
    if user.email_verified_at is not None:
        return False
    notices.notify(user.id, "verify_email", {"reason": "confirm"})
    return True


def confirm(token: object) -> User:
    """Mark the address in ``token`` confirmed; commits. Raises ``ValidationError``."""
    found = mail_links.read_verification_token(token) if isinstance(token, str) else None
    user = db.session.get(User, found[0]) if found else None
    if user is None or user.email != found[1]:
        raise ValidationError(
            "This confirmation link is not valid or has expired. Send a new one.",
            code="invalid_verification_token",
        )
    if user.email_verified_at is None:
        user.email_verified_at = utcnow()
        db.session.commit()
    return user
