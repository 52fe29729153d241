"""API tokens and the caller's own account."""

from __future__ import annotations

from flask import jsonify
from flask_login import current_user

from vpsshop.api import bp
from vpsshop.api.helpers import json_body, token_required
from vpsshop.errors import Unauthorized
from vpsshop.extensions import db
from vpsshop.services import accounts
from vpsshop.services.tokens import issue_token


def user_json(user) -> dict:
    return {
        "id": str(user.id),
        "email": user.email,
        "coins": user.coins,
        "is_admin": user.is_admin,
        "email_verified": user.email_verified_at is not None,
    }


@bp.post("/auth/token")
def create_token():
    body = json_body()
    user = accounts.authenticate(body.get("email"), body.get("password"))
    if user is None:
        raise Unauthorized("Wrong email or password.", code="invalid_credentials")
    token = issue_token(user)
    db.session.commit()
    return jsonify(token=token), 201


@bp.get("/me")
@token_required
def me():
    return jsonify(user_json(current_user))
