"""Forms of the buyer's pages (Flask-WTF, CSRF-protected)."""

from __future__ import annotations

import secrets

from flask_wtf import FlaskForm
from wtforms import HiddenField, SubmitField
from wtforms.validators import DataRequired, Regexp

PURCHASE_KEY_PATTERN = r"^[A-Za-z0-9_-]{20,64}$"


def new_purchase_key() -> str:
    """A fresh one-time key for one confirmation page (the purchase's idempotency key)."""
    return secrets.token_urlsafe(24)


class PurchaseForm(FlaskForm):
    # Rendered once per confirmation page: a double click or a resubmit of that page
    # sends the same key, and the purchase service charges only once per key.
    purchase_key = HiddenField(
        validators=[DataRequired(), Regexp(PURCHASE_KEY_PATTERN, message="Bad purchase token.")]
    )
    submit = SubmitField("Pay and create the server")


class DeleteSessionForm(FlaskForm):
    submit = SubmitField("Yes, delete this server")


class ExtendSessionForm(FlaskForm):
    # One key per confirmation page, as for a purchase: a resubmit charges once.
    extend_key = HiddenField(
        validators=[DataRequired(), Regexp(PURCHASE_KEY_PATTERN, message="Bad extension token.")]
    )
    submit = SubmitField("Pay and extend")


class WaitlistForm(FlaskForm):
    """Join or leave a waitlist: the CSRF token is all it carries."""
