"""Forms of the account pages (Flask-WTF, CSRF-protected)."""

from flask_wtf import FlaskForm
from wtforms import PasswordField, SelectChoice, SelectField, StringField, SubmitField
from wtforms.validators import DataRequired, Length

from vpsshop.auth.forms import CURRENT_PASSWORD
from vpsshop.services.accounts import PASSWORD_MAX
from vpsshop.services.tokens import EXPIRY_DAYS, NAME_MAX
from vpsshop.wording import plural

ONE_TIME_CODE = {"autocomplete": "one-time-code", "spellcheck": "false"}


def _password(label: str = "Your password") -> PasswordField:
    return PasswordField(
        label, validators=[DataRequired(), Length(max=PASSWORD_MAX)], render_kw=CURRENT_PASSWORD
    )


def _code(label: str) -> StringField:
    return StringField(label, validators=[DataRequired(), Length(max=32)], render_kw=ONE_TIME_CODE)


class SetupForm(FlaskForm):
    password = _password()
    submit = SubmitField("Set up two-factor sign-in")


class EnableForm(FlaskForm):
    code = _code("The 6-digit code your app shows now")
    submit = SubmitField("Turn on two-factor sign-in")


class DisableForm(FlaskForm):
    password = _password()
    code = _code("A code from your app, or a recovery code")
    submit = SubmitField("Turn off two-factor sign-in")


class CreateTokenForm(FlaskForm):
    name = StringField(
        "Name (what the token is for)",
        validators=[DataRequired(), Length(max=NAME_MAX)],
        render_kw={"autocomplete": "off"},
    )
    expires = SelectField(
        "Expires",
        choices=[SelectChoice("", "Never (until revoked)")]
        + [SelectChoice(str(days), f"In {plural(days, 'day')}") for days in EXPIRY_DAYS],
        default="90",
    )
    submit = SubmitField("Create token")


class RevokeTokenForm(FlaskForm):
    submit = SubmitField("Revoke")
