"""Users: accounts and their coins; coins change only through the ledger service."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, request
from flask_admin import expose
from flask_admin.form import BaseForm
from flask_login import current_user
from wtforms import IntegerField, SelectChoice, SelectField, StringField
from wtforms.validators import DataRequired, InputRequired, Length

from vpsshop.admin.access import LinkButtonRowAction, ReadOnlyModelView, get_or_404
from vpsshop.errors import ServiceError
from vpsshop.extensions import db
from vpsshop.models import User
from vpsshop.services import ledger
from vpsshop.wording import coins

# A refusal from the ledger shown under the field it is about (the amount otherwise).
_FIELD_OF_ERROR = {"reason_required": "reason", "invalid_reason": "reason", "invalid_op": "op"}


class AdjustCoinsForm(BaseForm):
    op = SelectField(
        "Operation",
        choices=[
            SelectChoice("add", "Add coins"),
            SelectChoice("sub", "Take coins away"),
            SelectChoice("set", "Set the balance to"),
        ],
    )
    amount = IntegerField("Amount", validators=[InputRequired()])
    reason = StringField("Reason", validators=[DataRequired(), Length(max=500)])


class UserView(ReadOnlyModelView):
    """Accounts, read-only, with an "Adjust coins" form per user."""

    named_filter_urls = True
    column_list = ["email", "is_admin", "coins", "created_at"]
    column_labels = {"is_admin": "Admin"}
    column_sortable_list = ["email", "is_admin", "coins", "created_at"]
    column_default_sort = ("created_at", True)
    column_searchable_list = ["email"]
    column_filters = ["is_admin"]
    column_extra_row_actions = [LinkButtonRowAction(".adjust_coins", "Adjust coins")]

    @expose("/coins/", methods=["GET", "POST"])
    def adjust_coins(self) -> Any:
        """Add, take or set a user's coins through ``ledger.adjust``; refusals shown inline."""
        user = get_or_404(User, request.args.get("id"))
        form = AdjustCoinsForm(request.form if request.method == "POST" else None)
        status = 200
        if request.method == "POST":
            status = 400
            if form.validate():
                try:
                    entry = ledger.adjust(
                        user.id,
                        form.op.data,
                        form.amount.data,
                        reason=form.reason.data,
                        actor_id=current_user.id,
                    )
                    db.session.commit()
                except ServiceError as error:
                    db.session.rollback()
                    field = _FIELD_OF_ERROR.get(error.code, form.amount.name)
                    form[field].errors = [*form[field].errors, error.message]
                    status = error.status
                else:
                    flash(
                        f"{user.email}: {'+' if entry.delta > 0 else ''}{coins(entry.delta)}, "
                        f"balance {coins(entry.balance_after)}.",
                        "success",
                    )
                    return redirect(self.get_url(".index_view", search=user.email))
        db.session.refresh(user)
        return self.render("admin/user_coins.html", user=user, form=form), status
