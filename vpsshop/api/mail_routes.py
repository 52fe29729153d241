"""Password reset, address confirmation and notification settings in the API."""

from __future__ import annotations

from flask import jsonify
from flask_login import current_user

from vpsshop.api import bp
from vpsshop.api.helpers import json_body, token_required
from vpsshop.errors import ValidationError
from vpsshop.extensions import db
from vpsshop.services import email_verification, password_reset


@bp.post("/auth/password-reset")
def request_password_reset():
    """202 with the same answer for any address; a link is mailed when it has an account."""
    password_reset.ask_for_reset(json_body().get("email"))
    return jsonify(message=password_reset.RESET_ANSWER), 202


@bp.post("/auth/password-reset/confirm")
def confirm_password_reset():
    body = json_body()
    password_reset.reset_password(body.get("token"), body.get("password"))
    return jsonify(message="Password changed. Every sign-in and API token was ended."), 200


@bp.post("/me/verify-email")
@token_required
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
def get_notifications():
    return jsonify(notifications=_settings(current_user))


@bp.patch("/me/notifications")
@token_required
def update_notifications():
    body = json_body()
    unknown = set(body) - {"servers", "coins"}
    if unknown or not body:
        raise ValidationError(
            "Send any of servers and coins, each true or false.", code="invalid_notifications"
        )
    if any(not isinstance(value, bool) for value in body.values()):
        raise ValidationError("Each setting is true or false.", code="invalid_notifications")
    user = current_user._get_current_object()
    for name, value in body.items():
        setattr(user, f"notify_{name}", value)
    db.session.commit()
    return jsonify(notifications=_settings(user))
