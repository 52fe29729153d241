"""The waitlist: who waits for which product, in line order, and what became of them."""

from __future__ import annotations

from typing import Any

from flask_admin.contrib.sqla.filters import FilterEqual, FilterLike
from markupsafe import Markup

from vpsshop.admin.access import ReadOnlyModelView
from vpsshop.admin.formatters import session_link, user_link
from vpsshop.models import WaitlistEntry, WaitlistStatus
from vpsshop.services import waitlist


def _position_formatter(view: Any, context: Any, model: WaitlistEntry, name: str) -> Markup | str:
    place = waitlist.position(model)
    return "" if place is None else Markup(f"<strong>#{place}</strong>")


class WaitlistView(ReadOnlyModelView):
    """Read-only: entries change through the buyer's join and leave and the fulfilment."""

    named_filter_urls = True
    column_list = [
        "created_at",
        "product.name",
        "user.email",
        "status",
        "position",
        "expires_at",
        "session_id",
        "reason",
    ]
    column_labels = {"product.name": "Product", "user.email": "User", "session_id": "Session"}
    column_select_related_list = [WaitlistEntry.product, WaitlistEntry.user]
    column_sortable_list = ["created_at", "status", "expires_at"]
    # Line order: the first to join is served first.
    column_default_sort = [("created_at", False), ("id", False)]
    column_filters = [
        FilterLike(column="product.name", name="Product"),
        FilterEqual(
            column=WaitlistEntry.status,
            name="Status",
            options=[(status.value, status.value) for status in WaitlistStatus],
        ),
        FilterLike(column="user.email", name="User email"),
    ]
    column_formatters = {
        "user.email": user_link("user"),
        "session_id": session_link,
        "position": _position_formatter,
    }
