"""Account forms (Flask-WTF, CSRF-protected)."""

from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, StringField, SubmitField
from wtforms.validators import DataRequired, EqualTo, Length

from vpsshop.services.accounts import EMAIL_MAX, PASSWORD_MAX, PASSWORD_MIN


def new_password_validators() -> list:
    """The rules a new password meets, with the messages the service uses too."""
    return [
        DataRequired(),
        Length(min=PASSWORD_MIN, message=f"Use at least {PASSWORD_MIN} characters."),
        Length(max=PASSWORD_MAX, message=f"Use at most {PASSWORD_MAX} characters."),
    ]


# What browsers and password managers fill in (WCAG 1.3.5, identify input purpose).
EMAIL = {"autocomplete": "email"}
CURRENT_PASSWORD = {"autocomplete": "current-password"}
NEW_PASSWORD = {"autocomplete": "new-password"}


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Length(max=EMAIL_MAX)], render_kw=EMAIL)
    password = PasswordField(
        "Password",
        validators=[DataRequired(), Length(max=PASSWORD_MAX)],
        render_kw=CURRENT_PASSWORD,
    )
    submit = SubmitField("Sign in")


class LoginCodeForm(FlaskForm):
    code = StringField(
        "Code from your authenticator app, or a recovery code",
        validators=[DataRequired(), Length(max=32)],
        render_kw={
            "autocomplete": "one-time-code",
            "inputmode": "text",
            "autocapitalize": "characters",
            "spellcheck": "false",
            "autofocus": True,
        },
    )
    submit = SubmitField("Verify and sign in")


class RegisterForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Length(max=EMAIL_MAX)], render_kw=EMAIL)
    password = PasswordField(
        "Password", validators=new_password_validators(), render_kw=NEW_PASSWORD
    )
    confirm = PasswordField(
        "Repeat the password",
        validators=[DataRequired(), EqualTo("password", message="The passwords differ.")],
        render_kw=NEW_PASSWORD,
    )
    submit = SubmitField("Create account")


class LogoutForm(FlaskForm):
    submit = SubmitField("Sign out")
