"""The audit trail of admin changes (read-only); coin changes also have their ledger rows."""

from __future__ import annotations

from flask_admin.contrib.sqla.filters import FilterEqual, FilterLike

from vpsshop.admin.access import ReadOnlyModelView
from vpsshop.admin.filters import DayFromFilter, DayUntilFilter
from vpsshop.admin.formatters import details_list, target_link, user_link
from vpsshop.models import AuditEntry


class AuditView(ReadOnlyModelView):
    """Who changed which worker, product, session or job, and when."""

    named_filter_urls = True
    column_list = ["created_at", "actor.email", "action", "target_type", "target_id", "details"]
    column_labels = {"actor.email": "Admin", "target_type": "Target", "target_id": "Target id"}
    column_formatters = {
        "actor.email": user_link("actor"),
        "target_id": target_link,
        "details": details_list,
    }
    column_select_related_list = [AuditEntry.actor]
    column_sortable_list = ["created_at", "action"]
    column_default_sort = [("created_at", True), ("id", True)]
    column_filters = [
        FilterLike(column="actor.email", name="Admin"),
        FilterLike(column=AuditEntry.action, name="Action"),
        FilterEqual(
            column=AuditEntry.target_type,
            name="Target",
            options=[
                (t, t)
                for t in (
                    "worker",
                    "product",
                    "session",
                    "job",
                    "user",
                    "payment",
                    "coin_pack",
                    "voucher",
                    "voucher_batch",
                )
            ],
        ),
        FilterEqual(column=AuditEntry.target_id, name="Target id"),
        DayFromFilter(column=AuditEntry.created_at, name="Date"),
        DayUntilFilter(column=AuditEntry.created_at, name="Date"),
    ]
