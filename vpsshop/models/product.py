"""Products on sale and the nodes that can host them."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, Column, ForeignKey, String, Table
from sqlalchemy.orm import Mapped, mapped_column, relationship

from vpsshop.extensions import db
from vpsshop.models.types import UTCDateTime, new_uuid, utcnow
from vpsshop.models.worker import Worker

PROVISION_ACTIONS = {1: "Linux", 2: "Windows", 3: "Test"}


def os_name_of(provision_action: int) -> str:
    """The system a provision action installs, as the catalogue names it."""
    return PROVISION_ACTIONS.get(provision_action, "Unknown")


vps_product_workers = Table(
    "vps_product_workers",
    db.metadata,
    Column("product_id", ForeignKey("vps_products.id", ondelete="CASCADE"), primary_key=True),
    Column("worker_id", ForeignKey("workers.id", ondelete="CASCADE"), primary_key=True),
)


class VpsProduct(db.Model):
    __tablename__ = "vps_products"
    __table_args__ = (
        CheckConstraint("price_coins > 0", name="price_positive"),
        CheckConstraint("provision_action IN (1, 2, 3)", name="provision_action_known"),
        CheckConstraint(
            "duration_minutes IS NULL OR duration_minutes > 0", name="duration_positive"
        ),
        CheckConstraint("extend_minutes IS NULL OR extend_minutes > 0", name="extend_positive"),
        CheckConstraint(
            "extend_price_coins IS NULL OR extend_price_coins > 0", name="extend_price_positive"
        ),
        CheckConstraint(
            "max_total_minutes IS NULL OR max_total_minutes > 0", name="max_total_positive"
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    name: Mapped[str] = mapped_column(String(100))
    price_coins: Mapped[int]
    provision_action: Mapped[int]
    duration_minutes: Mapped[int | None]
    is_active: Mapped[bool] = mapped_column(default=True)
    # A running session can buy this many more minutes at a time (null: not extendable),
    # for this price, up to this many minutes in all since it became ready (null: no cap).
    extend_minutes: Mapped[int | None]
    extend_price_coins: Mapped[int | None]
    max_total_minutes: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    workers: Mapped[list[Worker]] = relationship(secondary=vps_product_workers)

    @property
    def os_name(self) -> str:
        return os_name_of(self.provision_action)

    def __str__(self) -> str:
        return self.name
