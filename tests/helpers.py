"""Small helpers shared by the tests."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from flask.testing import FlaskClient
from sqlalchemy import event, func, select, text

from vpsshop.extensions import db as _db
from vpsshop.models import CoinTransaction, User, VpsSession

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


@contextmanager
def sql_statements() -> Iterator[list[str]]:
    """The SQL statements sent to the database inside the block, in order."""
    statements: list[str] = []

    def record(_conn, _cursor, statement, *_args) -> None:
        statements.append(statement)

    event.listen(_db.engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(_db.engine, "before_cursor_execute", record)


def register(
    client: FlaskClient,
    email: str,
    password: str = DEFAULT_PASSWORD,
    confirm: str | None = None,
    address: str = "127.0.0.1",
):
    """Post the sign-up form (``confirm`` defaults to the password) from ``address``."""
    token = get_csrf_token(client, "/register")
    return client.post(
        "/register",
        data={
            "email": email,
            "password": password,
            "confirm": password if confirm is None else confirm,
            "csrf_token": token,
        },
        environ_base={"REMOTE_ADDR": address},
    )


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


def fresh(session_id) -> VpsSession:
    """The session as the database has it now, not as this test last saw it."""
    _db.session.expire_all()
    return _db.session.get(VpsSession, session_id)


def status_is(session_id, *statuses) -> Callable[[], bool]:
    return lambda: fresh(session_id).status in statuses


def refunds(session_id) -> int:
    return _db.session.execute(
        select(func.count()).where(
            CoinTransaction.session_id == session_id, CoinTransaction.kind == "refund"
        )
    ).scalar()


def coins(user_id) -> int:
    _db.session.expire_all()
    return _db.session.get(User, user_id).coins


# Short node timeouts and fast job ticks for tests that run a real worker against
# simulated nodes and wait for the session to move.
QUICK_JOBS = {
    "NODE_CONNECT_TIMEOUT": 1.0,
    "NODE_READ_TIMEOUT": 2.0,
    "NODE_LOG_READ_TIMEOUT": 2.0,
    "WATCH_INTERVAL_SECONDS": 0.2,
    "JOB_HEARTBEAT_SECONDS": 2.0,
    "SCHEDULER_TICK_SECONDS": 0.2,
}


def totp_code(secret: str, steps_from_now: int = 0) -> str:
    """The RFC 6238 code of ``secret`` for the time step ``steps_from_now`` away, computed
    here from the secret as an authenticator app does."""
    import time

    import pyotp

    return pyotp.TOTP(secret).at(time.time(), counter_offset=steps_from_now)


def enable_two_factor(user: User) -> tuple[str, list[str]]:
    """Turn 2FA on for ``user`` through the service, with a code of the previous time step,
    so that the current step's code is still unused; returns (secret, recovery codes)."""
    import time

    import pyotp

    from vpsshop.services import two_factor

    secret = two_factor.start_setup(user)
    earlier = time.time() - 30
    codes = two_factor.enable(user, pyotp.TOTP(secret).at(earlier), at=earlier)
    _db.session.commit()
    return secret, codes


def two_step_login(client: FlaskClient, user: User, code: str, password: str | None = None):
    """Both sign-in steps through the real forms; returns the code step's answer."""
    token = get_csrf_token(client)
    first = client.post(
        "/login",
        data={"email": user.email, "password": password or DEFAULT_PASSWORD, "csrf_token": token},
    )
    assert first.status_code == 302 and first.headers["Location"].endswith("/login/code"), (
        first.status_code,
        first.get_data(as_text=True)[:300],
    )
    token = get_csrf_token(client, "/login/code")
    return client.post("/login/code", data={"code": code, "csrf_token": token})
