"""Mail: every message the shop sends (its record, never its body) and password-reset tokens."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from vpsshop.extensions import db
from vpsshop.models.types import UTCDateTime, new_uuid, utcnow


class MailState(enum.StrEnum):
    QUEUED = "queued"  # waiting for its job (or its next retry)
    SENDING = "sending"  # claimed by a job
    SENT = "sent"
    FAILED = "failed"  # refused for good, or out of retries
    SKIPPED = "skipped"  # the user turned this kind of notice off


class MailMessage(db.Model):
    __tablename__ = "mail_messages"
    __table_args__ = (
        Index("ix_mail_messages_created_at", "created_at"),
        Index("ix_mail_messages_state_created", "state", "created_at"),
        Index("ix_mail_messages_user_id", "user_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    to_address: Mapped[str] = mapped_column(String(254))
    kind: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(16), default=MailState.QUEUED.value)
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(String(500))
    # One message per event: a second notice for the same event is not inserted.
    dedupe_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    # JSON of what the templates show (ids, names, amounts); never a secret or a link token.
    context: Mapped[str] = mapped_column(Text, default="{}")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user = relationship("User")

    def __str__(self) -> str:
        return f"{self.kind} to {self.to_address}"


class PasswordResetToken(db.Model):
    __tablename__ = "password_reset_tokens"
    __table_args__ = (Index("ix_password_reset_tokens_user_id", "user_id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    # SHA-256 of the token; the token itself is only in the mail.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
