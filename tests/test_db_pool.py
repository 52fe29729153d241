"""The pool's liveness check: idle connections are pinged (and replaced when dead), busy
ones are not; and the pool is sized to the web threads."""

from __future__ import annotations

import time

import psycopg
import pytest
from sqlalchemy import create_engine, exc, text
from sqlalchemy.engine import make_url

from tests.conftest import TEST_DATABASE_URL, ensure_database
from vpsshop.config import engine_options
from vpsshop.db_pool import install_idle_ping


def _admin_dsn() -> str:
    url = make_url(TEST_DATABASE_URL).set(drivername="postgresql", database="postgres")
    return url.render_as_string(hide_password=False)


def _one_connection_engine(idle_seconds: float):
    ensure_database(TEST_DATABASE_URL)
    engine = create_engine(TEST_DATABASE_URL, pool_size=1, max_overflow=0)
    install_idle_ping(engine, idle_seconds)
    return engine


def _backend_pid(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT pg_backend_pid()")).scalar_one()


def _kill(pid: int) -> None:
    with psycopg.connect(_admin_dsn(), autocommit=True) as conn:
        conn.execute("SELECT pg_terminate_backend(%s)", (pid,))


@pytest.fixture
def killed_pooled_connection():
    """``kill(idle_seconds)``: a one-connection engine whose pooled connection's backend
    was terminated while it sat in the pool; returns the engine and the dead pid."""
    engines = []

    def kill(idle_seconds: float):
        engine = _one_connection_engine(idle_seconds)
        engines.append(engine)
        pid = _backend_pid(engine)
        _kill(pid)
        time.sleep(0.2)
        return engine, pid

    yield kill
    for engine in engines:
        engine.dispose()


def test_a_connection_that_died_while_idle_is_replaced_before_use(killed_pooled_connection):
    engine, pid = killed_pooled_connection(0.05)
    assert _backend_pid(engine) != pid  # the ping found it dead; a new one answered


def test_a_connection_used_moments_ago_is_not_pinged(killed_pooled_connection):
    # The window is the point: a busy pool pays no ping. (So a connection killed inside
    # the window fails its one request, as it would without any ping; the pool then
    # replaces it.)
    engine, pid = killed_pooled_connection(3600)
    with pytest.raises(exc.OperationalError):
        _backend_pid(engine)
    assert _backend_pid(engine) != pid


def test_the_pool_is_sized_to_the_web_threads(monkeypatch):
    url = "postgresql+psycopg://root@127.0.0.1:5432/x"
    monkeypatch.delenv("DATABASE_POOL_SIZE", raising=False)
    monkeypatch.delenv("DATABASE_MAX_OVERFLOW", raising=False)
    monkeypatch.setenv("WEB_THREADS", "24")
    assert engine_options(url) == {"pool_size": 24, "max_overflow": 0}
    monkeypatch.setenv("DATABASE_POOL_SIZE", "5")
    monkeypatch.setenv("DATABASE_MAX_OVERFLOW", "2")
    assert engine_options(url) == {"pool_size": 5, "max_overflow": 2}
    assert engine_options("sqlite:///x.sqlite3") == {}
    monkeypatch.setenv("DATABASE_POOL_SIZE", "many")
    with pytest.raises(RuntimeError, match="DATABASE_POOL_SIZE must be an integer"):
        engine_options(url)
