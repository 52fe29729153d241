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

    An account with two-factor sign-in needs ``otp`` (a TOTP code or a recovery code):
    401 ``otp_required`` without it and ``otp_invalid`` when the code or the password is
    wrong, the same answer for both, so no answer tells whether its password was right.
    Other accounts get ``invalid_credentials`` for a wrong password (as an unknown
    address does). Every refusal of a password or code counts toward the per-account
    failure limit.
    """
    credentials = body(TokenRequest)
    name = check_name(credentials.name)
    user = accounts.authenticate(credentials.email, credentials.password)
    account = user or accounts.find_user(credentials.email)
    if account is not None and account.has_2fa:
        otp = credentials.otp
        if otp is None or otp == "":
            if user is None:
                accounts.record_failed_sign_in(account.email, "wrong password (API)")
            raise Unauthorized(
                "This account has two-factor sign-in: send the code as otp.", code="otp_required"
            )
        try:
            if user is None:
                # Answered like a wrong code; the code is not even looked at.
                raise two_factor.WrongCode("wrong password")
            two_factor.check_code(user, otp)
        except two_factor.WrongCode:
            db.session.rollback()
            raise _failed(
                account.email,
                "wrong password or two-factor code (API)",
                Unauthorized(
                    "The password or the code is not right, or the code was used already.",
                    code="otp_invalid",
                ),
            ) from None
    if user is None:
        raise _failed(
            credentials.email,
            "wrong email or password (API)",
            Unauthorized("Wrong email or password.", code="invalid_credentials"),
        )
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
