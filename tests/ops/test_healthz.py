"""GET /healthz against real PostgreSQL and Redis, and against dependencies that are down."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from tests.conftest import make_test_config
from vpsshop import create_app


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A loopback port that accepts connections and never answers a byte."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield sock.getsockname()[1]


def test_ok_when_database_and_redis_answer(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": "ok", "redis": "ok"}
    assert response.headers["Cache-Control"] == "no-store"


def test_needs_no_login_and_answers_head(client):
    assert client.head("/healthz").status_code == 200


class TestRedisDown:
    @pytest.fixture
    def app_config(self):
        return {"REDIS_URL": f"redis://127.0.0.1:{closed_port()}/0"}

    def test_503_names_redis(self, client):
        response = client.get("/healthz")
        assert response.status_code == 503
        body = response.get_json()
        assert body["status"] == "unavailable"
        assert body["database"] == "ok"
        assert body["redis"] == "unavailable"
        assert "redis" in body["message"]
        assert "127.0.0.1" not in response.get_data(as_text=True)


def _healthz_of(config: dict):
    app = create_app(make_test_config(**config))
    try:
        return app.test_client().get("/healthz")
    finally:
        with app.app_context():
            from vpsshop.extensions import db

            db.engine.dispose()


def test_503_names_database_when_it_is_unreachable():
    # Built without the ``app`` fixture: that one cleans the (unreachable) database first.
    url = f"postgresql+psycopg://root:hunter2-secret@127.0.0.1:{closed_port()}/nowhere"
    response = _healthz_of({"SQLALCHEMY_DATABASE_URI": url})
    assert response.status_code == 503
    body = response.get_json()
    assert (body["database"], body["redis"]) == ("unavailable", "ok")
    assert "database" in body["message"]
    assert "hunter2" not in response.get_data(as_text=True)


def test_both_down_names_both():
    response = _healthz_of(
        {
            "SQLALCHEMY_DATABASE_URI": f"postgresql+psycopg://root@127.0.0.1:{closed_port()}/x",
            "REDIS_URL": f"redis://127.0.0.1:{closed_port()}/0",
        }
    )
    assert response.status_code == 503
    body = response.get_json()
    assert (body["database"], body["redis"]) == ("unavailable", "unavailable")


def test_never_hangs_on_dependencies_that_accept_and_stay_silent(silent_server):
    silent = f"127.0.0.1:{silent_server}"
    started = time.monotonic()
    response = _healthz_of(
        {
            "SQLALCHEMY_DATABASE_URI": f"postgresql+psycopg://root@{silent}/x",
            "REDIS_URL": f"redis://{silent}/0",
        }
    )
    elapsed = time.monotonic() - started
    assert response.status_code == 503
    body = response.get_json()
    assert (body["database"], body["redis"]) == ("unavailable", "unavailable")
    assert elapsed < 5, f"/healthz took {elapsed:.1f}s"
