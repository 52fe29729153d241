"""Small helpers shared by the tests."""

from __future__ import annotations

import re

from flask.testing import FlaskClient
from sqlalchemy import text

from vpsshop.extensions import db as _db

DEFAULT_PASSWORD = "correct horse battery"

_CSRF_RE = re.compile(
    r'name="csrf_token" type="hidden" value="([^"]+)"|'
    r'name="csrf_token" value="([^"]+)"'
)


def csrf_token_from(html: str) -> str:
    match = _CSRF_RE.search(html)
    assert match, "no CSRF token in the page"
    return match.group(1) or match.group(2)


def get_csrf_token(client: FlaskClient, path: str = "/login") -> str:
    return csrf_token_from(client.get(path).get_data(as_text=True))


def assert_ledger_invariant() -> None:
    """For every user: coins == sum of ledger deltas, and coins >= 0."""
    _db.session.expire_all()
    rows = _db.session.execute(
        text(
            "SELECT u.id, u.coins, COALESCE(SUM(t.delta), 0) FROM users u "
            "LEFT JOIN coin_transactions t ON t.user_id = u.id GROUP BY u.id, u.coins"
        )
    ).all()
    for user_id, coins, total in rows:
        assert coins == total, f"user {user_id}: coins {coins} != ledger sum {total}"
        assert coins >= 0, f"user {user_id}: negative balance {coins}"
