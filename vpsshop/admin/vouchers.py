"""Vouchers in the admin panel: create one or a batch, deactivate, see redemptions, CSV."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, request, url_for
from flask_admin import expose
from flask_admin.contrib.sqla.filters import FilterEqual, FilterLike
from flask_admin.form import BaseForm
from flask_login import current_user
from markupsafe import Markup, escape
from wtforms import DateTimeLocalField, IntegerField, StringField
from wtforms.validators import InputRequired, Length, Optional

from vpsshop.admin.access import (
    AdminModelView,
    PostRowAction,
    ReadOnlyModelView,
    back_to_list,
    get_or_404,
)
from vpsshop.admin.filters import DayFromFilter, DayUntilFilter, UuidEqualFilter
from vpsshop.admin.formatters import user_link
from vpsshop.admin.ledger import export_text
from vpsshop.errors import ServiceError
from vpsshop.extensions import db
from vpsshop.models import Voucher, VoucherRedemption
from vpsshop.models.types import utcnow
from vpsshop.services import vouchers as voucher_service
from vpsshop.wording import plural

# A refusal of the voucher service shown under the field it is about.
_FIELD_OF_ERROR = {
    "invalid_coins": "coins",
    "invalid_max_redemptions": "max_redemptions",
    "invalid_count": "count",
    "invalid_code": "code",
    "voucher_code_taken": "code",
    "invalid_expires_at": "expires_at",
    "invalid_note": "note",
}
BATCH_FILTER = UuidEqualFilter(column=Voucher.batch_id, name="Batch")
VOUCHER_CODE_FILTER = FilterEqual(column="voucher.code", name="Voucher")
# The redemption list's "Voucher equals" filter in a URL (named_filter_urls).
VOUCHER_FILTER_ARG = "flt0_voucher_equals"


class CreateVouchersForm(BaseForm):
    coins = IntegerField("Coins per redemption", validators=[InputRequired()])
    max_redemptions = IntegerField(
        "Redemptions per voucher",
        default=1,
        validators=[InputRequired()],
        description="1: a single-use code. More: one code many people may each redeem once.",
    )
    count = IntegerField(
        "How many vouchers",
        default=1,
        validators=[InputRequired()],
        description=f"Up to {voucher_service.MAX_BATCH:,}, each with its own random code.",
    )
    code = StringField(
        "Code (optional)",
        validators=[Optional(), Length(max=64)],
        description="Leave empty for random XXXX-XXXX-XXXX codes; a chosen code makes one voucher.",
    )
    expires_at = DateTimeLocalField(
        "Expires at (UTC, optional)",
        format=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"],
        validators=[Optional()],
    )
    note = StringField("Note (optional)", validators=[Optional(), Length(max=500)])


def is_usable(voucher: Voucher) -> bool:
    """Active, not expired and not used up."""
    expired = voucher.expires_at is not None and voucher.expires_at <= utcnow()
    return voucher.is_active and not expired and voucher.redemptions < voucher.max_redemptions


def _state(view: Any, context: Any, model: Voucher, name: str) -> Markup:
    if not model.is_active:
        return Markup('<span class="badge badge-secondary">deactivated</span>')
    if model.expires_at is not None and model.expires_at <= utcnow():
        return Markup('<span class="badge badge-secondary">expired</span>')
    if model.redemptions >= model.max_redemptions:
        return Markup('<span class="badge badge-info">used up</span>')
    return Markup('<span class="badge badge-success">active</span>')


def _redemptions(view: Any, context: Any, model: Voucher, name: str) -> Markup:
    text = f"{model.redemptions} / {model.max_redemptions}"
    if not model.redemptions:
        return escape(text)
    href = url_for("voucher_redemptions.index_view", **{VOUCHER_FILTER_ARG: model.code})
    return Markup(f'<a href="{escape(href)}" title="Who redeemed it">{escape(text)}</a>')


def _code(view: Any, context: Any, model: Voucher, name: str) -> Markup:
    return Markup(f'<code data-testid="voucher-code">{escape(model.code)}</code>')


class VoucherView(AdminModelView):
    """Every voucher, newest first; created through services/vouchers.py (audited)."""

    can_create = True
    can_edit = False
    named_filter_urls = True
    column_list = [
        "code",
        "coins",
        "redemptions",
        "expires_at",
        "state",
        "note",
        "created_by.email",
        "created_at",
    ]
    column_labels = {
        "redemptions": "Redeemed",
        "is_active": "Active",
        "expires_at": "Expires",
        "created_by.email": "Created by",
        "created_at": "Created",
    }
    column_select_related_list = [Voucher.created_by]
    column_sortable_list = ["code", "coins", "redemptions", "expires_at", "created_at"]
    column_default_sort = [("created_at", True), ("id", False)]
    column_searchable_list = ["code", "note"]
    column_filters = [
        "is_active",
        BATCH_FILTER,
        FilterLike(column=Voucher.note, name="Note"),
        DayFromFilter(column=Voucher.created_at, name="Created"),
        DayUntilFilter(column=Voucher.created_at, name="Created"),
    ]
    column_formatters = {
        "code": _code,
        "redemptions": _redemptions,
        "state": _state,
        "created_by.email": user_link("created_by"),
    }
    column_extra_row_actions = [
        PostRowAction(
            ".deactivate",
            "Deactivate",
            show=lambda voucher: voucher.is_active,
            confirm="Deactivate this voucher? Nobody can redeem it afterwards.",
        )
    ]
    can_export = True
    export_types = ["csv"]
    export_max_rows = 100_000
    column_export_list = [
        "code",
        "coins",
        "max_redemptions",
        "redemptions",
        "expires_at",
        "is_active",
        "note",
        "batch_id",
        "created_at",
    ]
    column_formatters_export = {"note": export_text("note")}

    def batch_url(self, batch_id: Any) -> str:
        """The list of one batch (its Export CSV exports just that batch)."""
        index = self.column_filters.index(BATCH_FILTER)
        arg = f"flt0_{self.get_filter_arg(index, BATCH_FILTER)}"
        return self.get_url(".index_view", **{arg: str(batch_id)})

    @expose("/new/", methods=["GET", "POST"])
    def create_view(self) -> Any:
        """One voucher or a batch of N from one form; refusals shown under their field."""
        form = CreateVouchersForm(request.form if request.method == "POST" else None)
        status = 200
        if request.method == "POST":
            status = 400
            if form.validate():
                try:
                    created = voucher_service.create_vouchers(
                        coins=form.coins.data,
                        max_redemptions=form.max_redemptions.data,
                        count=form.count.data,
                        code=form.code.data or None,
                        expires_at=form.expires_at.data,
                        note=form.note.data,
                        actor_id=current_user.id,
                    )
                    db.session.commit()
                except ServiceError as error:
                    db.session.rollback()
                    field = form[_FIELD_OF_ERROR.get(error.code, "coins")]
                    field.errors = [*field.errors, error.message]
                    status = error.status
                else:
                    flash(f"Created {plural(len(created), 'voucher')}.", "success")
                    return redirect(self.batch_url(created[0].batch_id))
        return self.render("admin/voucher_create.html", form=form), status

    @expose("/deactivate/", methods=["POST"])
    def deactivate(self) -> Any:
        voucher = get_or_404(Voucher, request.form.get("id"))
        if voucher_service.deactivate(voucher, actor_id=current_user.id):
            db.session.commit()
            flash(f"Voucher {voucher.code} deactivated.", "success")
        else:
            flash(f"Voucher {voucher.code} was deactivated already.", "info")
        return back_to_list(self)


class RedemptionView(ReadOnlyModelView):
    """Who redeemed which voucher, when, and the ledger row that credited it."""

    named_filter_urls = True
    column_list = ["created_at", "voucher.code", "user.email", "transaction.delta"]
    column_labels = {
        "created_at": "Redeemed",
        "voucher.code": "Voucher",
        "user.email": "User",
        "transaction.delta": "Coins",
    }
    column_select_related_list = [
        VoucherRedemption.voucher,
        VoucherRedemption.user,
        VoucherRedemption.transaction,
    ]
    column_sortable_list = ["created_at"]
    column_default_sort = [("created_at", True), ("id", True)]
    column_searchable_list = ["user.email", "voucher.code"]
    column_filters = [
        VOUCHER_CODE_FILTER,
        FilterLike(column="user.email", name="User email"),
        DayFromFilter(column=VoucherRedemption.created_at, name="Redeemed"),
        DayUntilFilter(column=VoucherRedemption.created_at, name="Redeemed"),
    ]
    column_formatters = {"user.email": user_link("user")}
    can_export = True
    export_types = ["csv"]
    export_max_rows = 100_000
    column_formatters_export = {
        "voucher.code": export_text("voucher.code"),
        "user.email": export_text("user.email"),
        "transaction.delta": export_text("transaction.delta"),
    }
