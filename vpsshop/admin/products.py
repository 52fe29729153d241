"""Products: what is on sale, on which workers, and whether it can be bought now."""

from __future__ import annotations

from typing import Any

from flask import flash, url_for
from flask_admin.contrib.sqla.fields import QuerySelectMultipleField
from flask_admin.form import BaseForm
from flask_login import current_user
from markupsafe import Markup, escape
from wtforms import BooleanField, Choice, IntegerField, SelectChoice, SelectField, StringField
from wtforms.validators import DataRequired, InputRequired, Length, Optional

from vpsshop.admin.access import AdminModelView
from vpsshop.errors import ServiceError
from vpsshop.extensions import db
from vpsshop.models import VpsProduct, Worker
from vpsshop.models.product import PROVISION_ACTIONS
from vpsshop.services import products as product_service
from vpsshop.services import waitlist as waitlist_service
from vpsshop.services import workers as worker_service

FORM_FIELDS = (
    "name",
    "price_coins",
    "provision_action",
    "duration_minutes",
    "is_active",
    *product_service.EXTENSION_FIELDS,
)


def _all_workers() -> Any:
    return db.session.query(Worker).order_by(Worker.name)


class WorkerMultiSelect(QuerySelectMultipleField):
    """Flask-Admin's multi-select of rows, yielding WTForms 3.3 ``Choice`` objects."""

    def iter_choices(self) -> Any:
        # The field's public query_factory/get_pk/get_label, one query per render.
        selected = self.data
        for obj in self.query_factory():
            yield Choice(str(self.get_pk(obj)), self.get_label(obj), obj in selected, {})


class ProductForm(BaseForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=100)])
    price_coins = IntegerField("Price (coins)", validators=[InputRequired()])
    provision_action = SelectField(
        "Provision action",
        choices=[SelectChoice(key, label) for key, label in PROVISION_ACTIONS.items()],
        coerce=int,
    )
    duration_minutes = IntegerField(
        "Duration (minutes)",
        validators=[Optional()],
        description="Empty: the VM lives until the user deletes it.",
    )
    is_active = BooleanField("On sale", default=True)
    extend_minutes = IntegerField(
        "Extension (minutes)",
        validators=[Optional()],
        description="Minutes a buyer can add to a running server at a time. Empty: no extensions.",
    )
    extend_price_coins = IntegerField(
        "Extension price (coins)",
        validators=[Optional()],
        description="What one extension costs; required when extensions are on.",
    )
    max_total_minutes = IntegerField(
        "Longest total run (minutes)",
        validators=[Optional()],
        description="A server never runs longer than this, extensions included. Empty: no cap.",
    )
    workers = WorkerMultiSelect(
        "Workers", query_factory=_all_workers, get_label="name", allow_blank=True
    )


def _action_formatter(view: Any, context: Any, model: VpsProduct, name: str) -> str:
    return model.os_name


def _workers_formatter(view: Any, context: Any, model: VpsProduct, name: str) -> str:
    return ", ".join(sorted(worker.name for worker in model.workers)) or "—"


def _available_formatter(view: Any, context: Any, model: VpsProduct, name: str) -> Markup:
    if worker_service.product_available(model):
        return Markup('<span class="badge badge-success">available</span>')
    return Markup('<span class="badge badge-secondary">no free slot</span>')


def _extension_formatter(view: Any, context: Any, model: VpsProduct, name: str) -> str:
    if model.extend_minutes is None:
        return "—"
    cap = f", max {model.max_total_minutes} min" if model.max_total_minutes else ""
    return f"+{model.extend_minutes} min for {model.extend_price_coins}{cap}"


def _waitlist_formatter(view: Any, context: Any, model: VpsProduct, name: str) -> Markup:
    # The queue of this product, in line order, in the waitlist view.
    count = waitlist_service.waiting_counts([model.id])[model.id]
    url = url_for(
        "waitlist.index_view", flt1_product_contains=model.name, flt2_status_equals="waiting"
    )
    return Markup(f'<a href="{escape(url)}">{count} waiting</a>')


class ProductView(AdminModelView):
    """Create and edit products through services/products.py (validated, audited)."""

    can_create = True
    can_edit = True
    named_filter_urls = True
    column_list = [
        "name",
        "price_coins",
        "provision_action",
        "duration_minutes",
        "is_active",
        "workers",
        "availability",
        "extend_minutes",
        "waitlist",
    ]
    column_labels = {
        "price_coins": "Price",
        "provision_action": "Action",
        "duration_minutes": "Minutes",
        "is_active": "On sale",
        "extend_minutes": "Extension",
        "waitlist": "Waiting",
    }
    column_sortable_list = ["name", "price_coins", "provision_action", "is_active"]
    column_default_sort = "name"
    column_searchable_list = ["name"]
    column_filters = ["is_active", "provision_action"]
    column_formatters = {
        "provision_action": _action_formatter,
        "workers": _workers_formatter,
        "availability": _available_formatter,
        "extend_minutes": _extension_formatter,
        "waitlist": _waitlist_formatter,
    }

    def get_create_form(self) -> type[BaseForm]:
        return ProductForm

    def get_edit_form(self) -> type[BaseForm]:
        return ProductForm

    def _refuse(self, form: BaseForm, error: ServiceError) -> bool:
        db.session.rollback()
        field = error.code.removeprefix("invalid_")
        if field == "unknown_worker" or field == "worker_ids":
            field = "workers"
        if hasattr(form, field):
            getattr(form, field).errors = [*getattr(form, field).errors, error.message]
        flash(error.message, "error")
        return False

    def create_model(self, form: BaseForm) -> Any:
        try:
            product = product_service.create_product(
                form.name.data,
                form.price_coins.data,
                form.provision_action.data,
                duration_minutes=form.duration_minutes.data,
                is_active=bool(form.is_active.data),
                worker_ids=[worker.id for worker in form.workers.data or []],
                **{field: getattr(form, field).data for field in product_service.EXTENSION_FIELDS},
                actor_id=current_user.id,
            )
            db.session.commit()
        except ServiceError as error:
            return self._refuse(form, error)
        return product

    def update_model(self, form: BaseForm, model: VpsProduct) -> bool:
        changes: dict[str, Any] = {field: getattr(form, field).data for field in FORM_FIELDS}
        changes["is_active"] = bool(changes["is_active"])
        changes["worker_ids"] = [worker.id for worker in form.workers.data or []]
        try:
            product_service.update_product(model, changes, actor_id=current_user.id)
            db.session.commit()
        except ServiceError as error:
            return self._refuse(form, error)
        return True
