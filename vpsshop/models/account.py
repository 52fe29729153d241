"""Two-factor recovery codes and the account activity log."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from vpsshop.extensions import db
from vpsshop.models.types import BigIntKey, UTCDateTime, utcnow


class RecoveryCode(db.Model):
    """One single-use recovery code of a user's two-factor sign-in, stored hashed."""

    __tablename__ = "recovery_codes"
    __table_args__ = (Index("ix_recovery_codes_user_id", "user_id"),)

    id: Mapped[int] = mapped_column(BigIntKey, primary_key=True, autoincrement=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    # SHA-256 of the user's id and the code: codes are random (50 bits), not passwords.
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ActivityEvent(db.Model):
    """Something that happened to an account, as its owner (and admins) see it."""

    __tablename__ = "activity_events"
    __table_args__ = (Index("ix_activity_events_user_created", "user_id", "created_at", "id"),)

    id: Mapped[int] = mapped_column(BigIntKey, primary_key=True, autoincrement=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The client address as the app sees it (ProxyFix behind TRUST_PROXY_HOPS proxies).
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(300))
    # A short human text (a product's name, a token's name); never a secret.
    detail: Mapped[str] = mapped_column(String(500), default="")
