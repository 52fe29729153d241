"""Absolute links for mails (``PUBLIC_URL``) and the signed tokens some of them carry."""

from __future__ import annotations

import uuid
from typing import Any

from flask import current_app, url_for
from itsdangerous import BadSignature, SignatureExpired, URLSafeSerializer, URLSafeTimedSerializer

DEV_PUBLIC_URL = "http://127.0.0.1:5000"
_UNSUBSCRIBE_SALT = "vpsshop-unsubscribe"
_VERIFY_SALT = "vpsshop-verify-email"


def public_url(endpoint: str, **values: Any) -> str:
    """``url_for(endpoint, **values)`` as an absolute URL under ``PUBLIC_URL``."""
    base = current_app.config["PUBLIC_URL"] or DEV_PUBLIC_URL
    # A request context of its own: jobs have none, and a web request's host is not
    # necessarily the one users reach the shop by.
    with current_app.test_request_context(base_url=base):
        return url_for(endpoint, _external=True, **values)


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=_UNSUBSCRIBE_SALT)


def unsubscribe_token(user_id: uuid.UUID, category: str) -> str:
    """A token that turns off ``category`` notices of the user, no sign-in needed."""
    return _serializer().dumps({"u": str(user_id), "c": category})


def read_unsubscribe_token(token: str) -> tuple[uuid.UUID, str] | None:
    try:
        data = _serializer().loads(token)
        return uuid.UUID(data["u"]), str(data["c"])
    except (BadSignature, KeyError, TypeError, ValueError, AttributeError):
        return None


def _timed() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=_VERIFY_SALT)


def verification_token(user_id: uuid.UUID, email: str) -> str:
    """A token that confirms ``email`` for the user; it names the address, so a token
    for an address the account no longer has confirms nothing."""
    return _timed().dumps({"u": str(user_id), "e": email})


def read_verification_token(token: str) -> tuple[uuid.UUID, str] | None:
    max_age = current_app.config["EMAIL_VERIFICATION_TTL_SECONDS"]
    try:
        data = _timed().loads(token, max_age=max_age)
        return uuid.UUID(data["u"]), str(data["e"])
    except (SignatureExpired, BadSignature, KeyError, TypeError, ValueError, AttributeError):
        return None
