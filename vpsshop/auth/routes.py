"""Routes of the account pages."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user

from vpsshop import pending_login
from vpsshop.auth import bp
from vpsshop.auth.forms import LoginCodeForm, LoginForm, LogoutForm, RegisterForm
from vpsshop.auth.safe_redirect import safe_next_path
from vpsshop.errors import ServiceError
from vpsshop.extensions import db
from vpsshop.services import accounts, activity, email_verification, two_factor
from vpsshop.services.activity import ActivityKind

GENERIC_LOGIN_ERROR = "Wrong email or password."
# The one answer to a sign-up, whether the address was new or had an account already:
# telling them apart would tell anyone which addresses have accounts.
SIGN_UP_DONE = (
    "Thanks for signing up. Sign in with your email and password. If this address "
    "already had an account, that account and its password are unchanged."
)


def home_of(user) -> str:
    """Where a sign-in lands without a ``next``: the panel for admins, the shop otherwise."""
    return url_for("admin.index") if user.is_admin else url_for("shop.catalogue")


def suspended_message(user) -> str:
    return f"This account is suspended: {user.suspended_reason}. Contact the shop's operators."


def _start_session(user, next_path: str | None, notice: str | None = None):
    """Sign ``user`` in (both steps done), or show why a suspended account cannot."""
    if user.is_suspended:
        session.clear()
        flash(suspended_message(user), "error")
        return render_template("auth/login.html", form=LoginForm()), 403
    # A fresh session at login: nothing planted before sign-in survives it.
    session.clear()
    login_user(user)
    activity.record(user.id, ActivityKind.SIGN_IN, "web")
    db.session.commit()
    flash("Signed in.", "success")
    if notice:
        flash(notice, "info")
    return redirect(next_path or home_of(user))


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Step one: email and password. An account with two-factor sign-in always goes on
    to step two, the password right or not (step two refuses a wrong one like a wrong
    code), so this step never tells whether the password was right; nothing signs in
    before step two."""
    next_path = safe_next_path(request.args.get("next"))
    if current_user.is_authenticated:
        return redirect(next_path or home_of(current_user))
    if request.method == "GET":
        pending_login.clear()  # "start over" from the code step
    form = LoginForm()
    if form.validate_on_submit():
        user = accounts.authenticate(form.email.data, form.password.data)
        if user is None:
            accounts.record_failed_sign_in(form.email.data, "wrong email or password")
            tried = accounts.find_user(form.email.data)
            if tried is not None and tried.has_2fa:
                pending_login.start(tried, next_path, password_ok=False)
                return redirect(url_for("auth.login_code"))
            flash(GENERIC_LOGIN_ERROR, "error")
            return render_template("auth/login.html", form=form), 401
        if user.has_2fa:
            pending_login.start(user, next_path, password_ok=True)
            return redirect(url_for("auth.login_code"))
        return _start_session(user, next_path)
    status = 400 if request.method == "POST" else 200
    return render_template("auth/login.html", form=form), status


WRONG_CODE = "That code is not right, or it was used already. Try the next one."
# Step two cannot say which of the two was wrong: that would answer step one's question.
WRONG_SIGN_IN = "The password or the code was not right. Check both and try again."


@bp.route("/login/code", methods=["GET", "POST"])
def login_code():
    """Step two: the authenticator's code (or a recovery code) of the account whose
    password was right a few minutes ago in this browser."""
    if current_user.is_authenticated:
        return redirect(home_of(current_user))
    user = pending_login.pending_user()
    if user is None:
        pending_login.clear()
        if request.method == "POST":
            flash("The sign-in took too long or changed. Start again.", "info")
        return redirect(url_for("auth.login"))
    form = LoginCodeForm()
    if form.validate_on_submit():
        try:
            if not pending_login.password_was_right(user):
                # Answered exactly like a wrong code; the code is not even looked at.
                raise two_factor.WrongCode(WRONG_CODE)
            used = two_factor.check_code(user, form.code.data)
        except two_factor.WrongCode:
            db.session.rollback()
            accounts.record_failed_sign_in(user.email, "wrong password or two-factor code")
            flash(WRONG_SIGN_IN, "error")
            form.code.errors.append(WRONG_CODE)
            return render_template("auth/login_code.html", form=form), 401
        next_path = safe_next_path(pending_login.pending_next())
        notice = None
        if used == "recovery":
            notice = (
                f"Signed in with a recovery code: {two_factor.remaining_recovery_codes(user)} "
                "left. Each works once."
            )
        return _start_session(user, next_path, notice)
    status = 400 if request.method == "POST" else 200
    return render_template("auth/login_code.html", form=form), status


@bp.route("/register", methods=["GET", "POST"])
def register():
    if current_user.is_authenticated:
        return redirect(url_for("shop.catalogue"))
    form = RegisterForm()
    if form.validate_on_submit():
        try:
            user = accounts.sign_up(form.email.data, form.password.data)
            if user is not None and email_verification.is_required():
                email_verification.send_link(user)
            db.session.commit()
        except ServiceError as error:
            db.session.rollback()
            field = form.password if error.code == "invalid_password" else form.email
            field.errors.append(error.message)
            return render_template("auth/register.html", form=form), error.status
        # No session either way: a new account signs in like any other, so the answer
        # (page, status, cookies) is the same when the address was taken.
        flash(SIGN_UP_DONE, "success")
        return redirect(url_for("auth.login"))
    status = 400 if request.method == "POST" else 200
    return render_template("auth/register.html", form=form), status


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    form = LogoutForm()
    if not form.validate_on_submit():
        return redirect(url_for("shop.catalogue"))
    logout_user()
    session.clear()
    flash("Signed out.", "info")
    return redirect(url_for("auth.login"))
