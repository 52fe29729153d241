"""The session status card: its context, and its rendering for the 2-second polls.

A poll of an unchanged session gets the card rendered for that session view before, with
the two values that change between polls filled in: the elapsed time and the password,
decrypted per answer (the cached rendering holds a placeholder, never the password).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from flask import render_template
from flask_login import current_user

from vpsshop import fragments
from vpsshop.models import FINAL_STATUSES, SessionStatus
from vpsshop.services import crypto
from vpsshop.services import sessions as session_service
from vpsshop.services.session_views import SessionView
from vpsshop.wording import coins

STEPS = (("paid", "Paid"), ("creating", "Creating"), ("booting", "Booting"), ("ready", "Ready"))
# provision_action values whose VMs are reached over RDP (Windows, Test).
RDP_ACTIONS = (2, 3)
TEMPLATE = "shop/_session_status.html"
_ELAPSED = fragments.placeholder("elapsed")
_PASSWORD = fragments.placeholder("password")
_BALANCE = fragments.placeholder("balance")
# Failure messages stored with the session end with this note; the card says the refund
# itself, with its amount, from the ledger ("Refunded 10 coins."), so not twice.
_REFUND_NOTE = " Refunded."


def failure_reason(session: SessionView) -> str | None:
    """The session's error as the card shows it: without the trailing refund note."""
    error = session.error
    if error and error.endswith(_REFUND_NOTE):
        return error.removesuffix(_REFUND_NOTE)
    return error


def owner_balance(session: SessionView) -> str:
    """The signed-in owner's balance, said as the header says it ("11 coins")."""
    return coins(current_user.coins) if current_user.is_authenticated else ""


def format_duration(seconds: float) -> str:
    """``75`` -> ``"1 min 15 s"``; hours for long spans."""
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min {secs} s"
    return f"{secs} s"


def steps(session: SessionView) -> list[dict[str, str]]:
    """The step indicator: each step ``done``, ``current``, ``failed`` or ``todo``."""
    status = session.status
    created = bool(session.worker_route)
    if session.ready_at is not None:
        done, current = 4, None
    elif status == SessionStatus.PENDING:
        done, current = 1, 1
    elif status == SessionStatus.PROVISIONING:
        done, current = 2, 2
    else:  # failed, or ended before it was ever ready
        done, current = (2 if created else 1), None
    failed_at = done if status == SessionStatus.FAILED else None
    items = []
    for index, (key, label) in enumerate(STEPS):
        if index < done:
            state = "done"
        elif index == failed_at:
            state = "failed"
        elif index == current:
            state = "current"
        else:
            state = "todo"
        items.append({"key": key, "label": label, "state": state})
    return items


def _end(session: SessionView) -> datetime | None:
    """When the server stopped running (its last change once final); None while it runs."""
    return session.ended_at or (session.updated_at if session.status in FINAL_STATUSES else None)


def elapsed(session: SessionView) -> str:
    """How long the server has run (or ran, once final)."""
    end = _end(session) or datetime.now(UTC)
    return format_duration((end - session.created_at).total_seconds())


def context(session: SessionView) -> dict[str, Any]:
    """What the status card needs, the same for the page and its polled partial."""
    ready_after = None
    if session.ready_at is not None:
        ready_after = format_duration((session.ready_at - session.created_at).total_seconds())
    refunded = session.refunded
    details = session_service.credentials(session)
    version = f"{session.status}|{session.updated_at.timestamp() if session.updated_at else 0}"
    return {
        "session": session,
        "final": session.status in FINAL_STATUSES,
        "steps": steps(session),
        "elapsed": elapsed(session),
        "running": _end(session) is None,
        "ready_after": ready_after,
        "refunded": refunded,
        "failure": failure_reason(session),
        # A refund changes the header's balance: live.js copies this into the header (only
        # refunded cards carry it, so other polls never load the user).
        "balance": owner_balance(session) if refunded else None,
        "credentials": details,
        "rdp": details is not None and session.product.provision_action in RDP_ACTIONS,
        "version": f"{version}|{int(refunded)}",
    }


def _layout(session: SessionView, _script_root: str) -> str:
    """The card of ``session`` with placeholders for the elapsed time and the password."""
    card = context(session)
    card["elapsed"] = _ELAPSED
    if card["balance"] is not None:
        card["balance"] = _BALANCE
    if card["credentials"] is not None:
        card["credentials"] = replace(card["credentials"], password=_PASSWORD)
    return render_template(TEMPLATE, **card)


def render(session: SessionView) -> str:
    """The card as the template renders it, from this process's cached layout."""
    html = fragments.fill(fragments.render(_layout, session), _ELAPSED, lambda: elapsed(session))
    html = fragments.fill(html, _BALANCE, lambda: owner_balance(session))
    return fragments.fill(
        html, _PASSWORD, lambda: crypto.decrypt(session.rdp_password_encrypted or "")
    )
