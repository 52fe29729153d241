"""Account pages: two-factor setup, API tokens, the activity log."""

from __future__ import annotations

import uuid

from flask import abort, flash, make_response, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from vpsshop.accounts import bp
from vpsshop.accounts.forms import (
    CreateTokenForm,
    DisableForm,
    EnableForm,
    RevokeTokenForm,
    SetupForm,
)
from vpsshop.errors import ServiceError
from vpsshop.extensions import db
from vpsshop.login_failures import count_failure
from vpsshop.models.types import utcnow
from vpsshop.services import accounts, activity, tokens, two_factor
from vpsshop.services.activity import ActivityKind

WRONG_PASSWORD = "The password is not right."


def _user():
    return current_user._get_current_object()


def _password_ok(password: str) -> bool:
    if accounts.authenticate(_user().email, password) is not None:
        return True
    count_failure()
    return False


def _private(body: str, status: int = 200):
    # Pages that show a secret once (recovery codes, a new token) are never stored.
    response = make_response(body, status)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/account")
@login_required
def overview():
    return render_template("accounts/overview.html")


@bp.get("/account/2fa", endpoint="two_factor")
@login_required
def two_factor_page():
    user = _user()
    return render_template(
        "accounts/two_factor.html",
        setup_form=SetupForm(),
        disable_form=DisableForm(),
        remaining=two_factor_remaining(user),
    )


def two_factor_remaining(user) -> int | None:
    return two_factor.remaining_recovery_codes(user) if user.has_2fa else None


def _setup_page(form: EnableForm, status: int = 200):
    user = _user()
    uri = two_factor.otpauth_uri(user)
    return _private(
        render_template(
            "accounts/two_factor_setup.html",
            form=form,
            qr_svg=two_factor.qr_svg(uri),
            secret=two_factor.secret_text(user),
        ),
        status,
    )


@bp.post("/account/2fa/setup")
@login_required
def two_factor_setup():
    """Behind the password: a new pending secret, shown as a QR code and as text."""
    form = SetupForm()
    user = _user()
    if not form.validate_on_submit():
        return redirect(url_for(".two_factor"))
    if not _password_ok(form.password.data):
        form.password.errors.append(WRONG_PASSWORD)
        return render_template(
            "accounts/two_factor.html", setup_form=form, disable_form=DisableForm(), remaining=None
        ), 403
    try:
        two_factor.start_setup(user)
    except ServiceError as error:
        db.session.rollback()
        flash(error.message, "error")
        return redirect(url_for(".two_factor"))
    db.session.commit()
    return _setup_page(EnableForm())


@bp.post("/account/2fa/enable")
@login_required
def two_factor_enable():
    """A right code of the pending secret turns 2FA on; the recovery codes are shown once."""
    form = EnableForm()
    user = _user()
    if user.has_2fa or not user.totp_secret_encrypted:
        return redirect(url_for(".two_factor"))
    if not form.validate_on_submit():
        return _setup_page(form, 400)
    try:
        codes = two_factor.enable(user, form.code.data)
    except two_factor.WrongCode as error:
        db.session.rollback()
        count_failure()
        form.code.errors.append(error.message)
        return _setup_page(form, 403)
    db.session.commit()
    flash("Two-factor sign-in is on.", "success")
    return _private(render_template("accounts/recovery_codes.html", codes=codes))


@bp.post("/account/2fa/disable")
@login_required
def two_factor_disable():
    """Behind the password and a code (or a recovery code)."""
    form = DisableForm()
    user = _user()
    if not user.has_2fa:
        return redirect(url_for(".two_factor"))

    def again(status: int):
        return render_template(
            "accounts/two_factor.html",
            setup_form=SetupForm(),
            disable_form=form,
            remaining=two_factor_remaining(user),
        ), status

    if not form.validate_on_submit():
        return again(400)
    if not _password_ok(form.password.data):
        form.password.errors.append(WRONG_PASSWORD)
        return again(403)
    try:
        two_factor.disable(user, form.code.data)
    except two_factor.WrongCode as error:
        db.session.rollback()
        count_failure()
        form.code.errors.append(error.message)
        return again(403)
    db.session.commit()
    flash("Two-factor sign-in is off.", "info")
    return redirect(url_for(".two_factor"))


def _tokens_page(form: CreateTokenForm, new_token: str | None = None, status: int = 200):
    return _private(
        render_template(
            "accounts/tokens.html",
            form=form,
            revoke_form=RevokeTokenForm(),
            tokens=tokens.list_tokens(current_user.id),
            new_token=new_token,
            now=utcnow(),
        ),
        status,
    )


@bp.route("/account/tokens", methods=["GET", "POST"])
@login_required
def api_tokens():
    """The user's API tokens; a new one's value is shown once, on this answer only."""
    form = CreateTokenForm()
    if request.method == "GET":
        return _tokens_page(form)
    if not form.validate_on_submit():
        return _tokens_page(form, status=400)
    try:
        days = int(form.expires.data) if form.expires.data else None
        value = tokens.issue_token(_user(), form.name.data, days)
        activity.record(current_user.id, ActivityKind.TOKEN_CREATED, form.name.data.strip())
        db.session.commit()
    except ServiceError as error:
        db.session.rollback()
        form.name.errors.append(error.message)
        return _tokens_page(form, status=error.status)
    return _tokens_page(CreateTokenForm(formdata=None), new_token=value, status=201)


@bp.post("/account/tokens/<uuid:token_id>/revoke")
@login_required
def revoke_token(token_id: uuid.UUID):
    """Revoke one of the user's tokens; it stops working at once."""
    if not RevokeTokenForm().validate_on_submit():
        abort(400, "The form expired. Reload the page and try again.")
    try:
        revoked = tokens.revoke_token(current_user.id, token_id)
    except ServiceError:
        db.session.rollback()
        abort(404)
    activity.record(current_user.id, ActivityKind.TOKEN_REVOKED, revoked.name or "unnamed token")
    db.session.commit()
    flash(f"Token “{revoked.name or 'unnamed'}” revoked.", "success")
    return redirect(url_for(".api_tokens"))


@bp.get("/account/activity")
@login_required
def activity_log():
    """The user's own activity, newest first, a page at a time."""
    try:
        limit, before = activity.page_args(request.args.get("limit"), request.args.get("before"))
    except ServiceError as error:
        abort(400, error.message)
    events = activity.events_of(current_user.id, limit + 1, before)
    more = len(events) > limit
    events = events[:limit]
    return render_template(
        "accounts/activity.html",
        events=events,
        next_before=events[-1].id if more and events else None,
    )
