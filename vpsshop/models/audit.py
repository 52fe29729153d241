"""Audit trail of admin changes other than coins (those live in the ledger)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from vpsshop.extensions import db
from vpsshop.models.types import BigIntKey, UTCDateTime, utcnow


class AuditEntry(db.Model):
    __tablename__ = "audit_entries"
    __table_args__ = (
        Index("ix_audit_entries_created_at", "created_at"),
        # The admin list's sort and filters; migration 0009.
        Index("ix_audit_entries_created_id", "created_at", "id"),
        Index("ix_audit_entries_target_created", "target_type", "created_at", "id"),
        Index("ix_audit_entries_target_id", "target_id", "created_at"),
        Index("ix_audit_entries_actor_created", "actor_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigIntKey, primary_key=True, autoincrement=True)
    actor_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(String(64))
    target_type: Mapped[str] = mapped_column(String(32))
    target_id: Mapped[str] = mapped_column(String(64))
    # JSON text; never holds secrets (tokens, passwords).
    details: Mapped[str] = mapped_column(Text, default="{}")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    actor = relationship("User")
