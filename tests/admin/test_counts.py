"""The admin lists' pager count: exact up to a bound, the planner's estimate past it."""

from __future__ import annotations

import pytest
from sqlalchemy import func, text

from vpsshop.admin import counts
from vpsshop.admin.counts import EstimatedCountQuery
from vpsshop.extensions import db as _db
from vpsshop.models import CoinTransaction
from vpsshop.services import ledger


def _count_query() -> EstimatedCountQuery:
    return EstimatedCountQuery(func.count("*"), session=_db.session()).select_from(CoinTransaction)


def _grants(make_user, count: int) -> None:
    user = make_user(coins=0)
    for _ in range(count):
        ledger.add(user.id, 1, reason="grant")
    ledger.sub(user.id, 1, reason="take one back")
    _db.session.commit()


def test_counts_are_exact_below_the_bound(db, make_user):
    _grants(make_user, 11)
    assert _count_query().scalar() == 12  # 11 adds and one sub
    kind = CoinTransaction.kind == "admin_sub"
    assert _count_query().filter(kind).scalar() == 1


@pytest.mark.postgresql_only
def test_past_the_bound_the_pager_shows_the_planners_estimate(db, make_user, monkeypatch):
    _grants(make_user, 11)
    _db.session.execute(text("ANALYZE coin_transactions"))
    _db.session.commit()
    monkeypatch.setattr(counts, "EXACT_UP_TO", 5)
    # Fresh statistics of a small table: the estimate is the table's row count.
    assert _count_query().scalar() == 12
    # A filter that matches fewer rows than the bound is still counted exactly.
    assert _count_query().filter(CoinTransaction.kind == "admin_sub").scalar() == 1


@pytest.mark.postgresql_only
def test_the_estimate_is_never_below_what_was_counted(db, make_user, monkeypatch):
    _grants(make_user, 11)
    monkeypatch.setattr(counts, "EXACT_UP_TO", 5)
    monkeypatch.setattr(counts, "planner_rows", lambda query: 1)
    assert _count_query().scalar() == 6


def test_the_ledger_list_pages_with_an_estimated_count(admin_client, db, make_user, monkeypatch):
    _grants(make_user, 11)
    monkeypatch.setattr(counts, "EXACT_UP_TO", 5)
    page = admin_client.get("/admin/ledger/")
    assert page.status_code == 200
    assert page.get_data(as_text=True).count("take one back") == 1
    filtered = admin_client.get("/admin/ledger/?flt0_kind_equals=admin_sub")
    assert filtered.status_code == 200
    assert "take one back" in filtered.get_data(as_text=True)
