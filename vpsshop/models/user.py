"""Accounts and their API tokens."""

from __future__ import annotations

import uuid
from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String, true
from sqlalchemy.orm import Mapped, mapped_column

from vpsshop.extensions import db
from vpsshop.models.types import UTCDateTime, new_uuid, utcnow


class User(UserMixin, db.Model):
    __tablename__ = "users"
    __table_args__ = (CheckConstraint("coins >= 0", name="coins_not_negative"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    is_admin: Mapped[bool] = mapped_column(default=False)
    # Only services/ledger.py writes this column.
    coins: Mapped[int] = mapped_column(BigInteger, default=0)
    # Bumped on password change so that old login cookies stop working.
    session_version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Null until the address was confirmed (REQUIRE_EMAIL_VERIFICATION); users made by
    # create-user or an admin are confirmed when made.
    email_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Mail notices the user wants (security mails are always sent): servers, coins.
    notify_servers: Mapped[bool] = mapped_column(default=True, server_default=true())
    notify_coins: Mapped[bool] = mapped_column(default=True, server_default=true())

    def get_id(self) -> str:
        return f"{self.id}:{self.session_version}"

    def __repr__(self) -> str:
        return f"<User {self.email}>"

    def __str__(self) -> str:
        return self.email


class ApiToken(db.Model):
    __tablename__ = "api_tokens"
    __table_args__ = (Index("ix_api_tokens_user_id", "user_id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    # SHA-256 of the token; the token itself is shown once and never stored.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
