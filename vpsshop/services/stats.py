"""Operator figures read from the database and Redis: the admin dashboard and /metrics.

``dashboard_data()`` is the one call that measures the dashboard's queries (``bench/``).
Each one is bounded by an index or by the days it covers: per-day figures come from
``day_figures`` (closed days stored once, open days an index range of ``created_at``),
sessions by ``status``, nodes by ``ix_vps_sessions_worker_status``.
"""

from __future__ import annotations

import math
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from redis.exceptions import RedisError
from sqlalchemy import func, select

from vpsshop.extensions import db
from vpsshop.models import (
    ACTIVE_STATUSES,
    CoinTransaction,
    SessionStatus,
    TransactionKind,
    User,
    VpsProduct,
    VpsSession,
    Worker,
    WorkerStatus,
)
from vpsshop.services import day_figures
from vpsshop.services import workers as worker_service
from vpsshop.services.day_figures import DayFigures

CHART_DAYS = 30
# Ledger kinds drawn as their own series; the other helpers' kinds are named here so a
# merge needs no chart change. A kind missing here is drawn as "Other in" / "Other out".
COINS_IN_SERIES = {
    "voucher": "Vouchers",
    "topup": "Top-ups",
    TransactionKind.ADMIN_ADD.value: "Grants",
    "signup": "Sign-up coins",
    TransactionKind.REFUND.value: "Refunds",
}
COINS_OUT_SERIES = {
    TransactionKind.PURCHASE.value: "Purchases",
    "extend": "Extensions",
    TransactionKind.ADMIN_SUB.value: "Admin removals",
    "topup_reversal": "Top-up reversals",
}
OTHER_IN, OTHER_OUT = "Other in", "Other out"
# How a session started on a day ended up (its status now, and whether it was ever ready).
OUTCOMES = ("served", "in progress", "failed", "lost", "stopped before ready")


@dataclass(frozen=True)
class NodeSlots:
    """One node's slots now; ``name`` only, never its URL."""

    id: uuid.UUID
    name: str
    used: int
    max_sessions: int
    enabled: bool
    healthy: bool

    @property
    def free(self) -> int:
        """Slots a purchase can take now: none on a disabled or unhealthy node."""
        if not (self.enabled and self.healthy):
            return 0
        return max(0, self.max_sessions - self.used)


@dataclass(frozen=True)
class Alert:
    kind: str  # "sold_out", "node_unhealthy", "jobs_failed", "redis_unavailable"
    message: str


@dataclass
class DashboardData:
    """Everything the dashboard draws, one value per day over ``days``."""

    days: list[date]
    coins_in: dict[str, list[int]]
    coins_out: dict[str, list[int]]
    sessions_started: dict[str, list[int]]
    provisioning_p50: list[float | None]
    provisioning_p95: list[float | None]
    nodes: list[NodeSlots]
    active_sessions: dict[str, int]
    failed_jobs: int | None
    alerts: list[Alert] = field(default_factory=list)


def day_range(days: int, now: datetime | None = None) -> tuple[datetime, list[date]]:
    """The UTC midnight ``days - 1`` days before today, and each day from it to today."""
    today = (now or datetime.now(UTC)).astimezone(UTC).date()
    first = today - timedelta(days=days - 1)
    return datetime.combine(first, time(), tzinfo=UTC), [
        first + timedelta(days=n) for n in range(days)
    ]


def coin_series(
    day_list: list[date], days: dict[date, DayFigures]
) -> tuple[dict[str, list[int]], dict[str, list[int]]]:
    """Coins in and out per day, by series (COINS_IN_SERIES / COINS_OUT_SERIES)."""
    sums: dict[tuple[date, str], int] = defaultdict(int)
    for day in day_list:
        for (kind, incoming), total in days[day].coins.items():
            if incoming:
                series = COINS_IN_SERIES.get(kind, OTHER_IN)
            else:
                series = COINS_OUT_SERIES.get(kind, OTHER_OUT)
            sums[(day, series)] += total
    seen = {series for _, series in sums}
    in_names = [*dict.fromkeys([*COINS_IN_SERIES.values(), OTHER_IN])]
    out_names = [*dict.fromkeys([*COINS_OUT_SERIES.values(), OTHER_OUT])]

    def table(names: list[str]) -> dict[str, list[int]]:
        # A series with no coins in the window is left out of the chart and its table.
        return {
            name: [sums.get((d, name), 0) for d in day_list]
            for name in names
            if name in seen or name in ("Purchases", "Grants")
        }

    return table(in_names), table(out_names)


def coin_flows(
    days: int = CHART_DAYS, now: datetime | None = None
) -> tuple[list[date], dict[str, list[int]], dict[str, list[int]]]:
    """Coins in and out per UTC day, by series (COINS_IN_SERIES / COINS_OUT_SERIES)."""
    _, day_list = day_range(days, now)
    coins_in, coins_out = coin_series(day_list, day_figures.figures(day_list, now))
    return day_list, coins_in, coins_out


def _outcome(status: str, was_ready: bool) -> str:
    if status == SessionStatus.FAILED:
        return "failed"
    if status == SessionStatus.LOST:
        return "lost"
    if status in (SessionStatus.PENDING, SessionStatus.PROVISIONING):
        return "in progress"
    return "served" if was_ready else "stopped before ready"


def outcome_series(day_list: list[date], days: dict[date, DayFigures]) -> dict[str, list[int]]:
    """Sessions created per day, by what became of them (OUTCOMES)."""
    counts: dict[tuple[date, str], int] = defaultdict(int)
    for day in day_list:
        for (status, ready), count in days[day].sessions.items():
            counts[(day, _outcome(status, ready))] += count
    return {outcome: [counts.get((d, outcome), 0) for d in day_list] for outcome in OUTCOMES}


def sessions_started(days: int = CHART_DAYS, now: datetime | None = None) -> dict[str, list[int]]:
    """Sessions created per UTC day, by what became of them (OUTCOMES)."""
    _, day_list = day_range(days, now)
    return outcome_series(day_list, day_figures.figures(day_list, now))


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """The nearest-rank percentile of ``values`` (None for none)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def _ready_durations(start: datetime) -> list[tuple[datetime, float]]:
    rows = db.session.execute(
        select(VpsSession.created_at, VpsSession.ready_at).where(
            VpsSession.created_at >= start, VpsSession.ready_at.is_not(None)
        )
    ).all()
    return [(created, (ready - created).total_seconds()) for created, ready in rows]


def percentile_series(
    day_list: list[date], days: dict[date, DayFigures]
) -> tuple[list[float | None], list[float | None]]:
    """Purchase-to-ready seconds, p50 and p95 per day of purchase."""
    return (
        [percentile(days[d].ready_seconds, 0.5) for d in day_list],
        [percentile(days[d].ready_seconds, 0.95) for d in day_list],
    )


def provisioning_times(
    days: int = CHART_DAYS, now: datetime | None = None
) -> tuple[list[float | None], list[float | None]]:
    """Seconds from purchase to ready, p50 and p95 per UTC day of purchase."""
    _, day_list = day_range(days, now)
    return percentile_series(day_list, day_figures.figures(day_list, now))


def recent_provisioning_seconds(hours: int = 24) -> list[float]:
    """Purchase-to-ready seconds of the sessions bought in the last ``hours``."""
    start = datetime.now(UTC) - timedelta(hours=hours)
    return [seconds for _, seconds in _ready_durations(start)]


def node_slots() -> list[NodeSlots]:
    """Every node's used and free slots, health and whether it is enabled, by name."""
    nodes = db.session.execute(select(Worker).order_by(Worker.name)).scalars().all()
    used = worker_service.active_session_counts([node.id for node in nodes])
    return [
        NodeSlots(
            id=node.id,
            name=node.name,
            used=used.get(node.id, 0),
            max_sessions=node.max_sessions,
            enabled=node.status == WorkerStatus.ACTIVE,
            healthy=worker_service.is_healthy(node),
        )
        for node in nodes
    ]


def active_sessions_by_status() -> dict[str, int]:
    """Sessions holding a slot, per status (an index range on ``status``)."""
    rows = db.session.execute(
        select(VpsSession.status, func.count())
        .where(VpsSession.status.in_([str(status) for status in ACTIVE_STATUSES]))
        .group_by(VpsSession.status)
    ).all()
    counts = {str(status): 0 for status in ACTIVE_STATUSES}
    counts.update({status: count for status, count in rows})
    return counts


def coins_in_circulation() -> int:
    """The sum of every user's balance."""
    return int(db.session.execute(select(func.coalesce(func.sum(User.coins), 0))).scalar_one())


def coins_today() -> dict[str, int]:
    """Coins spent on purchases and refunded since UTC midnight."""
    midnight, _ = day_range(1)
    rows = db.session.execute(
        select(CoinTransaction.kind, func.coalesce(func.sum(CoinTransaction.delta), 0))
        .where(
            CoinTransaction.created_at >= midnight,
            CoinTransaction.kind.in_([TransactionKind.PURCHASE, TransactionKind.REFUND]),
        )
        .group_by(CoinTransaction.kind)
    ).all()
    sums = dict(rows)
    return {
        "spent": -int(sums.get(TransactionKind.PURCHASE.value, 0)),
        "refunded": int(sums.get(TransactionKind.REFUND.value, 0)),
    }


def sold_out_products() -> list[str]:
    """Names of active products no node can take a session for now."""
    products = db.session.execute(
        select(VpsProduct.id, VpsProduct.name)
        .where(VpsProduct.is_active.is_(True))
        .order_by(VpsProduct.name)
    ).all()
    available = worker_service.available_product_ids([row.id for row in products])
    return [row.name for row in products if row.id not in available]


def queue_counts() -> dict[str, tuple[int, int]] | None:
    """{queue name: (jobs waiting, failed jobs)} for every queue a worker serves, or None
    when Redis does not answer."""
    from rq.registry import FailedJobRegistry

    from vpsshop.queue import worker_queues

    try:
        return {
            queue.name: (queue.count, FailedJobRegistry(queue=queue).count)
            for queue in worker_queues()
        }
    except RedisError:
        return None


def failed_jobs_count() -> int | None:
    """Failed RQ jobs, or None when Redis cannot be reached (the page still renders)."""
    counts = queue_counts()
    return None if counts is None else sum(failed for _, failed in counts.values())


def alerts(nodes: list[NodeSlots], failed_jobs: int | None) -> list[Alert]:
    """What an operator should look at now: sold-out products, sick nodes, failed jobs."""
    found = [
        Alert("sold_out", f"Sold out: {name} (no node has a free slot).")
        for name in sold_out_products()
    ]
    found += [
        Alert("node_unhealthy", f"Node {node.name} is unhealthy and gets no new sessions.")
        for node in nodes
        if node.enabled and not node.healthy
    ]
    if failed_jobs is None:
        found.append(Alert("redis_unavailable", "Redis does not answer: jobs cannot run."))
    elif failed_jobs:
        found.append(Alert("jobs_failed", f"{failed_jobs} failed job(s) in the queue."))
    return found


def dashboard_data(days: int = CHART_DAYS, now: datetime | None = None) -> DashboardData:
    """Every figure of the admin dashboard (the bench times this call)."""
    _, day_list = day_range(days, now)
    per_day = day_figures.figures(day_list, now)
    coins_in, coins_out = coin_series(day_list, per_day)
    p50, p95 = percentile_series(day_list, per_day)
    nodes = node_slots()
    failed = failed_jobs_count()
    return DashboardData(
        days=day_list,
        coins_in=coins_in,
        coins_out=coins_out,
        sessions_started=outcome_series(day_list, per_day),
        provisioning_p50=p50,
        provisioning_p95=p95,
        nodes=nodes,
        active_sessions=active_sessions_by_status(),
        failed_jobs=failed,
        alerts=alerts(nodes, failed),
    )
