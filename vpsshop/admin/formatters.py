"""Cell formatters shared by the admin lists: moments, short ids, badges, links, details."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from flask import url_for
from flask_admin.model import typefmt
from markupsafe import Markup, escape

from vpsshop.extensions import db
from vpsshop.models import Voucher
from vpsshop.wording import time_tag

# A UUID is told apart by its first 8 characters on a page; the tooltip has it whole.
SHORT_ID = 8
# Badge colours (Bootstrap 4) per status of a session or worker.
BADGE_CLASSES = {
    "pending": "warning",
    "provisioning": "info",
    "ready": "success",
    "stopping": "warning",
    "deleted": "secondary",
    "expired": "secondary",
    "failed": "danger",
    "active": "success",
    "disabled": "secondary",
}


def _time_formatter(view: Any, value: datetime, name: str) -> Markup:
    return time_tag(value)


# Every admin list shows moments one way: local time in the page, UTC in the tooltip.
TYPE_FORMATTERS = {**typefmt.BASE_FORMATTERS, datetime: _time_formatter}


def badge(status: str | None) -> Markup:
    """A status as a coloured badge."""
    if not status:
        return Markup("")
    css = BADGE_CLASSES.get(str(status), "light")
    return Markup(f'<span class="badge badge-{css}">{escape(status)}</span>')


def status_badge(view: Any, context: Any, model: Any, name: str) -> Markup:
    return badge(getattr(model, name))


def short_id(value: Any) -> Markup:
    """A UUID cut to its first characters, the whole one in the tooltip."""
    text = str(value)
    return Markup(f'<code title="{escape(text)}">{escape(text[:SHORT_ID])}</code>')


def link(href: str, text: Any) -> Markup:
    return Markup(f'<a href="{escape(href)}">{escape(text)}</a>')


def user_link(attribute: str) -> Callable[..., Markup | str]:
    """A formatter: the e-mail of the row's ``attribute`` user, linked to that user's row."""

    def formatter(view: Any, context: Any, model: Any, name: str) -> Markup | str:
        user = getattr(model, attribute)
        if user is None:
            return ""
        return link(url_for("users.index_view", search=user.email), user.email)

    return formatter


def session_href(session_id: Any) -> str:
    # The buyer's session page, which admins may open for any session (status and log).
    return url_for("shop.session_detail", session_id=str(session_id))


def session_link(view: Any, context: Any, model: Any, name: str) -> Markup | str:
    """The row's session id, short, linked to that session's page."""
    session_id = getattr(model, name)
    if session_id is None:
        return ""
    return Markup(f'<a href="{escape(session_href(session_id))}">{short_id(session_id)}</a>')


# Where an audit entry's target is shown, per target type.
_TARGET_PAGES: dict[str, Callable[[str], str]] = {
    "worker": lambda target: url_for("workers.edit_view", id=target),
    "product": lambda target: url_for("products.edit_view", id=target),
    "session": session_href,
    "job": lambda target: url_for("jobs.index"),
    "voucher": lambda target: url_for("vouchers.index_view", search=_voucher_code(target)),
    "voucher_batch": lambda target: url_for("vouchers.index_view", flt0_batch_equals=target),
}


def _voucher_code(voucher_id: str) -> str:
    # The audit trail names a voucher by id; the list is searched by its code.
    try:
        voucher = db.session.get(Voucher, uuid.UUID(voucher_id))
    except ValueError:
        voucher = None
    return voucher.code if voucher is not None else voucher_id


def target_link(view: Any, context: Any, model: Any, name: str) -> Markup | str:
    """An audit entry's target id, short, linked to the target's page."""
    target = getattr(model, name)
    page = _TARGET_PAGES.get(model.target_type)
    if not target or page is None:
        return escape(target or "")
    return Markup(f'<a href="{escape(page(target))}">{short_id(target)}</a>')


def details_list(view: Any, context: Any, model: Any, name: str) -> Markup:
    """An audit entry's JSON details as a small key/value list."""
    raw = getattr(model, name) or "{}"
    try:
        details = json.loads(raw)
    except ValueError:
        return Markup(f"<code>{escape(raw)}</code>")
    if not isinstance(details, dict) or not details:
        return Markup("" if details in ({}, [], None) else f"<code>{escape(raw)}</code>")
    items = "".join(
        f"<dt>{escape(key)}</dt><dd>{escape(_plain(value))}</dd>" for key, value in details.items()
    )
    return Markup(f'<dl class="vps-details mb-0">{items}</dl>')


def _plain(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)
