"""Routes of the account pages."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user

from vpsshop.auth import bp
from vpsshop.auth.forms import LoginForm, LogoutForm, RegisterForm
from vpsshop.auth.safe_redirect import safe_next_path
from vpsshop.errors import ServiceError
from vpsshop.extensions import db
from vpsshop.services import accounts, email_verification

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


def _start_session(user) -> None:
    # A fresh session at login: nothing planted before sign-in survives it.
    session.clear()
    login_user(user)


@bp.route("/login", methods=["GET", "POST"])
def login():
    next_path = safe_next_path(request.args.get("next"))
    if current_user.is_authenticated:
        return redirect(next_path or home_of(current_user))
    form = LoginForm()
    if form.validate_on_submit():
        user = accounts.authenticate(form.email.data, form.password.data)
        if user is None:
            flash(GENERIC_LOGIN_ERROR, "error")
            return render_template("auth/login.html", form=form), 401
        _start_session(user)
        flash("Signed in.", "success")
        return redirect(next_path or home_of(user))
    status = 400 if request.method == "POST" else 200
    return render_template("auth/login.html", form=form), status


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
