"""Fixtures of the reliability suite: small timeouts, fault servers, session helpers."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import func, select, text

from tests.fixtures.jobs import all_done
from tests.helpers import DEFAULT_PASSWORD, assert_ledger_invariant
from vpsshop.extensions import db as _db
from vpsshop.models import User
from vpsshop.queue import get_redis, worker_queues
from vpsshop.rq_worker import AppSimpleWorker
from vpsshop.services import accounts, ledger
from vpsshop.services.tokens import issue_token

FINAL = ("deleted", "expired", "failed")

# Real timeouts are 3 s connect and 10 s (create, stop) or 5 s (log) read. They are
# scaled down here so that "slower than the read timeout" costs a second, not ten: the
# code paths are the same, only the numbers differ.
FAST_TIMEOUTS = {
    "NODE_CONNECT_TIMEOUT": 0.5,
    "NODE_READ_TIMEOUT": 0.8,
    "NODE_LOG_READ_TIMEOUT": 0.5,
    "WATCH_INTERVAL_SECONDS": 0.1,
    "STOP_RETRY_BASE_SECONDS": 0.1,
    "STOP_RETRY_MAX_SECONDS": 0.3,
    "PROVISION_TIMEOUT_SECONDS": 60,
    "JOB_LEASE_SECONDS": 5.0,
    "JOB_HEARTBEAT_SECONDS": 2.0,
    "SCHEDULER_TICK_SECONDS": 0.2,
    "LOG_CACHE_SECONDS": 0.2,
    # Failures must not take a node out of rotation in the middle of a test.
    "NODE_UNHEALTHY_AFTER": 1000,
    # Server-sent events end fast, so GETting every route never blocks.
    "EVENTS_MAX_SECONDS": 0.3,
}


@pytest.fixture
def app_config() -> dict:
    return dict(FAST_TIMEOUTS)


@pytest.fixture
def invariant(app):
    """Checks coins == sum(ledger) and coins >= 0 for every user after the test."""
    yield
    assert_ledger_invariant()


def row_counts() -> dict[str, int]:
    """Rows per table, to prove that a refused request wrote nothing."""
    _db.session.expire_all()
    counts = {}
    for table in _db.metadata.sorted_tables:
        counts[table.name] = _db.session.execute(select(func.count()).select_from(table)).scalar()
    _db.session.rollback()
    return counts


def fingerprint(ignore: tuple[str, ...] = ()) -> str:
    """A digest of every row of every table (API token use times aside, and the tables in
    ``ignore``), in one query."""
    parts = []
    for table in _db.metadata.sorted_tables:
        if table.name in ignore:
            continue
        if table.name == "api_tokens":  # last_used_at is touched by any authenticated call
            parts.append(f"(SELECT count(*)::text FROM {table.name})")
        else:
            parts.append(
                f"(SELECT coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '') "
                f"FROM {table.name} t)"
            )
    _db.session.expire_all()
    digest = _db.session.execute(text(f"SELECT concat_ws(';', {', '.join(parts)})")).scalar()
    _db.session.rollback()
    return digest


class RawFaultServer:
    """A loopback HTTP endpoint that misbehaves the same way on every path.

    For the faults the simulated node does not offer on an endpoint: point a worker's
    ``base_url`` at it and every call (create, log, stop) meets ``mode``:
    ``hang`` (accept, never answer), ``drop`` (close without a byte), ``503``,
    ``non_json`` (200 with HTML), ``truncated`` (200 promising more bytes than sent).
    """

    ANSWERS = {
        "503": b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n"
        b"Connection: close\r\n\r\n",
        "non_json": b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 19\r\n"
        b"Connection: close\r\n\r\n<html>hello</html>\n",
        "truncated": b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        b'Content-Length: 1000\r\nConnection: close\r\n\r\n{"logUrl": "/lo',
    }

    def __init__(self, mode: str, hang_seconds: float = 20.0):
        self.mode = mode
        self.hang_seconds = hang_seconds
        self.calls = 0
        self._stop = threading.Event()
        self._sock = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self._sock.settimeout(0.1)
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.calls += 1
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(2)
            try:
                conn.recv(65536)  # the request; its content does not matter
                if self.mode == "hang":
                    self._stop.wait(self.hang_seconds)
                elif self.mode in self.ANSWERS:
                    conn.sendall(self.ANSWERS[self.mode])
                # "drop": close at once
            except OSError:
                pass

    def close(self) -> None:
        self._stop.set()
        self._sock.close()
        self._thread.join(timeout=2)


@pytest.fixture
def raw_fault_server() -> Iterator[Callable[..., RawFaultServer]]:
    servers: list[RawFaultServer] = []

    def start(mode: str, **options) -> RawFaultServer:
        server = RawFaultServer(mode, **options)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


def wait_for(predicate: Callable[[], bool], timeout: float, step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


def drain(app, until: Callable[[], bool] | None = None, timeout: float = 15.0) -> bool:
    """Like the ``run_jobs`` fixture, for any app (e.g. a second one on another Redis)."""
    worker_class = type("DrainWorker", (AppSimpleWorker,), {"flask_app": app})
    deadline = time.monotonic() + timeout
    with app.app_context():
        while True:
            queues = worker_queues()
            worker_class(queues, connection=get_redis()).work(
                burst=True, with_scheduler=True, logging_level="WARNING"
            )
            done = until() if until is not None else all_done(queues)
            if done:
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)


_PASSWORD_HASH: list[str] = []


@pytest.fixture
def quick_user(app):
    """Factory like ``make_user`` (same default password) that hashes the password once
    per run instead of once per user: argon2 is slow on purpose, and setups add up."""
    if not _PASSWORD_HASH:
        _PASSWORD_HASH.append(accounts.hash_password(DEFAULT_PASSWORD))

    def factory(email: str | None = None, *, coins: int = 0, admin: bool = False) -> User:
        user = User(
            email=email or f"user-{uuid.uuid4().hex[:10]}@example.com",
            password_hash=_PASSWORD_HASH[0],
            is_admin=admin,
            coins=0,
        )
        _db.session.add(user)
        _db.session.flush()
        if coins:
            ledger.add(user.id, coins, reason="test grant")
        _db.session.commit()
        return user

    return factory


@pytest.fixture
def quick_token(app):
    """Factory: a Bearer token for ``user`` issued by the token service (no password check)."""

    def issue(user: User) -> str:
        token = issue_token(user)
        _db.session.commit()
        return token

    return issue
