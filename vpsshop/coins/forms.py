"""Forms of the Coins page (Flask-WTF, CSRF-protected)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import StringField, SubmitField
from wtforms.validators import DataRequired, Length


class RedeemVoucherForm(FlaskForm):
    # Long enough for any stored code with spaces around it; the service says the rest.
    code = StringField(
        "Voucher code",
        validators=[DataRequired("Enter a voucher code."), Length(max=64)],
        render_kw={"autocomplete": "off", "spellcheck": "false", "placeholder": "XXXX-XXXX-XXXX"},
    )
    submit = SubmitField("Redeem")
