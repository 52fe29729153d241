"""A session's bought extensions and the waitlist of sold-out products."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from vpsshop.extensions import db
from vpsshop.models.product import VpsProduct
from vpsshop.models.types import BigIntKey, UTCDateTime, new_uuid, utcnow
from vpsshop.models.user import User


class SessionExtension(db.Model):
    """One paid extension of a running session; the key makes a retried request a no-op."""

    __tablename__ = "session_extensions"
    __table_args__ = (
        # Parallel tries with one Idempotency-Key: the second insert fails, nothing is
        # charged twice (NULL keys never collide).
        UniqueConstraint("user_id", "idempotency_key", name="uq_session_extensions_user_idem"),
        Index("ix_session_extensions_session", "session_id"),
    )

    id: Mapped[int] = mapped_column(BigIntKey, primary_key=True, autoincrement=True)
    session_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("vps_sessions.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    minutes: Mapped[int]
    price_coins: Mapped[int]
    transaction_id: Mapped[int | None] = mapped_column(
        ForeignKey("coin_transactions.id", ondelete="SET NULL"), unique=True
    )
    expires_before: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_after: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WaitlistStatus(enum.StrEnum):
    WAITING = "waiting"
    FULFILLED = "fulfilled"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


class WaitlistEntry(db.Model):
    """A user's place in line for a sold-out product."""

    __tablename__ = "waitlist_entries"
    __table_args__ = (
        # One waiting place per user and product, whatever races (a second join keeps it).
        Index(
            "uq_waitlist_entries_waiting",
            "user_id",
            "product_id",
            unique=True,
            postgresql_where=text("status = 'waiting'"),
            sqlite_where=text("status = 'waiting'"),
        ),
        Index("ix_waitlist_entries_product_status", "product_id", "status", "created_at"),
        Index("ix_waitlist_entries_user_created", "user_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    product_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("vps_products.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16), default=WaitlistStatus.WAITING)
    # Why an entry left the line (skipped: not enough coins; expired: waited too long).
    reason: Mapped[str | None] = mapped_column(String(300))
    # The purchase a fulfilled entry became.
    session_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("vps_sessions.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    user: Mapped[User] = relationship()
    product: Mapped[VpsProduct] = relationship()
