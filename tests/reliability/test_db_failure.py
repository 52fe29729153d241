"""A PostgreSQL error in the middle of a purchase: no coins without a session, nor the reverse."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import text

from tests.helpers import coins, get_csrf_token
from tests.reliability.conftest import row_counts
from vpsshop.extensions import db as _db
from vpsshop.queue import get_queue

pytestmark = pytest.mark.usefixtures("invariant")

FUNCTION = "reliability_test_fail"
# Where the purchase transaction breaks: each write it makes, and the commit itself.
BREAK_POINTS = {
    "session insert": "BEFORE INSERT ON vps_sessions FOR EACH ROW",
    "balance update": "BEFORE UPDATE ON users FOR EACH ROW",
    "ledger insert": "BEFORE INSERT ON coin_transactions FOR EACH ROW WHEN (NEW.kind = 'purchase')",
}


@pytest.fixture
def break_db(app) -> Iterator[Callable[[str], None]]:
    """``break_db(point)``: a trigger that raises at that point; all dropped at teardown."""
    created: list[tuple[str, str]] = []

    def install(point: str) -> None:
        name = f"reliability_break_{len(created)}"
        with _db.engine.begin() as conn:
            conn.execute(
                text(
                    f"CREATE OR REPLACE FUNCTION {FUNCTION}() RETURNS trigger AS $$ "
                    "BEGIN RAISE EXCEPTION 'injected failure'; END $$ LANGUAGE plpgsql"
                )
            )
            if point == "commit":
                # A deferred constraint trigger fires at COMMIT, after every write succeeded.
                table = "coin_transactions"
                conn.execute(
                    text(
                        f"CREATE CONSTRAINT TRIGGER {name} AFTER INSERT ON {table} "
                        "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW "
                        f"WHEN (NEW.kind = 'purchase') EXECUTE FUNCTION {FUNCTION}()"
                    )
                )
            else:
                table = BREAK_POINTS[point].split(" ON ")[1].split()[0]
                conn.execute(
                    text(
                        f"CREATE TRIGGER {name} {BREAK_POINTS[point]} EXECUTE FUNCTION {FUNCTION}()"
                    )
                )
        created.append((name, table))

    yield install
    _db.session.rollback()
    with _db.engine.begin() as conn:
        for name, table in created:
            conn.execute(text(f"DROP TRIGGER IF EXISTS {name} ON {table}"))
        conn.execute(text(f"DROP FUNCTION IF EXISTS {FUNCTION}()"))


@pytest.mark.parametrize("point", [*BREAK_POINTS, "commit"])
def test_a_failed_write_leaves_neither_coins_taken_nor_a_session(
    point, break_db, client, api_token, make_user, make_worker, make_product
):
    product = make_product([make_worker()], price=4)
    user = make_user(coins=10)
    headers = {"Authorization": f"Bearer {api_token(user)}"}
    before = row_counts()
    break_db(point)

    response = client.post(
        "/api/v1/vps/purchase-and-create", json={"product_id": str(product.id)}, headers=headers
    )
    assert response.status_code == 500
    assert response.get_json()["error"] == "internal_error"
    assert row_counts() == before
    assert coins(user.id) == 10
    assert get_queue().count == 0  # nothing enqueued for a session that does not exist


def test_the_purchase_form_fails_cleanly_and_works_once_the_database_does(
    break_db, client, login, make_user, make_worker, make_product
):
    product = make_product([make_worker()], price=4)
    user = make_user(coins=10)
    login(user)
    before = row_counts()
    break_db("commit")
    token = get_csrf_token(client, f"/buy/{product.id}")
    response = client.post(
        f"/buy/{product.id}", data={"csrf_token": token, "purchase_key": "a" * 30}
    )
    assert response.status_code == 500
    assert "Something went wrong" in response.get_data(as_text=True)
    assert row_counts() == before and coins(user.id) == 10

    with _db.engine.begin() as conn:  # the database recovers
        conn.execute(text("DROP TRIGGER reliability_break_0 ON coin_transactions"))
    # The same page (same purchase key) again: charged once now, not twice.
    for _ in range(2):
        response = client.post(
            f"/buy/{product.id}", data={"csrf_token": token, "purchase_key": "a" * 30}
        )
        assert response.status_code == 302
    assert coins(user.id) == 6
    assert row_counts()["vps_sessions"] == before["vps_sessions"] + 1
