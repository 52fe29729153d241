"""The signed-in user's own account: changing the password."""

from __future__ import annotations

from flask import current_app, flash, redirect, render_template, session, url_for
from flask_login import current_user, login_required, login_user
from flask_wtf import FlaskForm
from wtforms import PasswordField, SubmitField
from wtforms.validators import DataRequired, EqualTo, Length

from vpsshop.auth import bp
from vpsshop.auth.forms import CURRENT_PASSWORD, NEW_PASSWORD, new_password_validators
from vpsshop.errors import ServiceError
from vpsshop.extensions import db
from vpsshop.limits import limiter
from vpsshop.services import accounts
from vpsshop.services.accounts import PASSWORD_MAX

WRONG_CURRENT_PASSWORD = "The current password is not right."


class ChangePasswordForm(FlaskForm):
    current_password = PasswordField(
        "Current password",
        validators=[DataRequired(), Length(max=PASSWORD_MAX)],
        render_kw=CURRENT_PASSWORD,
    )
    new_password = PasswordField(
        "New password", validators=new_password_validators(), render_kw=NEW_PASSWORD
    )
    confirm = PasswordField(
        "Repeat the new password",
        validators=[DataRequired(), EqualTo("new_password", message="The passwords differ.")],
        render_kw=NEW_PASSWORD,
    )
    submit = SubmitField("Change password")


def _user_key() -> str:
    return "pwchange:" + str(current_user.get_id() or "anonymous")


def _wrong_current_password(response) -> bool:
    return response.status_code == 403


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
# Someone at an unattended signed-in browser may not guess the password here instead of at
# the sign-in form: wrong current passwords count against the same allowance.
@limiter.limit(
    lambda: current_app.config["RATELIMIT_LOGIN_FAILURES_PER_ACCOUNT"],
    key_func=_user_key,
    methods=["POST"],
    deduct_when=_wrong_current_password,
)
def change_password():
    """Change the password; end every other login and API token, keep this browser's."""
    form = ChangePasswordForm()
    if not form.validate_on_submit():
        return render_template("auth/password.html", form=form), 400 if form.is_submitted() else 200
    user = current_user._get_current_object()
    if accounts.authenticate(user.email, form.current_password.data) is None:
        form.current_password.errors.append(WRONG_CURRENT_PASSWORD)
        return render_template("auth/password.html", form=form), 403
    if form.new_password.data == form.current_password.data:
        form.new_password.errors.append("Choose a password different from the current one.")
        return render_template("auth/password.html", form=form), 400
    try:
        accounts.change_password(user, form.new_password.data)
        db.session.commit()
    except ServiceError as error:
        db.session.rollback()
        form.new_password.errors.append(error.message)
        return render_template("auth/password.html", form=form), error.status
    # The login cookie names the session_version, which just changed: sign this browser
    # in again, in a fresh session, so that only it carries the new version.
    session.clear()
    login_user(user)
    flash("Password changed. Other browsers and API tokens were signed out.", "success")
    return redirect(url_for("shop.catalogue"))
