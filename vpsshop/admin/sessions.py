"""Sessions: read-only list with the two admin actions, stop now and fail-and-refund."""

from __future__ import annotations

from typing import Any

from flask import flash, request
from flask_admin import expose
from flask_admin.contrib.sqla.filters import FilterEqual, FilterLike
from flask_login import current_user
from markupsafe import Markup, escape

from vpsshop.admin.access import PostRowAction, ReadOnlyModelView, back_to_list, get_or_404
from vpsshop.admin.filters import DayFromFilter, DayUntilFilter
from vpsshop.admin.formatters import session_href, session_link, status_badge, user_link
from vpsshop.errors import ServiceError
from vpsshop.extensions import db
from vpsshop.models import FINAL_STATUSES, SessionStatus, VpsSession
from vpsshop.services import sessions as session_service

# Characters of a session's error shown in its cell.
ERROR_CHARS = 60


def can_stop(session: VpsSession) -> bool:
    """Anything not final and not already stopping can be stopped."""
    return session.status not in FINAL_STATUSES and session.status != SessionStatus.STOPPING


def can_fail_and_refund(session: VpsSession) -> bool:
    """Only sessions that never became ready (pending, provisioning) may be refunded."""
    return session.ready_at is None and session.status in (
        SessionStatus.PENDING,
        SessionStatus.PROVISIONING,
    )


def _log_link(view: Any, context: Any, model: VpsSession, name: str) -> Markup:
    # The user-facing session page proxies the node's log; admins may open any session.
    return Markup(f'<a href="{escape(session_href(model.id))}">log</a>')


def _error_cell(view: Any, context: Any, model: VpsSession, name: str) -> Markup | str:
    # Long node errors would stretch the table past the screen: cut, whole in the tooltip.
    error = model.error or ""
    if len(error) <= ERROR_CHARS:
        return error
    return Markup(f'<span title="{escape(error)}">{escape(error[:ERROR_CHARS])}…</span>')


class SessionView(ReadOnlyModelView):
    """All sessions, newest first, filterable by status, worker, user and product."""

    named_filter_urls = True
    column_list = [
        "id",
        "created_at",
        "user.email",
        "product.name",
        "worker.name",
        "status",
        "price_coins",
        "error",
        "ready_at",
        "expires_at",
        "ended_at",
        "log",
    ]
    column_labels = {
        "user.email": "User",
        "product.name": "Product",
        "worker.name": "Worker",
        "price_coins": "Paid",
        "id": "Session",
        "ready_at": "Ready",
        "expires_at": "Expires",
        "ended_at": "Ended",
    }
    # Joined into the page's one query: without it each row loaded its user and worker.
    column_select_related_list = [VpsSession.user, VpsSession.product, VpsSession.worker]
    column_sortable_list = ["created_at", "status", "ready_at"]
    column_default_sort = [("created_at", True), ("id", True)]
    column_filters = [
        FilterEqual(
            column=VpsSession.status,
            name="Status",
            options=[(status.value, status.value) for status in SessionStatus],
        ),
        FilterLike(column="worker.name", name="Worker"),
        FilterLike(column="user.email", name="User"),
        FilterLike(column="product.name", name="Product"),
        DayFromFilter(column=VpsSession.created_at, name="Created"),
        DayUntilFilter(column=VpsSession.created_at, name="Created"),
    ]
    column_formatters = {
        "log": _log_link,
        "id": session_link,
        "user.email": user_link("user"),
        "status": status_badge,
        "error": _error_cell,
    }
    column_searchable_list = ["user.email"]
    column_extra_row_actions = [
        PostRowAction(".stop", "Stop now", show=can_stop, confirm="Stop this VM now?"),
        PostRowAction(
            ".fail_and_refund",
            "Fail and refund",
            show=can_fail_and_refund,
            confirm="Mark this session failed, stop its VM and refund the user?",
        ),
    ]

    @expose("/stop/", methods=["POST"])
    def stop(self) -> Any:
        session = get_or_404(VpsSession, request.form.get("id"))
        return self._run(session_service.admin_stop, session, "Stopping session {id}.")

    @expose("/fail-and-refund/", methods=["POST"])
    def fail_and_refund(self) -> Any:
        session = get_or_404(VpsSession, request.form.get("id"))
        return self._run(
            session_service.admin_fail_and_refund, session, "Session {id} failed and refunded."
        )

    def _run(self, operation: Any, session: VpsSession, message: str) -> Any:
        try:
            operation(session, current_user.id)  # audit-logged and committed by the service
        except ServiceError as error:
            db.session.rollback()
            flash(error.message, "error")
        else:
            flash(message.format(id=session.id), "success")
        return back_to_list(self)
