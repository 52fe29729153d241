"""The one login path: cookie sessions through Flask-Login's user_loader, API tokens through
its request_loader, so ``current_user`` is the answer everywhere and each rule is here once."""

from __future__ import annotations

import uuid

from flask import Request, g, request
from flask_login import LoginManager

from vpsshop.extensions import db
from vpsshop.models import User
from vpsshop.security import login_revoked
from vpsshop.services.tokens import token_for


def _is_api_request() -> bool:
    # The API is exempt from CSRF, so a browser's cookie must never sign it in.
    return request.blueprint == "api" or request.path.startswith("/api/")


def bearer_token(req: Request) -> str | None:
    """The request's Bearer token as sent (not yet checked), or None."""
    scheme, _, token = req.headers.get("Authorization", "").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def load_user_from_cookie(raw_id: str) -> User | None:
    """The cookie's user, unless the login was logged out or its password changed since."""
    if _is_api_request() or login_revoked():
        return None
    user_id, _, version = raw_id.partition(":")
    try:
        user = db.session.get(User, uuid.UUID(user_id))
    except ValueError:
        return None
    # A changed password or a suspension bumps session_version and ends older logins.
    if user is None or str(user.session_version) != version or user.is_suspended:
        return None
    return user


def load_user_from_token(req: Request) -> User | None:
    """The user of a valid ``Authorization: Bearer`` token, for the API only."""
    if not _is_api_request():
        return None
    token = bearer_token(req)
    found = token_for(token) if token is not None else None
    if found is None:
        return None
    api_token, user = found
    g.api_token_id = api_token.id  # which of the user's tokens this is (GET /me/tokens)
    return user


def current_token_id() -> uuid.UUID | None:
    """The id of the API token that signed this request in, or None (cookie or none)."""
    return g.get("api_token_id")


def register_login_loaders(manager: LoginManager) -> None:
    manager.user_loader(load_user_from_cookie)
    manager.request_loader(load_user_from_token)
