"""List filters for aware UTC timestamps (Flask-Admin's own ones bind naive datetimes)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from flask_admin.contrib.sqla.filters import BaseSQLAFilter, FilterEqual
from flask_admin.model.filters import BaseDateFilter


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


class DayFromFilter(BaseSQLAFilter, BaseDateFilter):
    """Rows created on or after a day (UTC)."""

    def apply(self, query: Any, value: date, alias: Any = None) -> Any:
        return query.filter(self.get_column(alias) >= _start_of(value))

    def operation(self) -> str:
        return "on or after"


class DayUntilFilter(BaseSQLAFilter, BaseDateFilter):
    """Rows created on or before a day (UTC)."""

    def apply(self, query: Any, value: date, alias: Any = None) -> Any:
        return query.filter(self.get_column(alias) < _start_of(value + timedelta(days=1)))

    def operation(self) -> str:
        return "on or before"


class UuidEqualFilter(FilterEqual):
    """Rows whose UUID column equals the value (SQLite binds only ``uuid.UUID`` values)."""

    def validate(self, value: str) -> bool:
        try:
            uuid.UUID(value)
        except ValueError:
            return False
        return True

    def clean(self, value: str) -> uuid.UUID:
        return uuid.UUID(value)
