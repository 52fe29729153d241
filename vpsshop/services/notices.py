"""Telling users by mail: ``notify()`` records a message in the caller's transaction and its
send job is enqueued once that transaction commits (never for a rolled-back one).

Every kind of mail is listed in ``KINDS``: its subject and its category. Notices of a
category the user turned off are recorded as ``skipped``; security mails (password reset,
password or 2FA changed, address confirmation) have no category and are always sent.
A ``dedupe_key`` names the event: a second notice for the same event is not recorded.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass
from typing import Any

from flask import current_app, has_app_context
from redis.exceptions import RedisError
from rq import Retry
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from vpsshop.extensions import db
from vpsshop.models import MailMessage, MailState, User
from vpsshop.models.types import utcnow
from vpsshop.queue import DEFAULT_JOB_OPTIONS, get_mail_queue
from vpsshop.services.after_commit import AfterCommit
from vpsshop.services.mail_settings import retry_intervals

log = logging.getLogger(__name__)

SERVERS = "servers"
COINS = "coins"
CATEGORIES = {SERVERS: "Your servers", COINS: "Coins"}
SEND_JOB = "jobs.mail.send_message"


@dataclass(frozen=True)
class Kind:
    subject: str
    category: str | None  # None: a security or account mail, always sent


KINDS: dict[str, Kind] = {
    "password_reset": Kind("Reset your vpsshop password", None),
    "password_changed": Kind("Your vpsshop password was changed", None),
    "2fa_changed": Kind("Two-factor sign-in changed on your vpsshop account", None),
    "verify_email": Kind("Confirm your email address for vpsshop", None),
    "server_ready": Kind("Your server {product_name} is ready", SERVERS),
    "server_failed": Kind("Your server {product_name} could not start: refunded", SERVERS),
    "server_ending": Kind("Your server {product_name} ends in {minutes} minutes", SERVERS),
    "server_ended": Kind("Your server {product_name} has ended", SERVERS),
    "waitlist_fulfilled": Kind("Your place in line for {product_name}: server started", SERVERS),
    "waitlist_skipped": Kind("Your place in line for {product_name} was skipped", SERVERS),
    "coins_credited": Kind("{amount} coins were added to your vpsshop account", COINS),
}


def send_job_id(message_id: uuid.UUID | str) -> str:
    """One RQ job id per message: enqueuing it again never makes a second message."""
    return f"mail-{message_id}"


def notify(
    user_id: uuid.UUID,
    kind: str,
    context: dict[str, Any] | None = None,
    dedupe_key: str | None = None,
) -> MailMessage | None:
    """Record a ``kind`` mail to the user, sent after the caller's transaction commits.

    ``context`` is what the templates show (ids, names, amounts; never a secret).
    Returns the message, or None when there is no such user or ``dedupe_key`` was used
    already. The caller commits.
    """
    spec = KINDS[kind]
    user = db.session.get(User, user_id)
    if user is None:
        return None
    if dedupe_key is not None:
        dedupe_key = dedupe_key[:200]
    wanted = spec.category is None or getattr(user, f"notify_{spec.category}", True)
    # One statement, no savepoint: a notice for an event already recorded (or recorded by
    # a concurrent transaction) inserts nothing here, and the caller's transaction goes on
    # (SQLite would commit a savepoint that opened the transaction, rollback or not).
    # RETURNING the entity gives the row as an ORM object, so nothing is read back.
    insert = (
        postgresql_insert if db.session.get_bind().dialect.name == "postgresql" else (sqlite_insert)
    )
    message = db.session.scalars(
        insert(MailMessage)
        .values(
            id=uuid.uuid4(),
            user_id=user.id,
            to_address=user.email,
            kind=kind,
            state=(MailState.QUEUED if wanted else MailState.SKIPPED).value,
            attempts=0,
            dedupe_key=dedupe_key,
            context=json.dumps(context or {}, default=str, sort_keys=True),
            created_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
        .returning(MailMessage)
    ).one_or_none()
    if message is None:
        return None
    if wanted:
        _pending.pending(db.session).append(message.id)
    log.info("mail recorded kind=%s message_id=%s state=%s", kind, message.id, message.state)
    return message


def enqueue_send(message_id: uuid.UUID) -> None:
    """Enqueue the message's send job, retried with back-off. Raises RedisError."""
    intervals = retry_intervals(current_app.config["MAIL_RETRY_INTERVALS"])
    get_mail_queue().enqueue(
        SEND_JOB,
        str(message_id),
        job_id=send_job_id(message_id),
        retry=Retry(max=len(intervals), interval=intervals),
        **DEFAULT_JOB_OPTIONS,
    )


def _send_pending(message_ids: list[uuid.UUID]) -> None:
    if not has_app_context():
        return
    for message_id in message_ids:
        try:
            enqueue_send(message_id)
        except RedisError:  # the row stays queued: the sweep enqueues it later
            log.warning("mail enqueue failed message_id=%s, left to the sweeper", message_id)


# Recorded messages are sent once their commit is done; a rollback means they never were.
_pending = AfterCommit("mail_pending", list, _send_pending)


def install() -> None:
    """Listen to every ORM session of the process; idempotent."""
    _pending.install()
