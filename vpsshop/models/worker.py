"""Worker nodes that create the VMs."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from vpsshop.extensions import db
from vpsshop.models.types import UTCDateTime, new_uuid, utcnow


class WorkerStatus(enum.StrEnum):
    ACTIVE = "active"
    DISABLED = "disabled"


class Worker(db.Model):
    __tablename__ = "workers"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    base_url: Mapped[str] = mapped_column(String(500))
    # Fernet token of the node's API token (services/crypto.py); never shown back.
    token_encrypted: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default=WorkerStatus.ACTIVE)
    max_sessions: Mapped[int] = mapped_column(default=3)
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(String(500))
    last_error_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    consecutive_failures: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    def __str__(self) -> str:
        return self.name
