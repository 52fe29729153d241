"""Money in through Stripe: coin packs, payments and the webhook events received."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from vpsshop.extensions import db
from vpsshop.models.types import BigIntKey, UTCDateTime, new_uuid, utcnow


class PaymentStatus(enum.StrEnum):
    PENDING = "pending"
    PAID = "paid"
    FAILED = "failed"
    EXPIRED = "expired"
    REFUNDED = "refunded"
    PARTIALLY_REFUNDED = "partially_refunded"
    DISPUTED = "disputed"


# A payment in one of these may still be paid (a late webhook still credits it).
OPEN_PAYMENT_STATUSES = (PaymentStatus.PENDING,)
CREDITED_STATUSES = (
    PaymentStatus.PAID,
    PaymentStatus.REFUNDED,
    PaymentStatus.PARTIALLY_REFUNDED,
    PaymentStatus.DISPUTED,
)


class CoinPack(db.Model):
    __tablename__ = "coin_packs"
    __table_args__ = (
        CheckConstraint("coins > 0", name="coin_pack_coins_positive"),
        CheckConstraint("price_minor > 0", name="coin_pack_price_positive"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    name: Mapped[str] = mapped_column(String(120))
    coins: Mapped[int] = mapped_column(BigInteger)
    # In the currency's smallest unit (cents), as Stripe takes it.
    price_minor: Mapped[int] = mapped_column(BigInteger)
    # ISO 4217, lower case as Stripe writes it.
    currency: Mapped[str] = mapped_column(String(3))
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    def __str__(self) -> str:
        return self.name


class Payment(db.Model):
    __tablename__ = "payments"
    __table_args__ = (
        Index("ix_payments_user_created", "user_id", "created_at"),
        Index("ix_payments_status_created", "status", "created_at"),
        Index("ix_payments_payment_intent", "payment_intent"),
        CheckConstraint("coins_reversed >= 0", name="payment_reversed_not_negative"),
        CheckConstraint("coins_unrecovered >= 0", name="payment_unrecovered_not_negative"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    pack_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("coin_packs.id", ondelete="SET NULL")
    )
    # What was bought, copied from the pack: a later pack edit changes no payment.
    coins: Mapped[int] = mapped_column(BigInteger)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(24), default=PaymentStatus.PENDING.value)
    provider_session_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    payment_intent: Mapped[str | None] = mapped_column(String(255))
    checkout_url: Mapped[str | None] = mapped_column(Text)
    # Refunded so far, as the provider's charge says (minor units); reversals follow it.
    amount_refunded_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    coins_reversed: Mapped[int] = mapped_column(BigInteger, default=0)
    # Taken back but missing from the balance, until an admin settles it (account on hold).
    coins_unrecovered: Mapped[int] = mapped_column(BigInteger, default=0)
    # What settling wrote off: still counted as taken back by later refunds or disputes.
    coins_written_off: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    # Set when something about the payment needs an admin (e.g. an amount mismatch).
    flag: Mapped[str | None] = mapped_column(String(500))
    error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    settled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    settled_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )

    user = relationship("User", foreign_keys=[user_id])
    pack = relationship("CoinPack")
    settled_by = relationship("User", foreign_keys=[settled_by_id])

    @property
    def coins_taken_back(self) -> int:
        """Everything refunds and disputes claimed back, recovered or not."""
        return self.coins_reversed + self.coins_unrecovered + self.coins_written_off

    @property
    def needs_settling(self) -> bool:
        return self.coins_unrecovered > 0


class StripeEvent(db.Model):
    """One webhook delivery that passed the signature check; the event id is unique, so a
    redelivery (sequential or parallel) is recognised by the database."""

    __tablename__ = "stripe_events"
    __table_args__ = (
        Index("ix_stripe_events_received_at", "received_at"),
        Index("ix_stripe_events_payment_id", "payment_id"),
    )

    id: Mapped[int] = mapped_column(BigIntKey, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(255), unique=True)
    type: Mapped[str] = mapped_column(String(100))
    outcome: Mapped[str] = mapped_column(String(64))
    detail: Mapped[str] = mapped_column(String(500), default="")
    payment_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("payments.id", ondelete="SET NULL")
    )
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    payment = relationship("Payment")
