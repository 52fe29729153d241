"""Mail: every message the shop recorded (to, kind, state, tries, last error; no bodies),
with "send again" for one that failed."""

from __future__ import annotations

from typing import Any

from flask import flash, request
from flask_admin import expose
from flask_admin.contrib.sqla.filters import FilterEqual, FilterLike
from redis.exceptions import RedisError

from vpsshop.admin.access import PostRowAction, ReadOnlyModelView, back_to_list, get_or_404
from vpsshop.admin.filters import DayFromFilter, DayUntilFilter
from vpsshop.admin.formatters import user_link
from vpsshop.extensions import db
from vpsshop.models import MailMessage, MailState
from vpsshop.services import notices


def can_send_again(message: MailMessage) -> bool:
    return message.state == MailState.FAILED.value


class MailMessageView(ReadOnlyModelView):
    named_filter_urls = True
    column_list = [
        "created_at",
        "to_address",
        "user.email",
        "kind",
        "state",
        "attempts",
        "last_error",
        "sent_at",
    ]
    column_labels = {"to_address": "To", "user.email": "Account", "attempts": "Tries"}
    column_select_related_list = [MailMessage.user]
    column_sortable_list = ["created_at", "kind", "state", "sent_at"]
    column_default_sort = [("created_at", True), ("id", True)]
    column_searchable_list = ["to_address"]
    column_filters = [
        FilterLike(column=MailMessage.to_address, name="To"),
        FilterEqual(
            column=MailMessage.kind,
            name="Kind",
            options=[(kind, kind) for kind in notices.KINDS],
        ),
        FilterEqual(
            column=MailMessage.state,
            name="State",
            options=[(state.value, state.value) for state in MailState],
        ),
        DayFromFilter(column=MailMessage.created_at, name="Date"),
        DayUntilFilter(column=MailMessage.created_at, name="Date"),
    ]
    column_formatters = {"user.email": user_link("user")}
    column_extra_row_actions = [
        PostRowAction(".send_again", "Send again", show=can_send_again),
    ]

    @expose("/send-again/", methods=["POST"])
    def send_again(self) -> Any:
        message = get_or_404(MailMessage, request.form.get("id"))
        if not can_send_again(message):
            flash("Only a failed message can be sent again.", "error")
            return back_to_list(self)
        message.state = MailState.QUEUED.value
        message.last_error = None
        db.session.commit()
        try:
            notices.enqueue_send(message.id)
        except RedisError:
            flash("Queued; the job queue is down, the sweep sends it once it is back.", "error")
        else:
            flash(f"Sending the {message.kind} mail to {message.to_address} again.", "success")
        return back_to_list(self)
