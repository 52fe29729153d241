"""The dashboard's figures per UTC day: closed days read from one stored row each.

A day's ledger rows never change once it is over (the ledger only grows, each row dated
when it is written), and a day's sessions stop changing once none of them holds a slot.
The periodic sweep aggregates such a day once and keeps it in ``dashboard_days``
(``close_days``); the dashboard only reads: stored days from their rows, open days (today,
and back to the oldest session still holding a slot) live, each an index range. So a page
view writes nothing, and reads about the same number of rows at ten million ledger rows
as at ten thousand.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import Date, cast, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.elements import ColumnElement

from vpsshop.extensions import db
from vpsshop.models import ACTIVE_STATUSES, CoinTransaction, DashboardDay, VpsSession

# A day is closed this long after its midnight: a ledger row dated just before midnight
# is written by a transaction that commits well within it.
GRACE = timedelta(hours=1)


@dataclass
class DayFigures:
    """One day: coins by ledger kind and direction, sessions by (status, was ready),
    and the purchase-to-ready seconds of the sessions bought that day."""

    coins: dict[tuple[str, bool], int] = field(default_factory=dict)
    sessions: dict[tuple[str, bool], int] = field(default_factory=dict)
    ready_seconds: list[float] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(
            {
                "coins": [[kind, into, total] for (kind, into), total in self.coins.items()],
                "sessions": [[status, ready, n] for (status, ready), n in self.sessions.items()],
                "ready_seconds": sorted(self.ready_seconds),
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str) -> DayFigures:
        data = json.loads(text)
        return cls(
            coins={(kind, bool(incoming)): total for kind, incoming, total in data["coins"]},
            sessions={(status, bool(ready)): n for status, ready, n in data["sessions"]},
            ready_seconds=list(data["ready_seconds"]),
        )


def _utc_day(column) -> ColumnElement:
    # PostgreSQL keeps timestamptz and answers in the connection's zone; SQLite stores
    # the UTC text itself, so its date() is already the UTC day.
    if db.engine.dialect.name == "postgresql":
        return cast(func.timezone("UTC", column), Date)
    return func.date(column)


def _as_date(value: date | str) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def aggregate(first: date, last: date) -> dict[date, DayFigures]:
    """Every day from ``first`` to ``last`` (inclusive) aggregated live from the tables."""
    start, end = _midnight(first), _midnight(last + timedelta(days=1))
    days = {first + timedelta(days=n): DayFigures() for n in range((last - first).days + 1)}

    day = _utc_day(CoinTransaction.created_at).label("day")
    incoming = CoinTransaction.delta > 0
    for row_day, kind, is_in, total in db.session.execute(
        select(day, CoinTransaction.kind, incoming, func.sum(CoinTransaction.delta))
        .where(CoinTransaction.created_at >= start, CoinTransaction.created_at < end)
        .group_by(day, CoinTransaction.kind, incoming)
    ):
        days[_as_date(row_day)].coins[(kind, bool(is_in))] = abs(int(total or 0))

    day = _utc_day(VpsSession.created_at).label("day")
    was_ready = VpsSession.ready_at.is_not(None)
    for row_day, status, ready, count in db.session.execute(
        select(day, VpsSession.status, was_ready, func.count())
        .where(VpsSession.created_at >= start, VpsSession.created_at < end)
        .group_by(day, VpsSession.status, was_ready)
    ):
        days[_as_date(row_day)].sessions[(status, bool(ready))] = count

    for created, ready in db.session.execute(
        select(VpsSession.created_at, VpsSession.ready_at).where(
            VpsSession.created_at >= start,
            VpsSession.created_at < end,
            VpsSession.ready_at.is_not(None),
        )
    ):
        seconds = (ready - created).total_seconds()
        days[created.astimezone(UTC).date()].ready_seconds.append(seconds)
    for figures in days.values():
        figures.ready_seconds.sort()  # as stored, so a day reads the same either way
    return days


def first_open_day(now: datetime) -> date:
    """The oldest day that may still change: by the clock, or by the oldest session that
    holds a slot (its status, and whether it becomes ready, are still to come)."""
    by_clock = (now.astimezone(UTC) - GRACE).date()
    oldest_active = db.session.execute(
        select(func.min(VpsSession.created_at)).where(
            VpsSession.status.in_([str(status) for status in ACTIVE_STATUSES])
        )
    ).scalar_one_or_none()
    if oldest_active is None:
        return by_clock
    return min(by_clock, oldest_active.astimezone(UTC).date())


def _stored(first: date, last: date) -> dict[date, DayFigures]:
    rows = db.session.execute(
        select(DashboardDay.day, DashboardDay.figures).where(
            DashboardDay.day >= first, DashboardDay.day <= last
        )
    )
    return {day: DayFigures.from_json(figures) for day, figures in rows}


def store(days: dict[date, DayFigures]) -> None:
    """Keep closed days' figures (a day already kept stays as it is)."""
    if not days:
        return
    dialect = postgresql if db.engine.dialect.name == "postgresql" else sqlite
    rows = [
        {"day": day, "figures": figures.to_json(), "computed_at": datetime.now(UTC)}
        for day, figures in days.items()
    ]
    # Two sweeps closing the same day at once: the first row stays, both are equal.
    db.session.execute(dialect.insert(DashboardDay).values(rows).on_conflict_do_nothing())
    db.session.commit()


def _closed(day_list: list[date], now: datetime) -> tuple[dict[date, DayFigures], list[date]]:
    """The stored figures of ``day_list``'s closed days, and its closed days not stored."""
    first = day_list[0]
    closed_last = min(day_list[-1], first_open_day(now) - timedelta(days=1))
    if closed_last < first:
        return {}, []
    kept = _stored(first, closed_last)
    return kept, [day for day in day_list if day <= closed_last and day not in kept]


def close_days(day_list: list[date], now: datetime | None = None) -> int:
    """Aggregate and keep the closed days of ``day_list`` not kept yet (the sweep's step);
    returns how many it kept."""
    _, missing = _closed(day_list, now or datetime.now(UTC))
    if not missing:
        db.session.rollback()
        return 0
    computed = aggregate(missing[0], missing[-1])
    store({day: computed[day] for day in missing})
    return len(missing)


def figures(day_list: list[date], now: datetime | None = None) -> dict[date, DayFigures]:
    """Each day's figures, writing nothing: closed days from ``dashboard_days``, the rest
    (open days, and a closed day the sweep has not kept yet) aggregated now."""
    if not day_list:
        return {}
    now = now or datetime.now(UTC)
    found, _ = _closed(day_list, now)
    live = [day for day in day_list if day not in found]
    if live:
        found.update(aggregate(live[0], live[-1]))
    return defaultdict(DayFigures, found)
