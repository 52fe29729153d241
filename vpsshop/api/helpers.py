"""Authentication and body parsing shared by the API routes."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from flask import request
from flask_login import current_user

from vpsshop.errors import Forbidden, Unauthorized, ValidationError
from vpsshop.login import bearer_token
from vpsshop.services.two_factor import admin_needs_2fa

IDEMPOTENCY_KEY_MAX = 200


def _require_token_user() -> None:
    if not current_user.is_authenticated:
        if bearer_token(request) is None:
            raise Unauthorized("Send an API token as 'Authorization: Bearer <token>'.")
        raise Unauthorized("The API token is not valid.")


def token_required(view: Callable) -> Callable:
    """Require a valid Bearer token (Flask-Login's request_loader); the user is current_user."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        _require_token_user()
        return view(*args, **kwargs)

    return wrapper


def admin_required(view: Callable) -> Callable:
    """Require a Bearer token of an admin: 401 without one, 403 for a non-admin."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        _require_token_user()
        if not current_user.is_admin:
            raise Forbidden("This needs an admin account.")
        if admin_needs_2fa(current_user):
            raise Forbidden(
                "Admins must turn on two-factor sign-in first (account page, Two-factor).",
                code="2fa_required",
            )
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


def idempotency_key_header() -> str | None:
    """The request's ``Idempotency-Key`` header, trimmed; None without one; 400 when bad."""
    raw = request.headers.get("Idempotency-Key")
    if raw is None:
        return None
    key = raw.strip()
    if not key or len(key) > IDEMPOTENCY_KEY_MAX or not key.isprintable() or not key.isascii():
        raise ValidationError(
            f"Idempotency-Key must be 1 to {IDEMPOTENCY_KEY_MAX} printable ASCII characters.",
            code="invalid_idempotency_key",
        )
    return key
