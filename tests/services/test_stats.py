"""The dashboard's figures: coins per day by kind, sessions by outcome, p50/p95, nodes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import parametrize_database
from tests.fixtures.dashboard_data import seed_dashboard
from vpsshop.services import stats


def pytest_generate_tests(metafunc) -> None:
    parametrize_database(metafunc)


@pytest.fixture
def seeded(app, db):
    # Noon: the seeded "now minus a few minutes" rows stay on the same UTC day.
    now = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
    return now, seed_dashboard(now)


def test_coins_per_day_by_kind(seeded):
    now, _ = seeded
    days, coins_in, coins_out = stats.coin_flows(30, now)
    assert len(days) == 30 and days[-1] == now.date()
    assert coins_in["Vouchers"][-1] == 50
    assert coins_in["Top-ups"][-1] == 200
    assert coins_in["Grants"][-2] == 30  # the 40-day-old grant is outside the window
    assert sum(coins_in["Grants"]) == 30
    assert coins_in["Refunds"][-2] == 5
    assert coins_in["Other in"][-8] == 4  # a kind no chart knows yet still shows
    assert coins_out["Purchases"][-1] == 5 and coins_out["Purchases"][-8] == 5
    assert coins_out["Extensions"][-1] == 3
    assert coins_out["Other out"][-8] == 7  # admin_set down


def test_sessions_by_outcome_and_provisioning_percentiles(seeded):
    now, _ = seeded
    started = stats.sessions_started(30, now)
    assert started["served"][-1] == 1 and started["in progress"][-1] == 1
    assert started["served"][-2] == 2 and started["failed"][-2] == 1
    assert started["lost"][-8] == 1 and started["stopped before ready"][-8] == 1
    assert started["served"][-8] == 1
    p50, p95 = stats.provisioning_times(30, now)
    assert (p50[-1], p95[-1]) == (12, 12)
    assert (p50[-2], p95[-2]) == (20, 40)
    assert (p50[-8], p95[-8]) == (30, 90)
    assert p50[-3] is None


def test_nodes_and_alerts(seeded):
    _, seed = seeded
    nodes = {node.name: node for node in stats.node_slots()}
    assert nodes["node-green"].used == 2  # ready and provisioning: the active ones
    assert nodes["node-green"].free == 2
    assert nodes["node-<b>sick</b>"].free == 0 and not nodes["node-<b>sick</b>"].healthy
    assert nodes["node-off"].free == 0 and not nodes["node-off"].enabled
    kinds = {(alert.kind, alert.message) for alert in stats.alerts(list(nodes.values()), 0)}
    assert ("sold_out", "Sold out: Windows <XL> (no node has a free slot).") in kinds
    assert any(kind == "node_unhealthy" and "sick" in message for kind, message in kinds)
    assert not any(kind == "jobs_failed" for kind, _ in kinds)
    assert ("jobs_failed", "3 failed job(s) in the queue.") in {
        (a.kind, a.message) for a in stats.alerts(list(nodes.values()), 3)
    }


@pytest.mark.parametrize(
    ("values", "fraction", "expected"),
    [([], 0.5, None), ([5], 0.95, 5), ([1, 2, 3, 4], 0.5, 2), ([4, 3, 2, 1], 0.95, 4)],
)
def test_percentile(values, fraction, expected):
    assert stats.percentile(values, fraction) == expected


def test_day_range_is_utc_days():
    start, days = stats.day_range(3, datetime(2026, 3, 1, 0, 30, tzinfo=UTC) + timedelta(0))
    assert start == datetime(2026, 2, 27, tzinfo=UTC)
    assert [d.isoformat() for d in days] == ["2026-02-27", "2026-02-28", "2026-03-01"]


def test_dashboard_data_is_one_call(seeded):
    data = stats.dashboard_data()
    assert data.days and data.nodes and data.alerts
    assert data.active_sessions["ready"] == 2
