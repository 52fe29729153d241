"""Password reset, address confirmation and notification settings in the API."""

from __future__ import annotations

from flask import jsonify
from flask_login import current_user

from vpsshop.api import bp
from vpsshop.api.helpers import token_required
from vpsshop.api.openapi import PUBLIC, documented, responses, sent_fields
from vpsshop.api.schemas import (
    MessageBody,
    NotificationsBody,
    NotificationsRequest,
    PasswordResetRequest,
    ResetConfirmRequest,
)
from vpsshop.errors import ValidationError
from vpsshop.extensions import db
from vpsshop.services import email_verification, password_reset

AUTH = ("auth",)
ME = ("me",)


@bp.post("/auth/password-reset")
@documented(
    json=PasswordResetRequest,
    resp=responses({202: MessageBody}, errors=(503,)),
    tags=AUTH,
    security=PUBLIC,
)
def request_password_reset():
    """202 with the same answer for any address; a link is mailed when it has an account."""
    password_reset.ask_for_reset(sent_fields(PasswordResetRequest).get("email"))
    return jsonify(message=password_reset.RESET_ANSWER), 202


@bp.post("/auth/password-reset/confirm")
@documented(
    json=ResetConfirmRequest, resp=responses({200: MessageBody}), tags=AUTH, security=PUBLIC
)
def confirm_password_reset():
    body = sent_fields(ResetConfirmRequest)
    password_reset.reset_password(body.get("token"), body.get("password"))
    return jsonify(message="Password changed. Every sign-in and API token was ended."), 200


@bp.post("/me/verify-email")
@token_required
@documented(resp=responses({200: MessageBody, 202: MessageBody}, errors=(503,)), tags=ME)
def resend_verification():
    user = current_user._get_current_object()
    if not email_verification.send_link(user):
        return jsonify(message="Your email address is already confirmed."), 200
    db.session.commit()
    return jsonify(message=f"We sent a confirmation link to {user.email}."), 202


def _settings(user) -> dict:
    return {"servers": user.notify_servers, "coins": user.notify_coins}


@bp.get("/me/notifications")
@token_required
@documented(resp=responses({200: NotificationsBody}), tags=ME)
def get_notifications():
    return jsonify(notifications=_settings(current_user))


@bp.patch("/me/notifications")
@token_required
@documented(json=NotificationsRequest, resp=responses({200: NotificationsBody}), tags=ME)
def update_notifications():
    body = sent_fields(NotificationsRequest)
    unknown = set(body) - {"servers", "coins"}
    if unknown or not body:
        raise ValidationError(
            "Send any of servers and coins, each true or false.", code="invalid_notifications"
        )
    user = current_user._get_current_object()
    for name, value in body.items():
        setattr(user, f"notify_{name}", value)
    db.session.commit()
    return jsonify(notifications=_settings(user))
