"""Vouchers: codes worth coins, and who redeemed which (once per voucher and user)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from vpsshop.extensions import db
from vpsshop.models.types import BigIntKey, UTCDateTime, new_uuid, utcnow


class Voucher(db.Model):
    __tablename__ = "vouchers"
    __table_args__ = (
        CheckConstraint("coins > 0", name="coins_positive"),
        CheckConstraint("max_redemptions >= 1", name="max_redemptions_positive"),
        # The backstop of the conditional UPDATE in services/vouchers.py: never over-redeemed.
        CheckConstraint(
            "redemptions >= 0 AND redemptions <= max_redemptions", name="redemptions_in_range"
        ),
        Index("ix_vouchers_created_at", "created_at"),
        Index("ix_vouchers_batch_id", "batch_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    # Upper case, as shown ("ABCD-EFGH-JKMN"); services/voucher_codes.py normalises input.
    code: Mapped[str] = mapped_column(String(32), unique=True)
    coins: Mapped[int] = mapped_column(BigInteger)
    max_redemptions: Mapped[int] = mapped_column(Integer, default=1)
    # Only the redemption's conditional UPDATE writes this column.
    redemptions: Mapped[int] = mapped_column(Integer, default=0)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    is_active: Mapped[bool] = mapped_column(default=True)
    note: Mapped[str] = mapped_column(String(500), default="")
    # Every voucher made by one create call shares a batch: the admin list filters and
    # exports one batch of printed codes by it.
    batch_id: Mapped[uuid.UUID] = mapped_column(default=new_uuid)
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    deactivated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    created_by = relationship("User", foreign_keys=[created_by_id])

    def __str__(self) -> str:
        return self.code


class VoucherRedemption(db.Model):
    __tablename__ = "voucher_redemptions"
    __table_args__ = (
        # One user redeems a voucher once, whatever runs in parallel: the database says so.
        UniqueConstraint("voucher_id", "user_id", name="uq_voucher_redemptions_voucher_user"),
        Index("ix_voucher_redemptions_user_id", "user_id"),
    )

    id: Mapped[int] = mapped_column(BigIntKey, primary_key=True, autoincrement=True)
    voucher_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("vouchers.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    # The ledger row that credited the coins.
    transaction_id: Mapped[int] = mapped_column(
        BigInteger,
        ForeignKey("coin_transactions.id", ondelete="CASCADE"),
        unique=True,
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    voucher = relationship("Voucher")
    user = relationship("User")
    transaction = relationship("CoinTransaction")
