"""Closed days' dashboard figures, one row per UTC day, written once."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, Text
from sqlalchemy.orm import Mapped, mapped_column

from vpsshop.extensions import db
from vpsshop.models.types import UTCDateTime, utcnow


class DashboardDay(db.Model):
    """What the dashboard draws for one day that can no longer change (JSON)."""

    __tablename__ = "dashboard_days"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    figures: Mapped[str] = mapped_column(Text)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
