"""Account forms (Flask-WTF, CSRF-protected)."""

from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, SubmitField
from wtforms.validators import DataRequired, EqualTo, Length

from vpsshop.services.accounts import EMAIL_MAX, PASSWORD_MAX, PASSWORD_MIN


def new_password_validators() -> list:
    """The rules a new password meets, with the messages the service uses too."""
    return [
        DataRequired(),
        Length(min=PASSWORD_MIN, message=f"Use at least {PASSWORD_MIN} characters."),
        Length(max=PASSWORD_MAX, message=f"Use at most {PASSWORD_MAX} characters."),
    ]


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Length(max=EMAIL_MAX)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=PASSWORD_MAX)])
    submit = SubmitField("Sign in")


class RegisterForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Length(max=EMAIL_MAX)])
    password = PasswordField("Password", validators=new_password_validators())
    confirm = PasswordField(
        "Repeat the password",
        validators=[DataRequired(), EqualTo("password", message="The passwords differ.")],
    )
    submit = SubmitField("Create account")


class LogoutForm(FlaskForm):
    submit = SubmitField("Sign out")
