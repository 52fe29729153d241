"""Routes of the mail pages: forgot and reset the password, confirm the address,
notification settings and the unsubscribe link."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from vpsshop.errors import ServiceError
from vpsshop.extensions import csrf, db
from vpsshop.mail import bp
from vpsshop.mail.forms import (
    ConfirmForm,
    ForgotPasswordForm,
    NotificationSettingsForm,
    ResetPasswordForm,
)
from vpsshop.models import User
from vpsshop.services import email_verification, mail_links, notices, password_reset


@bp.route("/forgot", methods=["GET", "POST"])
def forgot_password():
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        try:
            password_reset.ask_for_reset(form.email.data)
        except ServiceError as error:
            form.email.errors.append(error.message)
            return render_template("mail/forgot.html", form=form), error.status
        return render_template("mail/forgot_sent.html", message=password_reset.RESET_ANSWER)
    status = 400 if request.method == "POST" else 200
    return render_template("mail/forgot.html", form=form), status


def _invalid_link(message: str):
    return render_template("mail/invalid_link.html", message=message), 400


@bp.route("/reset/<token>", methods=["GET", "POST"])
def reset_password(token: str):
    form = ResetPasswordForm()
    if request.method == "GET":
        if not password_reset.token_is_usable(token):
            return _invalid_link(password_reset.INVALID_MESSAGE)
        return render_template("mail/reset.html", form=form)
    if not form.validate_on_submit():
        return render_template("mail/reset.html", form=form), 400
    try:
        password_reset.reset_password(token, form.password.data)
    except password_reset.InvalidResetToken as error:
        db.session.rollback()
        return _invalid_link(error.message)
    except ServiceError as error:
        db.session.rollback()
        form.password.errors.append(error.message)
        return render_template("mail/reset.html", form=form), error.status
    flash("Password changed. Every other sign-in and API token was ended; sign in.", "success")
    return redirect(url_for("auth.login"))


@bp.route("/verify-email/<token>", methods=["GET", "POST"])
def verify_email(token: str):
    """GET shows a button, POST confirms: a link preview or a mail scanner changes nothing."""
    form = ConfirmForm()
    if request.method == "GET" or not form.validate_on_submit():
        if mail_links.read_verification_token(token) is None:
            return _invalid_link("This confirmation link is not valid or has expired.")
        return render_template(
            "mail/verify.html", form=form
        ), 200 if request.method == "GET" else 400
    try:
        email_verification.confirm(token)
    except ServiceError as error:
        return _invalid_link(error.message)
    flash("Thanks: your email address is confirmed.", "success")
    return redirect(url_for("shop.catalogue"))


@bp.route("/account/verify-email", methods=["POST"])
@login_required
def resend_verification():
    form = ConfirmForm()
    if form.validate_on_submit():
        user = current_user._get_current_object()
        if email_verification.send_link(user):
            db.session.commit()
            flash(f"We sent a confirmation link to {user.email}.", "success")
        else:
            flash("Your email address is already confirmed.", "info")
    return redirect(url_for("mail.notification_settings"))


@bp.route("/account/notifications", methods=["GET", "POST"])
@login_required
def notification_settings():
    user = current_user._get_current_object()
    form = NotificationSettingsForm(obj=user)
    if form.validate_on_submit():
        user.notify_servers = form.notify_servers.data
        user.notify_coins = form.notify_coins.data
        db.session.commit()
        flash("Notification settings saved.", "success")
        return redirect(url_for("mail.notification_settings"))
    return render_template(
        "mail/settings.html",
        form=form,
        resend_form=ConfirmForm(),
        needs_verification=user.email_verified_at is None,
    ), 400 if form.is_submitted() else 200


@bp.route("/unsubscribe/<token>", methods=["GET", "POST"])
@csrf.exempt  # the signed token is the authority; mail clients POST here (RFC 8058)
def unsubscribe(token: str):
    found = mail_links.read_unsubscribe_token(token)
    user = db.session.get(User, found[0]) if found else None
    category = found[1] if found else None
    if user is None or category not in notices.CATEGORIES:
        return _invalid_link("This unsubscribe link is not valid.")
    name = notices.CATEGORIES[category]
    if request.method == "GET":
        return render_template("mail/unsubscribe.html", name=name, email=user.email, done=False)
    setattr(user, f"notify_{category}", False)
    db.session.commit()
    return render_template("mail/unsubscribe.html", name=name, email=user.email, done=True)
