"""The coin ledger: read-only, newest first, filterable, exportable as CSV."""

from __future__ import annotations

from typing import Any

from flask_admin.contrib.sqla.filters import FilterEqual, FilterLike

from vpsshop.admin.access import ReadOnlyModelView
from vpsshop.admin.filters import DayFromFilter, DayUntilFilter
from vpsshop.admin.formatters import session_link, user_link
from vpsshop.models import CoinTransaction, TransactionKind

# Spreadsheets run cells that start with these as formulas (CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value: Any) -> Any:
    """Text cells that a spreadsheet would evaluate get a leading quote."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def export_text(attribute: str):
    """An export formatter: the row's dotted ``attribute`` as plain, formula-safe text."""

    def formatter(view: Any, context: Any, model: Any, name: str) -> Any:
        value: Any = model
        for part in attribute.split("."):
            value = getattr(value, part, None) if value is not None else None
        return csv_safe(value if value is not None else "")

    return formatter


class CoinLedgerView(ReadOnlyModelView):
    """Every coin movement; the only writer is services/ledger.py."""

    named_filter_urls = True
    column_list = [
        "created_at",
        "user.email",
        "kind",
        "delta",
        "balance_after",
        "reason",
        "actor.email",
        "session_id",
    ]
    column_labels = {"user.email": "User", "actor.email": "By admin", "session_id": "Session"}
    # Joined into the page's one query (and the export's): not one query per row.
    column_select_related_list = [CoinTransaction.user, CoinTransaction.actor]
    column_sortable_list = ["created_at", "kind", "delta"]
    # Ties on created_at (one transaction) still come out newest first.
    column_default_sort = [("created_at", True), ("id", True)]
    column_filters = [
        FilterLike(column="user.email", name="User email"),
        FilterEqual(
            column=CoinTransaction.kind,
            name="Kind",
            options=[(kind.value, kind.value) for kind in TransactionKind],
        ),
        DayFromFilter(column=CoinTransaction.created_at, name="Date"),
        DayUntilFilter(column=CoinTransaction.created_at, name="Date"),
    ]
    can_export = True
    export_types = ["csv"]
    export_max_rows = 100_000
    column_formatters = {
        "user.email": user_link("user"),
        "actor.email": user_link("actor"),
        "session_id": session_link,
    }
    column_searchable_list = ["user.email"]
    column_formatters_export = {
        "user.email": export_text("user.email"),
        "actor.email": export_text("actor.email"),
        "reason": export_text("reason"),
    }
