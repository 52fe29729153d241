"""The append-only coin ledger."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from vpsshop.extensions import db
from vpsshop.models.types import BigIntKey, UTCDateTime, utcnow


class TransactionKind(enum.StrEnum):
    ADMIN_ADD = "admin_add"
    ADMIN_SUB = "admin_sub"
    ADMIN_SET = "admin_set"
    PURCHASE = "purchase"
    REFUND = "refund"
    TOPUP = "topup"
    TOPUP_REVERSAL = "topup_reversal"
    VOUCHER = "voucher"
    SIGNUP = "signup"
    EXTEND = "extend"


class CoinTransaction(db.Model):
    __tablename__ = "coin_transactions"
    __table_args__ = (
        Index("ix_coin_transactions_user_created", "user_id", "created_at"),
        Index("ix_coin_transactions_created_at", "created_at"),
        # The admin list's sort and filters, a user's own history by id; migration 0009.
        Index("ix_coin_transactions_created_id", "created_at", "id"),
        Index("ix_coin_transactions_kind_created", "kind", "created_at", "id"),
        # The buyer's history pages newest first by id (GET /me/transactions?before=).
        Index("ix_coin_transactions_user_id_id", "user_id", "id"),
        # A session is charged once and refunded at most once, whatever runs twice.
        Index(
            "uq_coin_transactions_refund_per_session",
            "session_id",
            unique=True,
            postgresql_where=text("kind = 'refund'"),
            sqlite_where=text("kind = 'refund'"),
        ),
        Index(
            "uq_coin_transactions_purchase_per_session",
            "session_id",
            unique=True,
            postgresql_where=text("kind = 'purchase'"),
            sqlite_where=text("kind = 'purchase'"),
        ),
        # A payment is credited once, whatever the webhook delivers how often.
        Index(
            "uq_coin_transactions_topup_per_payment",
            "payment_id",
            unique=True,
            postgresql_where=text("kind = 'topup'"),
            sqlite_where=text("kind = 'topup'"),
        ),
    )

    id: Mapped[int] = mapped_column(BigIntKey, primary_key=True, autoincrement=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    delta: Mapped[int] = mapped_column(BigInteger)
    balance_after: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(500), default="")
    actor_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    session_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("vps_sessions.id", ondelete="SET NULL")
    )
    payment_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("payments.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    user = relationship("User", foreign_keys=[user_id])
    actor = relationship("User", foreign_keys=[actor_id])
