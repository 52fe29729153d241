"""Forms of the mail pages (Flask-WTF, CSRF-protected)."""

from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField, SubmitField
from wtforms.validators import DataRequired, EqualTo, Length

from vpsshop.auth.forms import EMAIL, NEW_PASSWORD, new_password_validators
from vpsshop.services.accounts import EMAIL_MAX


class ForgotPasswordForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Length(max=EMAIL_MAX)], render_kw=EMAIL)
    submit = SubmitField("Send me a reset link")


class ResetPasswordForm(FlaskForm):
    password = PasswordField(
        "New password", validators=new_password_validators(), render_kw=NEW_PASSWORD
    )
    confirm = PasswordField(
        "Repeat the new password",
        validators=[DataRequired(), EqualTo("password", message="The passwords differ.")],
        render_kw=NEW_PASSWORD,
    )
    submit = SubmitField("Set the new password")


class NotificationSettingsForm(FlaskForm):
    notify_servers = BooleanField("Mail me about my servers (ready, failed, ending, ended)")
    notify_coins = BooleanField("Mail me when coins are added to my account")
    submit = SubmitField("Save")


class ConfirmForm(FlaskForm):
    """One button (confirm an address, unsubscribe, send the link again)."""

    submit = SubmitField("Confirm")
