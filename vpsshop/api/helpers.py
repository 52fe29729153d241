"""Authentication and body parsing shared by the API routes."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable
from typing import Any

from flask import g, request

from vpsshop.errors import Forbidden, NotFound, Unauthorized, ValidationError
from vpsshop.models import User
from vpsshop.services.tokens import user_for_token


def bearer_token() -> str:
    """The request's Bearer token (not yet checked); 401 when there is none."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Send an API token as 'Authorization: Bearer <token>'.")
    return token.strip()


def token_user(token: str) -> User:
    """The user of a valid token, from the database; 401 otherwise."""
    user = user_for_token(token)
    if user is None:
        raise Unauthorized("The API token is not valid.")
    return user


def _bearer_user() -> User:
    return token_user(bearer_token())


def token_required(view: Callable) -> Callable:
    """Require a valid Bearer token; the user is ``g.api_user``."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        g.api_user = _bearer_user()
        return view(*args, **kwargs)

    return wrapper


def admin_required(view: Callable) -> Callable:
    """Require a Bearer token of an admin: 401 without one, 403 for a non-admin."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        g.api_user = _bearer_user()
        if not g.api_user.is_admin:
            raise Forbidden("This needs an admin account.")
        return view(*args, **kwargs)

    return wrapper


def request_json() -> Any:
    """The request's parsed JSON body, or None when there is none or it is not JSON."""
    try:
        return request.get_json(silent=True)
    except RecursionError:  # deeply nested arrays: silent=True does not catch it
        return None


def json_body() -> dict[str, Any]:
    """The request's JSON object, or a 400 for anything else (never a 500)."""
    data = request_json()
    if not isinstance(data, dict):
        raise ValidationError("The body must be a JSON object.", code="invalid_json")
    return data


def parse_uuid(raw: str, what: str = "object") -> uuid.UUID:
    """A UUID from a URL segment; a malformed one is just as missing as an unknown one."""
    try:
        return uuid.UUID(raw)
    except (ValueError, TypeError, AttributeError):
        raise NotFound(f"No such {what}.") from None
