"""A user's VM session and its lifecycle states."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from vpsshop.extensions import db
from vpsshop.models.product import VpsProduct
from vpsshop.models.types import UTCDateTime, new_uuid, utcnow
from vpsshop.models.user import User
from vpsshop.models.worker import Worker


class SessionStatus(enum.StrEnum):
    PENDING = "pending"
    PROVISIONING = "provisioning"
    READY = "ready"
    STOPPING = "stopping"
    DELETED = "deleted"
    EXPIRED = "expired"
    FAILED = "failed"
    # Was ready, then its node no longer knew the VM (node restarted or lost it).
    LOST = "lost"


# Sessions that hold a slot on their worker.
ACTIVE_STATUSES = (
    SessionStatus.PENDING,
    SessionStatus.PROVISIONING,
    SessionStatus.READY,
    SessionStatus.STOPPING,
)
FINAL_STATUSES = (
    SessionStatus.DELETED,
    SessionStatus.EXPIRED,
    SessionStatus.FAILED,
    SessionStatus.LOST,
)


class VpsSession(db.Model):
    __tablename__ = "vps_sessions"
    __table_args__ = (
        Index("ix_vps_sessions_worker_status", "worker_id", "status"),
        Index("ix_vps_sessions_user_created", "user_id", "created_at"),
        Index("ix_vps_sessions_status", "status"),
        # Newest-first lists (admin sessions view); migration 0002.
        Index("ix_vps_sessions_created_id", "created_at", "id"),
        # The admin list's filters, each with its newest-first sort; migration 0009.
        Index("ix_vps_sessions_status_created", "status", "created_at", "id"),
        Index("ix_vps_sessions_worker_created", "worker_id", "created_at", "id"),
        Index("ix_vps_sessions_product_created", "product_id", "created_at", "id"),
        UniqueConstraint("user_id", "idempotency_key", name="uq_vps_sessions_user_idem"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    product_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("vps_products.id"))
    worker_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("workers.id", ondelete="SET NULL")
    )
    worker_route: Mapped[str | None] = mapped_column(String(128))
    log_url: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default=SessionStatus.PENDING)
    price_coins: Mapped[int]
    rdp_host: Mapped[str | None] = mapped_column(String(255))
    rdp_port: Mapped[int | None]
    rdp_user: Mapped[str | None] = mapped_column(String(255))
    # Fernet token (services/crypto.py); the plaintext never touches the database.
    rdp_password_encrypted: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(String(500))
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    # JSON list of worker ids already tried by the provision job (failover).
    tried_worker_ids: Mapped[str] = mapped_column(Text, default="[]")
    stop_attempts: Mapped[int] = mapped_column(default=0)
    # What the session becomes once its VM is stopped: deleted, expired (or failed).
    stop_reason: Mapped[str | None] = mapped_column(String(16))
    # Set when the node confirmed the stop; a failed session may still await it.
    vm_stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    rq_job_id: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    ready_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()
    product: Mapped[VpsProduct] = relationship()
    worker: Mapped[Worker | None] = relationship()

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES
