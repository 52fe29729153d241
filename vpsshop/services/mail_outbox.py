"""Sending a recorded message: claim it, build it from its templates, deliver, record.

A job claims its message with one conditional UPDATE (``queued`` -> ``sending``), so a job
that runs twice, or two copies running at once, send it once. A claim left by a killed
worker is taken over after ``CLAIM_STALE_SECONDS``. A deferred delivery (4xx, connection
trouble) goes back to ``queued`` and raises, so RQ's Retry tries again after its back-off;
a refusal (5xx) or the last try marks the message ``failed``.
"""

from __future__ import annotations

import json
import logging
import uuid
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import formataddr, make_msgid
from typing import Any

from flask import current_app, render_template
from redis.exceptions import RedisError
from rq import get_current_job
from rq.job import Job
from sqlalchemy import and_, or_, select, update

from vpsshop.extensions import db
from vpsshop.models import MailMessage, MailState, User
from vpsshop.models.types import utcnow
from vpsshop.queue import get_redis
from vpsshop.services import mail_links, mailer, notices, password_reset
from vpsshop.wording import utc_text

log = logging.getLogger(__name__)
CLAIM_STALE_SECONDS = 300
# A queued message with no job this long after it was recorded is enqueued again.
STALLED_AFTER_SECONDS = 600
REQUEUE_BATCH = 200


def _claim(message_id: uuid.UUID) -> bool:
    now = utcnow()
    claimable = or_(
        MailMessage.state == MailState.QUEUED.value,
        and_(
            MailMessage.state == MailState.SENDING.value,
            MailMessage.claimed_at < now - timedelta(seconds=CLAIM_STALE_SECONDS),
        ),
    )
    result = db.session.execute(
        update(MailMessage)
        .where(MailMessage.id == message_id, claimable)
        .values(state=MailState.SENDING.value, claimed_at=now, attempts=MailMessage.attempts + 1)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return result.rowcount == 1


def _links(message: MailMessage, user: User, context: dict[str, Any]) -> dict[str, Any]:
    """What every template may use beside the stored context: absolute links."""
    links: dict[str, Any] = {
        "shop_url": mail_links.public_url("shop.catalogue"),
        "settings_url": mail_links.public_url("mail.notification_settings"),
        "forgot_url": mail_links.public_url("mail.forgot_password"),
    }
    if context.get("expires_at"):
        links["expires_at"] = utc_text(datetime.fromisoformat(context["expires_at"]))
    category = notices.KINDS[message.kind].category
    if category is not None:
        token = mail_links.unsubscribe_token(user.id, category)
        links["unsubscribe_url"] = mail_links.public_url("mail.unsubscribe", token=token)
        links["category_name"] = notices.CATEGORIES[category]
    if context.get("session_id"):
        links["session_url"] = mail_links.public_url(
            "shop.session_detail", session_id=context["session_id"]
        )
    if message.kind == "password_reset":
        # Minted now, so that the token exists only as its hash and in this mail.
        token = password_reset.mint_token(user.id)
        links["reset_url"] = mail_links.public_url("mail.reset_password", token=token)
        links["valid_minutes"] = current_app.config["PASSWORD_RESET_TTL_SECONDS"] // 60
    if message.kind == "verify_email":
        token = mail_links.verification_token(user.id, user.email)
        links["verify_url"] = mail_links.public_url("mail.verify_email", token=token)
    return links


def compose(message: MailMessage, user: User) -> EmailMessage:
    """The message as it goes out: plain text and a simple HTML part, from templates."""
    context = json.loads(message.context or "{}")
    values = {**context, **_links(message, user, context), "email": user.email}
    subject = notices.KINDS[message.kind].subject.format_map(_Blank(values))
    email = EmailMessage()
    email["Subject"] = subject
    email["From"] = current_app.config["MAIL_FROM"]
    email["To"] = formataddr(("", message.to_address))
    email["Message-ID"] = make_msgid(idstring=message.id.hex, domain="vpsshop")
    email["X-Vpsshop-Kind"] = message.kind
    if values.get("unsubscribe_url"):
        # RFC 2369 and RFC 8058: mail clients offer (and POST) a one-click unsubscribe.
        email["List-Unsubscribe"] = f"<{values['unsubscribe_url']}>"
        email["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    email.set_content(render_template(f"mail/{message.kind}.txt", subject=subject, **values))
    email.add_alternative(
        render_template(f"mail/{message.kind}.html", subject=subject, **values), subtype="html"
    )
    return email


class _Blank(dict):
    """Subject placeholders missing from a context render empty, never raise."""

    def __missing__(self, key: str) -> str:
        return ""


def _last_try() -> bool:
    job = get_current_job()
    return job is None or not job.retries_left


def _finish(message_id: uuid.UUID, state: MailState, error: str | None = None) -> None:
    message = db.session.get(MailMessage, message_id)
    message.state = state.value
    message.last_error = error[:500] if error else None
    if state == MailState.SENT:
        message.sent_at = utcnow()
    db.session.commit()


def send(message_id: uuid.UUID) -> str | None:
    """Send the message unless it was sent (or is being sent) already; returns its state.

    Raises ``MailDeferred`` when the server put it off and a retry is left.
    """
    if not _claim(message_id):
        log.info("mail not claimed message_id=%s (sent or being sent)", message_id)
        return None
    message = db.session.get(MailMessage, message_id)
    user = message.user
    if user is None or user.email != message.to_address:
        # The account is gone or has another address now: nothing goes to the old one.
        _finish(message_id, MailState.FAILED, "the account's address changed before sending")
        return MailState.FAILED.value
    kind = message.kind
    try:
        email = compose(message, user)
        db.session.commit()  # a reset token minted for this mail exists before it is sent
        where = mailer.deliver(email, kind)
    except mailer.MailRefused as error:
        _finish(message_id, MailState.FAILED, str(error))
        log.warning("mail refused message_id=%s kind=%s error=%s", message_id, kind, error)
        return MailState.FAILED.value
    except mailer.MailDeferred as error:
        last = _last_try()
        _finish(message_id, MailState.FAILED if last else MailState.QUEUED, str(error))
        log.warning(
            "mail deferred message_id=%s kind=%s last=%s error=%s", message_id, kind, last, error
        )
        if last:
            return MailState.FAILED.value
        raise
    _finish(message_id, MailState.SENT)
    log.info("mail sent message_id=%s kind=%s to=%s", message_id, kind, where)
    return MailState.SENT.value


def requeue_stalled() -> int:
    """Enqueue queued messages whose job was lost (Redis down at commit, a flushed queue)."""
    cutoff = utcnow() - timedelta(seconds=STALLED_AFTER_SECONDS)
    stale_claim = utcnow() - timedelta(seconds=CLAIM_STALE_SECONDS)
    ids = (
        db.session.execute(
            select(MailMessage.id)
            .where(
                or_(
                    and_(
                        MailMessage.state == MailState.QUEUED.value,
                        MailMessage.created_at < cutoff,
                    ),
                    and_(
                        MailMessage.state == MailState.SENDING.value,
                        MailMessage.claimed_at < stale_claim,
                    ),
                )
            )
            .order_by(MailMessage.created_at)
            .limit(REQUEUE_BATCH)
        )
        .scalars()
        .all()
    )
    db.session.rollback()
    enqueued = 0
    for message_id in ids:
        try:
            if Job.exists(notices.send_job_id(message_id), connection=get_redis()):
                continue  # queued, scheduled for a retry, or running
            notices.enqueue_send(message_id)
        except RedisError:
            break
        enqueued += 1
    return enqueued
