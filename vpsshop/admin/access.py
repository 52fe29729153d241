"""Who may open the admin panel, and the base classes every admin view builds on."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from flask import abort, flash, redirect, request, url_for
from flask_admin import BaseView, expose
from flask_admin.contrib.sqla import ModelView
from flask_admin.model.template import BaseListRowAction
from flask_login import current_user
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup, escape
from sqlalchemy import func, inspect
from werkzeug.wrappers import Response

from vpsshop.admin.counts import EstimatedCountQuery
from vpsshop.admin.formatters import TYPE_FORMATTERS
from vpsshop.auth.safe_redirect import safe_next_path
from vpsshop.extensions import db
from vpsshop.services.two_factor import admin_needs_2fa

PAGE_SIZE = 50


def is_admin_user() -> bool:
    """True for a signed-in admin (with two-factor sign-in when ``ADMIN_REQUIRE_2FA``)."""
    return bool(
        current_user.is_authenticated
        and current_user.is_admin
        and not admin_needs_2fa(current_user)
    )


def deny_access() -> Any:
    """Anonymous visitors go to the login page (with a local ``next``); an admin without
    the required 2FA to its setup; others get 403."""
    if current_user.is_authenticated and admin_needs_2fa(current_user):
        flash("Turn on two-factor sign-in to open the admin panel.", "info")
        return redirect(url_for("accounts.two_factor"))
    if not current_user.is_authenticated:
        target = request.full_path if request.query_string else request.path
        if request.method != "GET":
            # A form post cannot be replayed after sign-in; come back to the panel instead.
            target = url_for("admin.index")
        return redirect(url_for("auth.login", next=safe_next_path(target)))
    abort(403)


class AdminOnly:
    """Mixin for Flask-Admin views: admins only, for every endpoint of the view."""

    def is_accessible(self) -> bool:
        return is_admin_user()

    def inaccessible_callback(self, name: str, **kwargs: Any) -> Any:
        return deny_access()


class AdminBaseView(AdminOnly, BaseView):
    """A custom (non-model) admin page."""


def view_url(context: Any, endpoint: str, **query: str) -> str:
    """The URL of one of the listed view's endpoints with ``query`` (Flask-Admin's own
    ``get_url``, called per row as its row-action macros do)."""
    return context.resolve("admin_view").get_url(endpoint, **query)


class AdminModelView(AdminOnly, ModelView):
    """A model list for admins: paginated, no deletes; subclasses opt in to editing."""

    page_size = PAGE_SIZE
    can_set_page_size = False
    column_type_formatters = TYPE_FORMATTERS
    can_delete = False
    can_view_details = False
    # Deletes go through services (audited) or do not exist; the bulk delete too.
    action_disallowed_list = ["delete"]

    def get_count_query(self) -> EstimatedCountQuery:
        """The pager's count, exact up to a bound and estimated past it (counts.py)."""
        return EstimatedCountQuery(func.count("*"), session=db.session()).select_from(self.model)

    @expose("/export/<export_type>/")
    def export(self, export_type: str) -> Any:
        """Flask-Admin's export, written out before the request ends.

        Its CSV is a generator that runs after the view returns: by then the request's
        database session is closed, and a row's relation (the ledger's ``user.email``)
        raised DetachedInstanceError mid-file, so the browser got the header and a dropped
        connection. The rows are already all in memory (``export_max_rows`` bounds them).
        """
        response = super().export(export_type)
        if isinstance(response, Response) and response.is_streamed:
            response.make_sequence()
        return response

    def get_one(self, id: str) -> Any:
        """The row whose key is the URL's ``?id=``, or None (Flask-Admin then says "record
        does not exist").

        The URL carries text; SQLite's UUID columns bind only ``uuid.UUID`` values (a text
        key was an AttributeError there), and a malformed key was a 500 on PostgreSQL, so
        the text is turned into the key's own Python type first.
        """
        column = inspect(self.model).primary_key[0]
        try:
            kind = column.type.python_type
        except NotImplementedError:
            return super().get_one(id)
        try:
            key = kind(id)
        except (TypeError, ValueError):
            return None
        if kind is int and not -(2**63) <= key < 2**63:
            return None
        return db.session.get(self.model, key)


class ReadOnlyModelView(AdminModelView):
    """A read-only model list."""

    can_create = False
    can_edit = False


def post_button(
    url: str,
    label: str,
    *,
    fields: dict[str, Any] | None = None,
    confirm: str | None = None,
    css: str = "btn btn-sm btn-outline-secondary",
) -> Markup:
    """A one-button POST form with the CSRF token: row actions never change data on GET."""
    hidden = "".join(
        f'<input type="hidden" name="{escape(name)}" value="{escape(value)}">'
        for name, value in (fields or {}).items()
    )
    confirm_attr = f' data-confirm="{escape(confirm)}"' if confirm else ""
    return Markup(
        f'<form class="d-inline vps-row-action" method="post" action="{escape(url)}"'
        f"{confirm_attr}>"
        f'<input type="hidden" name="csrf_token" value="{escape(generate_csrf())}">'
        f'{hidden}<button type="submit" class="{escape(css)}">{escape(label)}</button></form>'
    )


class PostRowAction(BaseListRowAction):
    """A row button that POSTs ``id`` (and the CSRF token) to an endpoint of the view."""

    def __init__(
        self,
        endpoint: str,
        label: str,
        *,
        confirm: str | None = None,
        show: Callable[[Any], bool] | None = None,
    ) -> None:
        super().__init__(title=label)
        self.endpoint = endpoint
        self.label = label
        self.confirm = confirm
        self.show = show

    def render(self, context: Any, row_id: str, row: Any) -> Markup:
        if self.show is not None and not self.show(row):
            return Markup("")
        url = view_url(context, self.endpoint)
        return post_button(url, self.label, fields={"id": row_id}, confirm=self.confirm)


class LinkButtonRowAction(BaseListRowAction):
    """A row link (GET, changes nothing) to an endpoint of the view with ``?id=``."""

    def __init__(self, endpoint: str, label: str) -> None:
        super().__init__(title=label)
        self.endpoint = endpoint
        self.label = label

    def render(self, context: Any, row_id: str, row: Any) -> Markup:
        url = view_url(context, self.endpoint, id=row_id)
        return Markup(
            f'<a class="btn btn-sm btn-outline-primary" href="{escape(url)}">'
            f"{escape(self.label)}</a>"
        )


def get_or_404(model: type, raw_id: str | None) -> Any:
    """The row of ``model`` with primary key ``raw_id`` (a UUID), or a 404."""

    try:
        key = uuid.UUID(raw_id or "")
    except ValueError:
        abort(404)
    row = db.session.get(model, key)
    if row is None:
        abort(404)
    return row


def back_to_list(view: BaseView) -> Any:
    """Redirect to the view's list, keeping a local ``url`` return target when given."""
    target = safe_next_path(request.form.get("url") or request.args.get("url"))
    return redirect(target or view.get_url(".index_view"))
