"""Users: accounts and their coins; coins change only through the ledger service."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, request
from flask_admin import expose
from flask_admin.form import BaseForm
from flask_login import current_user
from wtforms import BooleanField, IntegerField, SelectChoice, SelectField, StringField
from wtforms.validators import DataRequired, InputRequired, Length

from vpsshop.admin.access import (
    LinkButtonRowAction,
    PostRowAction,
    ReadOnlyModelView,
    back_to_list,
    get_or_404,
)
from vpsshop.errors import ServiceError
from vpsshop.extensions import db
from vpsshop.models import User
from vpsshop.services import activity, ledger, suspension
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


class SuspendForm(BaseForm):
    reason = StringField(
        "Reason (the user is shown it)", validators=[DataRequired(), Length(max=500)]
    )
    stop_sessions = BooleanField("Also stop this user's running servers now")


def _suspended_formatter(view: Any, context: Any, model: User, name: str) -> str:
    return f"yes: {model.suspended_reason}" if model.is_suspended else ""


class UserView(ReadOnlyModelView):
    """Accounts, read-only, with "Adjust coins", "Activity" and suspension per user."""

    named_filter_urls = True
    column_list = ["email", "is_admin", "coins", "totp_enabled_at", "suspended_at", "created_at"]
    column_labels = {
        "is_admin": "Admin",
        "totp_enabled_at": "Two-factor since",
        "suspended_at": "Suspended",
    }
    column_formatters = {"suspended_at": _suspended_formatter}
    column_sortable_list = ["email", "is_admin", "coins", "created_at"]
    column_default_sort = ("created_at", True)
    column_searchable_list = ["email"]
    column_filters = ["is_admin"]
    column_extra_row_actions = [
        LinkButtonRowAction(".adjust_coins", "Adjust coins"),
        LinkButtonRowAction(".activity", "Activity"),
        LinkButtonRowAction(".suspend", "Suspend"),
        PostRowAction(
            ".unsuspend",
            "Unsuspend",
            confirm="Lift this suspension? The user can sign in again.",
            show=lambda user: user.is_suspended,
        ),
    ]

    @expose("/activity/")
    def activity(self) -> Any:
        """One user's activity log, newest first, a page at a time."""
        user = get_or_404(User, request.args.get("id"))
        try:
            limit, before = activity.page_args(
                request.args.get("limit"), request.args.get("before")
            )
        except ServiceError as error:
            return self.render("admin/user_activity.html", user=user, events=[], error=error), 400
        events = activity.events_of(user.id, limit + 1, before)
        next_before = events[limit - 1].id if len(events) > limit else None
        return self.render(
            "admin/user_activity.html",
            user=user,
            events=events[:limit],
            next_before=next_before,
            error=None,
        )

    @expose("/suspend/", methods=["GET", "POST"])
    def suspend(self) -> Any:
        """Suspend with a reason; optionally stop the user's servers. Audited."""
        user = get_or_404(User, request.args.get("id"))
        form = SuspendForm(request.form if request.method == "POST" else None)
        status = 200
        if request.method == "POST":
            status = 400
            if form.validate():
                try:
                    stopped = suspension.suspend(
                        user,
                        form.reason.data,
                        actor_id=current_user.id,
                        stop_sessions=bool(form.stop_sessions.data),
                    )
                except ServiceError as error:
                    db.session.rollback()
                    form.reason.errors = [*form.reason.errors, error.message]
                    status = error.status
                else:
                    flash(
                        f"{user.email} is suspended; {len(stopped)} server(s) asked to stop.",
                        "success",
                    )
                    return redirect(self.get_url(".index_view", search=user.email))
        return self.render("admin/user_suspend.html", user=user, form=form), status

    @expose("/unsuspend/", methods=["POST"])
    def unsuspend(self) -> Any:
        user = get_or_404(User, request.form.get("id"))
        try:
            suspension.unsuspend(user, actor_id=current_user.id)
        except ServiceError as error:
            db.session.rollback()
            flash(error.message, "error")
        else:
            flash(f"{user.email} can sign in again.", "success")
        return back_to_list(self)

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
