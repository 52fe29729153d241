"""Accounts and their API tokens."""

from __future__ import annotations

import uuid
from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String, Text, true
from sqlalchemy.orm import Mapped, mapped_column

from vpsshop.extensions import db
from vpsshop.models.types import UTCDateTime, new_uuid, utcnow


class User(UserMixin, db.Model):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("coins >= 0", name="coins_not_negative"),
        # The admin list's sort and its filter; migration 0009.
        Index("ix_users_created_at", "created_at"),
        Index("ix_users_admin_created", "is_admin", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    is_admin: Mapped[bool] = mapped_column(default=False)
    # Only services/ledger.py writes this column.
    coins: Mapped[int] = mapped_column(BigInteger, default=0)
    # Coins a refund or dispute could not take back (the balance was spent); above 0 the
    # account is on hold until an admin settles it (services/payments.py).
    coins_unrecovered: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    # Bumped on password change so that old login cookies stop working.
    session_version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Null until the address was confirmed (REQUIRE_EMAIL_VERIFICATION); users made by
    # create-user or an admin are confirmed when made.
    email_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Mail notices the user wants (security mails are always sent): servers, coins.
    notify_servers: Mapped[bool] = mapped_column(default=True, server_default=true())
    notify_coins: Mapped[bool] = mapped_column(default=True, server_default=true())
    # Two-factor sign-in (services/two_factor.py): the TOTP secret, encrypted; set at
    # setup, in force once ``totp_enabled_at`` is set. The last accepted time step makes
    # each code usable once.
    totp_secret_encrypted: Mapped[str | None] = mapped_column(Text)
    totp_enabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)
    # Suspension (services/suspension.py): set while an admin has suspended the account.
    suspended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    suspended_reason: Mapped[str | None] = mapped_column(String(500))

    @property
    def has_2fa(self) -> bool:
        return self.totp_enabled_at is not None

    @property
    def is_suspended(self) -> bool:
        return self.suspended_at is not None

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
    # The owner's label for it ("laptop", "CI"); empty for old tokens.
    name: Mapped[str] = mapped_column(String(100), default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Written at most once a minute (services/tokens.py), never on every request.
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # None: valid until revoked.
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
