"""Workers: the registry of nodes, their health, and the node's cloud-account login."""

from __future__ import annotations

import json
from typing import Any

from flask import flash, g, request
from flask_admin import expose
from flask_admin.actions import action
from flask_admin.form import BaseForm
from flask_login import current_user
from markupsafe import Markup, escape
from sqlalchemy import select
from wtforms import BooleanField, IntegerField, PasswordField, StringField
from wtforms.validators import DataRequired, InputRequired, Length, Regexp

from vpsshop.admin.access import (
    AdminModelView,
    LinkButtonRowAction,
    PostRowAction,
    back_to_list,
    get_or_404,
)
from vpsshop.admin.formatters import status_badge
from vpsshop.errors import ServiceError
from vpsshop.extensions import db
from vpsshop.models import VpsProduct, Worker, WorkerStatus, vps_product_workers
from vpsshop.services import audit, node_client
from vpsshop.services import workers as worker_service

# The node's answer is shown to the admin; a runaway body is cut to keep the page sane.
MAX_ANSWER_CHARS = 4000


class WorkerForm(BaseForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=100)])
    base_url = StringField(
        "Base URL",
        validators=[DataRequired(), Length(max=500)],
        description="http(s)://host[:port][/path] of the node",
    )
    max_sessions = IntegerField("Max sessions", default=3, validators=[InputRequired()])
    # Write-only: PasswordField never renders a value, and no stored token is ever loaded.
    # Not the admin's own password: keep password managers from filling it in.
    token = PasswordField(
        "API token",
        description="Optional. Leave empty to keep the current token.",
        render_kw={"autocomplete": "new-password"},
    )


class WorkerEditForm(WorkerForm):
    clear_token = BooleanField("Remove the stored API token")


class CloudLoginForm(BaseForm):
    email = StringField(
        "Cloud account email",
        validators=[
            DataRequired(),
            Length(max=254),
            Regexp(r"^[^@\s]+@[^@\s]+$", message="Not an email."),
        ],
        render_kw={"autocomplete": "off"},
    )
    password = PasswordField(
        "Cloud account password",
        validators=[DataRequired()],
        render_kw={"autocomplete": "new-password"},
    )


def _page_extras() -> dict[str, Any]:
    return g.get("_worker_extras", {"active": {}, "products": {}})


def _sessions_formatter(view: Any, context: Any, model: Worker, name: str) -> str:
    active = _page_extras()["active"].get(model.id, 0)
    return f"{active} / {model.max_sessions}"


def _health_formatter(view: Any, context: Any, model: Worker, name: str) -> Markup:
    healthy = worker_service.is_healthy(model)
    label = "healthy" if healthy else f"unhealthy ({model.consecutive_failures} failures)"
    css = "success" if healthy else "danger"
    return Markup(f'<span class="badge badge-{css}">{escape(label)}</span>')


def _products_formatter(view: Any, context: Any, model: Worker, name: str) -> str:
    return ", ".join(_page_extras()["products"].get(model.id, [])) or "—"


def _is_active(worker: Worker) -> bool:
    return worker.status == WorkerStatus.ACTIVE


class WorkerView(AdminModelView):
    """List, register and edit workers; disable/enable/probe; forward a cloud login."""

    can_create = True
    can_edit = True
    named_filter_urls = True
    # Each row carries health, capacity and four action buttons: Flask-Admin's own default
    # of 20 rows keeps the page about as quick with 100 nodes as with 10
    # (bench/RESULTS.md, scaling); search and the status filter find a node directly.
    page_size = 20
    column_list = [
        "name",
        "base_url",
        "status",
        "health",
        "last_seen_at",
        "last_error",
        "sessions",
        "products",
    ]
    column_labels = {
        "sessions": "Active / max",
        "last_seen_at": "Last seen",
        "base_url": "Base URL",
        "last_error": "Last error",
    }
    column_sortable_list = ["name", "status", "last_seen_at"]
    column_default_sort = "name"
    column_searchable_list = ["name", "base_url"]
    column_filters = ["status"]
    column_formatters = {
        "status": status_badge,
        "sessions": _sessions_formatter,
        "health": _health_formatter,
        "products": _products_formatter,
    }
    # The token column never leaves the database through this view.
    column_exclude_list = ["token_encrypted"]
    form_excluded_columns = ["token_encrypted"]
    can_export = False
    column_extra_row_actions = [
        PostRowAction(".disable", "Disable", show=_is_active, confirm="Disable this worker?"),
        PostRowAction(".enable", "Enable", show=lambda worker: not _is_active(worker)),
        PostRowAction(".probe", "Probe now"),
        LinkButtonRowAction(".cloud_login", "Cloud login"),
    ]
    action_disallowed_list = ["delete"]

    def get_create_form(self) -> type[BaseForm]:
        return WorkerForm

    def get_edit_form(self) -> type[BaseForm]:
        return WorkerEditForm

    def get_list(self, *args: Any, **kwargs: Any) -> tuple[int | None, Any]:
        count, data = super().get_list(*args, **kwargs)
        if isinstance(data, list):
            # One query per page for the computed columns, not one per row.
            ids = [worker.id for worker in data]
            products: dict[Any, list[str]] = {}
            if ids:
                rows = db.session.execute(
                    select(vps_product_workers.c.worker_id, VpsProduct.name)
                    .join(VpsProduct, VpsProduct.id == vps_product_workers.c.product_id)
                    .where(vps_product_workers.c.worker_id.in_(ids))
                    .order_by(VpsProduct.name)
                ).all()
                for worker_id, product_name in rows:
                    products.setdefault(worker_id, []).append(product_name)
            g._worker_extras = {
                "active": worker_service.active_session_counts(ids) if ids else {},
                "products": products,
            }
        return count, data

    def _refuse(self, form: BaseForm, error: ServiceError) -> bool:
        db.session.rollback()
        # Show the refusal next to the field it is about, and as a flash.
        for field in ("base_url", "max_sessions", "token", "name"):
            if field in error.code and hasattr(form, field):
                getattr(form, field).errors = [*getattr(form, field).errors, error.message]
                break
        flash(error.message, "error")
        return False

    def create_model(self, form: BaseForm) -> Any:
        try:
            worker = worker_service.register_worker(
                form.name.data,
                form.base_url.data,
                max_sessions=form.max_sessions.data,
                token=form.token.data or None,
                actor_id=current_user.id,
            )
            db.session.commit()
        except ServiceError as error:
            return self._refuse(form, error)
        return worker

    def update_model(self, form: BaseForm, model: Worker) -> bool:
        changes: dict[str, Any] = {}
        for field in ("name", "base_url", "max_sessions"):
            if getattr(form, field).data != getattr(model, field):
                changes[field] = getattr(form, field).data
        if form.clear_token.data:
            changes["token"] = None
        elif form.token.data:
            changes["token"] = form.token.data
        if not changes:
            return True
        try:
            worker_service.update_worker(model, changes, actor_id=current_user.id)
            db.session.commit()
        except ServiceError as error:
            return self._refuse(form, error)
        return True

    def _set_status(self, workers: list[Worker], status: str) -> None:
        for worker in workers:
            worker_service.set_worker_status(worker, status, actor_id=current_user.id)
        db.session.commit()

    @expose("/disable/", methods=["POST"])
    def disable(self) -> Any:
        worker = get_or_404(Worker, request.form.get("id"))
        self._set_status([worker], WorkerStatus.DISABLED.value)
        flash(f"Worker {worker.name} disabled: it gets no new sessions.", "success")
        return back_to_list(self)

    @expose("/enable/", methods=["POST"])
    def enable(self) -> Any:
        worker = get_or_404(Worker, request.form.get("id"))
        self._set_status([worker], WorkerStatus.ACTIVE.value)
        flash(f"Worker {worker.name} enabled.", "success")
        return back_to_list(self)

    @expose("/probe/", methods=["POST"])
    def probe(self) -> Any:
        worker = get_or_404(Worker, request.form.get("id"))
        healthy = worker_service.probe_worker(worker)
        audit.record(current_user.id, "worker.probe", "worker", worker.id, reachable=healthy)
        db.session.commit()
        if healthy:
            flash(f"Worker {worker.name} answered.", "success")
        else:
            flash(
                f"Worker {worker.name} did not answer: {worker.last_error or 'no answer'}", "error"
            )
        return back_to_list(self)

    @action("disable", "Disable", "Disable the selected workers?")
    def action_disable(self, ids: list[str]) -> None:
        self._set_status(self._workers_for(ids), WorkerStatus.DISABLED.value)
        flash(f"{len(ids)} worker(s) disabled.", "success")

    @action("enable", "Enable", "Enable the selected workers?")
    def action_enable(self, ids: list[str]) -> None:
        self._set_status(self._workers_for(ids), WorkerStatus.ACTIVE.value)
        flash(f"{len(ids)} worker(s) enabled.", "success")

    def _workers_for(self, ids: list[str]) -> list[Worker]:
        return [get_or_404(Worker, raw) for raw in ids]

    @expose("/cloud-login/", methods=["GET", "POST"])
    def cloud_login(self) -> Any:
        """Forward an email and password to the node's /yud-ranyisi; keep neither.

        The answer is rendered in this response, never flashed: flashes live in the
        session cookie, and a node may echo what it was sent.
        """
        worker = get_or_404(Worker, request.args.get("id"))
        form = CloudLoginForm(request.form if request.method == "POST" else None)
        answer: dict[str, Any] | None = None
        status = 200
        if request.method == "POST" and form.validate():
            answer = self._forward_login(worker, form.email.data, form.password.data)
            status = 200 if answer["ok"] else 502
        elif request.method == "POST":
            status = 400
        return self.render(
            "admin/worker_login.html", worker=worker, form=form, answer=answer
        ), status

    def _forward_login(self, worker: Worker, email: str, password: str) -> dict[str, Any]:
        try:
            reply = node_client.login(worker, email, password)
        except node_client.NodeError as error:
            audit.record(
                current_user.id, "worker.cloud_login", "worker", worker.id, outcome=error.kind
            )
            db.session.commit()
            return {"ok": False, "status": None, "text": f"{error.kind}: {error.message}"}
        body = reply.body
        text = body if isinstance(body, str) else json.dumps(body, indent=2, ensure_ascii=False)
        if len(text) > MAX_ANSWER_CHARS:
            text = text[:MAX_ANSWER_CHARS] + "\n… (cut)"
        ok = 200 <= reply.status < 300
        audit.record(
            current_user.id, "worker.cloud_login", "worker", worker.id, node_status=reply.status
        )
        db.session.commit()
        return {"ok": ok, "status": reply.status, "text": text}
