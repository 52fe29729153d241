"""The caller's own account in the API: two-factor sign-in, API tokens, activity; and the
admin's suspension of an account."""

from __future__ import annotations

import uuid
from typing import Any

from flask import jsonify, request
from flask_login import current_user

from vpsshop.api import bp
from vpsshop.api.admin_routes import admin_user_json
from vpsshop.api.helpers import admin_required, token_required
from vpsshop.api.openapi import documented, responses, sent_fields
from vpsshop.api.schemas import (
    ActivityBody,
    AdminUserBody,
    CodeRequest,
    PageQuery,
    PasswordAndCodeRequest,
    PasswordRequest,
    RecoveryCodesBody,
    SuspendBody,
    SuspendRequest,
    TokensBody,
    TwoFactorOffBody,
    TwoFactorSetupBody,
)
from vpsshop.api.serializers import iso
from vpsshop.errors import Forbidden, NotFound, ValidationError
from vpsshop.extensions import db
from vpsshop.login import current_token_id
from vpsshop.login_failures import count_failure
from vpsshop.models import ActivityEvent, ApiToken, User
from vpsshop.services import accounts, activity, suspension, tokens, two_factor
from vpsshop.services.activity import ActivityKind

ME = ("me",)
ADMIN = ("admin",)


def _user() -> User:
    return current_user._get_current_object()


def _check_password(body: dict[str, Any]) -> None:
    password = body.get("password")
    if not isinstance(password, str) or not password:
        raise ValidationError("Send your password as password.", code="password_required")
    if accounts.authenticate(_user().email, password) is None:
        count_failure()
        raise Forbidden("The password is not right.", code="wrong_password")


def _code_refused(error: two_factor.WrongCode) -> Forbidden:
    count_failure()
    return Forbidden(error.message, code="otp_invalid")


# --- two-factor sign-in -------------------------------------------------------------


@bp.post("/me/2fa/setup")
@token_required
@documented(json=PasswordRequest, resp=responses({200: TwoFactorSetupBody}, errors=(403,)), tags=ME)
def two_factor_setup():
    """``{password}`` -> ``{"secret", "otpauth_uri"}``: a new pending secret; 2FA is on
    only after ``/me/2fa/enable`` with a right code."""
    body = sent_fields(PasswordRequest)
    _check_password(body)
    user = _user()
    secret = two_factor.start_setup(user)
    db.session.commit()
    return jsonify(secret=secret, otpauth_uri=two_factor.otpauth_uri(user))


@bp.post("/me/2fa/enable")
@token_required
@documented(json=CodeRequest, resp=responses({200: RecoveryCodesBody}, errors=(403, 409)), tags=ME)
def two_factor_enable():
    """``{code}`` -> ``{"recovery_codes": [...]}`` (shown once, stored hashed)."""
    body = sent_fields(CodeRequest)
    try:
        codes = two_factor.enable(_user(), body.get("code"))
    except two_factor.WrongCode as error:
        db.session.rollback()
        raise _code_refused(error) from None
    db.session.commit()
    return jsonify(recovery_codes=codes)


@bp.post("/me/2fa/disable")
@token_required
@documented(
    json=PasswordAndCodeRequest, resp=responses({200: TwoFactorOffBody}, errors=(403,)), tags=ME
)
def two_factor_disable():
    """``{password, code}``: turns 2FA off (the code may be a recovery code)."""
    body = sent_fields(PasswordAndCodeRequest)
    _check_password(body)
    user = _user()
    if not user.has_2fa:
        raise ValidationError("Two-factor sign-in is not on.", code="2fa_not_enabled")
    try:
        two_factor.disable(user, body.get("code"))
    except two_factor.WrongCode as error:
        db.session.rollback()
        raise _code_refused(error) from None
    db.session.commit()
    return jsonify(two_factor=False)


# --- tokens ------------------------------------------------------------------------------


def token_json(api_token: ApiToken, current_id: uuid.UUID | None) -> dict[str, Any]:
    """A token as its owner sees it: never its value (only its hash is stored anyway)."""
    return {
        "id": str(api_token.id),
        "name": api_token.name,
        "created_at": iso(api_token.created_at),
        "last_used_at": iso(api_token.last_used_at),
        "expires_at": iso(api_token.expires_at),
        "current": api_token.id == current_id,
    }


@bp.get("/me/tokens")
@token_required
@documented(resp=responses({200: TokensBody}), tags=ME)
def list_my_tokens():
    current_id = current_token_id()
    return jsonify(tokens=[token_json(t, current_id) for t in tokens.list_tokens(current_user.id)])


@bp.delete("/me/tokens/<uuid:token_id>")
@token_required
@documented(resp=responses({204: None}), tags=ME)
def revoke_my_token(token_id: uuid.UUID):
    """204; the token stops at once (revoking the current one ends this client's access)."""
    revoked = tokens.revoke_token(current_user.id, token_id)
    activity.record(current_user.id, ActivityKind.TOKEN_REVOKED, revoked.name or "unnamed token")
    db.session.commit()
    return "", 204


# --- activity ----------------------------------------------------------------------------


def event_json(event: ActivityEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "kind": event.kind,
        "created_at": iso(event.created_at),
        "ip": event.ip,
        "user_agent": event.user_agent,
        "detail": event.detail,
    }


@bp.get("/me/activity")
@token_required
@documented(query=PageQuery, resp=responses({200: ActivityBody}), tags=ME)
def my_activity():
    """``?limit=`` (1..100) and ``?before=<id>``: the caller's own events, newest first."""
    limit, before = activity.page_args(request.args.get("limit"), request.args.get("before"))
    events = activity.events_of(current_user.id, limit, before)
    return jsonify(events=[event_json(event) for event in events])


# --- suspension (admin) -------------------------------------------------------------------


def _target(user_id: uuid.UUID) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound("No such user.", code="user_not_found")
    return user


@bp.post("/admin/users/<uuid:user_id>/suspend")
@admin_required
@documented(json=SuspendRequest, resp=responses({200: SuspendBody}, errors=(403, 409)), tags=ADMIN)
def admin_suspend_user(user_id: uuid.UUID):
    """``{reason, stop_sessions?}``: the user's logins and tokens end at once."""
    user = _target(user_id)
    body = sent_fields(SuspendRequest)
    stopped = suspension.suspend(
        user,
        body.get("reason"),
        actor_id=current_user.id,
        stop_sessions=body.get("stop_sessions", False),
    )
    db.session.refresh(user)
    return jsonify(user=admin_user_json(user), stopped_sessions=[str(s) for s in stopped])


@bp.post("/admin/users/<uuid:user_id>/unsuspend")
@admin_required
@documented(resp=responses({200: AdminUserBody}, errors=(403, 409)), tags=ADMIN)
def admin_unsuspend_user(user_id: uuid.UUID):
    user = _target(user_id)
    suspension.unsuspend(user, actor_id=current_user.id)
    db.session.refresh(user)
    return jsonify(user=admin_user_json(user))
