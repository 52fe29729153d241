"""The session status card: what it shows, the same for the page and its polled partial."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import current_app, render_template
from flask_login import current_user

from vpsshop.models import FINAL_STATUSES, SessionStatus, VpsSession
from vpsshop.services import extension, ledger
from vpsshop.services import sessions as session_service
from vpsshop.wording import coins

STEPS = (("paid", "Paid"), ("creating", "Creating"), ("booting", "Booting"), ("ready", "Ready"))
# provision_action values whose VMs are reached over RDP (Windows, Test).
RDP_ACTIONS = (2, 3)
TEMPLATE = "shop/_session_status.html"
# Failure messages stored with the session end with this note; the card says the refund
# itself, with its amount, from the ledger ("Refunded 10 coins."), so not twice.
_REFUND_NOTE = " Refunded."


def failure_reason(session: VpsSession) -> str | None:
    """The session's error as the card shows it: without the trailing refund note."""
    error = session.error
    if error and error.endswith(_REFUND_NOTE):
        return error.removesuffix(_REFUND_NOTE)
    return error


def owner_balance(session: VpsSession) -> str:
    """The signed-in viewer's balance, said as the header says it ("11 coins")."""
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


def steps(session: VpsSession) -> list[dict[str, str]]:
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


def _end(session: VpsSession) -> datetime | None:
    """When the server stopped running (its last change once final); None while it runs."""
    return session.ended_at or (session.updated_at if session.status in FINAL_STATUSES else None)


def elapsed(session: VpsSession) -> str:
    """How long the server has run (or ran, once final)."""
    end = _end(session) or datetime.now(UTC)
    return format_duration((end - session.created_at).total_seconds())


def context(session: VpsSession) -> dict[str, Any]:
    """What the status card needs, the same for the page and its polled partial."""
    ready_after = None
    if session.ready_at is not None:
        ready_after = format_duration((session.ready_at - session.created_at).total_seconds())
    refunded = session.status == SessionStatus.FAILED and ledger.is_refunded(session.id)
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
        "extension": extension.offer(session, session.product),
        "ending_soon": extension.ending_soon(session),
        "time_left": time_left(session),
        "ending_soon_seconds": current_app.config["ENDING_SOON_MINUTES"] * 60,
        "version": f"{version}|{int(refunded)}|{iso_or_empty(session.expires_at)}",
    }


def time_left(session: VpsSession) -> str:
    """What remains of a running session's time, as the countdown starts from."""
    if session.expires_at is None:
        return ""
    return format_duration((session.expires_at - datetime.now(UTC)).total_seconds())


def iso_or_empty(moment: datetime | None) -> str:
    return moment.isoformat() if moment is not None else ""


def render(session: VpsSession) -> str:
    """The card alone, as the page's script polls it."""
    return render_template(TEMPLATE, **context(session))
