"""API tokens and the caller's own account."""

from __future__ import annotations

from flask import jsonify
from flask_login import current_user

from vpsshop.api import bp
from vpsshop.api.helpers import token_required
from vpsshop.api.openapi import PUBLIC, body, documented, responses
from vpsshop.api.schemas import MeBody, TokenBody, TokenRequest
from vpsshop.errors import Unauthorized
from vpsshop.extensions import db
from vpsshop.services import accounts
from vpsshop.services.tokens import issue_token


def user_json(user) -> dict:
    return {"id": str(user.id), "email": user.email, "coins": user.coins, "is_admin": user.is_admin}


@bp.post("/auth/token")
@documented(json=TokenRequest, resp=responses({201: TokenBody}), tags=("auth",), security=PUBLIC)
def create_token():
    """Trade an email and password for an API token."""
    credentials = body(TokenRequest)
    user = accounts.authenticate(credentials.email, credentials.password)
    if user is None:
        raise Unauthorized("Wrong email or password.", code="invalid_credentials")
    token = issue_token(user)
    db.session.commit()
    return jsonify(token=token), 201


@bp.get("/me")
@token_required
@documented(resp=responses({200: MeBody}), tags=("auth",))
def me():
    """The account the token belongs to."""
    return jsonify(user_json(current_user))
