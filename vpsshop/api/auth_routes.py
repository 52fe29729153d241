"""API tokens and the caller's own account."""

from __future__ import annotations

from flask import jsonify
from flask_login import current_user

from vpsshop.api import bp
from vpsshop.api.helpers import token_required
from vpsshop.api.openapi import PUBLIC, body, documented, responses
from vpsshop.api.schemas import MeBody, TokenBody, TokenRequest
from vpsshop.errors import Forbidden, Unauthorized
from vpsshop.extensions import db
from vpsshop.services import accounts, activity, two_factor
from vpsshop.services.activity import ActivityKind
from vpsshop.services.tokens import check_name, issue_token


def user_json(user) -> dict:
    return {
        "id": str(user.id),
        "email": user.email,
        "coins": user.coins,
        "is_admin": user.is_admin,
        "email_verified": user.email_verified_at is not None,
    }


def _failed(email: object, detail: str, error: Unauthorized) -> Unauthorized:
    accounts.record_failed_sign_in(email, detail)
    return error


@bp.post("/auth/token")
@documented(
    json=TokenRequest,
    resp=responses({201: TokenBody}, errors=(403,)),
    tags=("auth",),
    security=PUBLIC,
)
def create_token():
    """``{email, password, otp?, name?}`` -> 201 ``{"token"}``.

    A wrong password answers ``invalid_credentials`` whether or not the account has
    two-factor sign-in; with a right one such an account needs ``otp`` (a TOTP code or a
    recovery code): 401 ``otp_required`` without it, ``otp_invalid`` for a wrong or
    reused one. Every 401 counts toward the per-account failure limit.
    """
    credentials = body(TokenRequest)
    name = check_name(credentials.name)
    user = accounts.authenticate(credentials.email, credentials.password)
    if user is None:
        raise _failed(
            credentials.email,
            "wrong email or password (API)",
            Unauthorized("Wrong email or password.", code="invalid_credentials"),
        )
    if user.has_2fa:
        otp = credentials.otp
        if otp is None or otp == "":
            raise Unauthorized(
                "This account has two-factor sign-in: send the code as otp.", code="otp_required"
            )
        try:
            two_factor.check_code(user, otp)
        except two_factor.WrongCode as error:
            db.session.rollback()
            raise _failed(
                user.email,
                "wrong two-factor code (API)",
                Unauthorized(error.message, code="otp_invalid"),
            ) from None
    if user.is_suspended:
        db.session.commit()  # a recovery code used stays used
        raise Forbidden(
            f"This account is suspended: {user.suspended_reason}", code="account_suspended"
        )
    token = issue_token(user, name)
    activity.record(user.id, ActivityKind.SIGN_IN, "API")
    activity.record(user.id, ActivityKind.TOKEN_CREATED, name or "unnamed token")
    db.session.commit()
    return jsonify(token=token), 201


@bp.get("/me")
@token_required
@documented(resp=responses({200: MeBody}), tags=("auth",))
def me():
    """The account the token belongs to."""
    return jsonify(user_json(current_user))
