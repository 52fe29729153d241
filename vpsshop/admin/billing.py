"""Coin packs, payments (with settling an account on hold) and Stripe's webhook events."""

from __future__ import annotations

from typing import Any

from flask import flash, request
from flask_admin import expose
from flask_admin.contrib.sqla.filters import FilterEqual, FilterLike
from flask_admin.form import BaseForm
from flask_login import current_user
from markupsafe import Markup
from wtforms import BooleanField, IntegerField, StringField
from wtforms.validators import DataRequired, InputRequired, Length

from vpsshop.admin.access import (
    AdminModelView,
    ReadOnlyModelView,
    back_to_list,
    get_or_404,
    post_button,
    view_url,
)
from vpsshop.admin.filters import DayFromFilter, DayUntilFilter
from vpsshop.admin.formatters import status_badge, user_link
from vpsshop.errors import ServiceError
from vpsshop.extensions import db
from vpsshop.models import CoinPack, Payment, PaymentStatus, StripeEvent
from vpsshop.services import coin_packs, payments


class CoinPackForm(BaseForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=120)])
    coins = IntegerField("Coins", validators=[InputRequired()])
    price_minor = IntegerField(
        "Price (minor units)", validators=[InputRequired()], description="1000 = 10.00 EUR."
    )
    currency = StringField("Currency", default="eur", validators=[DataRequired(), Length(max=3)])
    is_active = BooleanField("On sale", default=True)


def _price(view: Any, context: Any, model: Any, name: str) -> str:
    amount = model.price_minor if isinstance(model, CoinPack) else model.amount_minor
    return coin_packs.format_price(amount, model.currency)


class CoinPackView(AdminModelView):
    """Create and edit coin packs through services/coin_packs.py (validated, audited)."""

    can_create = True
    can_edit = True
    column_list = ["name", "coins", "price_minor", "is_active", "created_at"]
    column_labels = {"price_minor": "Price", "is_active": "On sale"}
    column_formatters = {"price_minor": _price}
    column_sortable_list = ["name", "coins", "price_minor", "is_active"]
    column_default_sort = "price_minor"

    def get_create_form(self) -> type[BaseForm]:
        return CoinPackForm

    def get_edit_form(self) -> type[BaseForm]:
        return CoinPackForm

    def _fields(self, form: BaseForm) -> dict[str, Any]:
        return {name: getattr(form, name).data for name in coin_packs.PACK_FIELDS} | {
            "is_active": bool(form.is_active.data)
        }

    def _refuse(self, form: BaseForm, error: ServiceError) -> bool:
        db.session.rollback()
        field = getattr(form, error.code.removeprefix("invalid_"), None)
        if field is not None:
            field.errors = [*field.errors, error.message]
        flash(error.message, "error")
        return False

    def create_model(self, form: BaseForm) -> Any:
        try:
            pack = coin_packs.create_pack(self._fields(form), current_user.id)
            db.session.commit()
        except ServiceError as error:
            return self._refuse(form, error)
        return pack

    def update_model(self, form: BaseForm, model: CoinPack) -> bool:
        try:
            coin_packs.update_pack(model, self._fields(form), current_user.id)
            db.session.commit()
        except ServiceError as error:
            return self._refuse(form, error)
        return True


def _flag(view: Any, context: Any, model: Payment, name: str) -> Markup | str:
    if not model.flag:
        return ""
    return Markup('<span class="badge badge-warning" title="{}">needs a look</span>').format(
        model.flag
    )


def _unrecovered(view: Any, context: Any, model: Payment, name: str) -> Markup | str:
    if not model.coins_unrecovered:
        if model.coins_written_off:
            return Markup(
                '0 <span class="badge badge-secondary">settled, {} written off</span>'
            ).format(model.coins_written_off)
        return "0"
    # Two choices, each a POST with the CSRF token: take what the balance holds now, or
    # write everything off.
    url = view_url(context, ".settle")
    recover = post_button(
        url,
        "Settle: recover from balance",
        fields={"id": model.id, "recover": "1"},
        confirm="Take what the user's balance holds now and write off the rest?",
    )
    write_off = post_button(
        url,
        "Settle: write off",
        fields={"id": model.id, "recover": "0"},
        confirm="Write these coins off and lift the hold?",
    )
    return Markup('<span class="badge badge-danger">{} on hold</span> {} {}').format(
        model.coins_unrecovered, recover, write_off
    )


class PaymentView(ReadOnlyModelView):
    """Every payment, newest first; an account on hold is settled from here (audited)."""

    named_filter_urls = True
    column_list = [
        "created_at",
        "user.email",
        "coins",
        "amount_minor",
        "status",
        "flag",
        "coins_reversed",
        "coins_unrecovered",
        "provider_session_id",
        "payment_intent",
        "paid_at",
        "error",
    ]
    column_labels = {
        "user.email": "User",
        "amount_minor": "Amount",
        "coins_reversed": "Taken back",
        "coins_unrecovered": "Unrecovered",
        "provider_session_id": "Checkout session",
        "paid_at": "Paid",
    }
    column_formatters = {
        "user.email": user_link("user"),
        "amount_minor": _price,
        "status": status_badge,
        "flag": _flag,
        "coins_unrecovered": _unrecovered,
    }
    column_select_related_list = [Payment.user]
    column_sortable_list = ["created_at", "status", "coins"]
    column_default_sort = [("created_at", True), ("id", True)]
    column_searchable_list = ["user.email", "provider_session_id", "payment_intent"]
    column_filters = [
        FilterEqual(
            column=Payment.status,
            name="Status",
            options=[(status.value, status.value) for status in PaymentStatus],
        ),
        FilterLike(column="user.email", name="User"),
        FilterLike(column=Payment.flag, name="Flag"),
        DayFromFilter(column=Payment.created_at, name="Created"),
        DayUntilFilter(column=Payment.created_at, name="Created"),
    ]

    @expose("/settle/", methods=["POST"])
    def settle(self) -> Any:
        payment = get_or_404(Payment, request.form.get("id"))
        recover = request.form.get("recover") == "1"
        try:
            settled = payments.settle(payment.id, current_user.id, recover=recover)
        except ServiceError as error:
            db.session.rollback()
            flash(error.message, "error")
        else:
            flash(
                f"Payment {settled.id} settled: {settled.coins_unrecovered} coins written off.",
                "success",
            )
        return back_to_list(self)


class StripeEventView(ReadOnlyModelView):
    """Every verified webhook delivery: event id, type and what it did."""

    named_filter_urls = True
    column_list = ["received_at", "event_id", "type", "outcome", "detail", "payment_id"]
    column_sortable_list = ["received_at", "type", "outcome"]
    column_default_sort = [("received_at", True), ("id", True)]
    column_searchable_list = ["event_id"]
    column_filters = [
        FilterLike(column=StripeEvent.type, name="Type"),
        FilterLike(column=StripeEvent.outcome, name="Outcome"),
        DayFromFilter(column=StripeEvent.received_at, name="Received"),
        DayUntilFilter(column=StripeEvent.received_at, name="Received"),
    ]
