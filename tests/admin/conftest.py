"""Fixtures for the admin panel tests: signed-in clients, sessions, a recording node."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest
from flask.testing import FlaskClient

from tests.admin.recording_node import RecordingNode
from tests.conftest import parametrize_database
from tests.helpers import get_csrf_token
from vpsshop.extensions import db as _db
from vpsshop.models import User, VpsProduct, VpsSession, Worker


def pytest_generate_tests(metafunc) -> None:
    """Every test here runs on PostgreSQL and on SQLite (the embedded default)."""
    parametrize_database(metafunc)


class SignedIn:
    """A test client signed in as ``user``, with the CSRF token of its session."""

    def __init__(self, client: FlaskClient, user: User | None):
        self.client = client
        self.user = user

    def token(self) -> str:
        # Signed-in pages carry the sign-out form; /login redirects once signed in.
        return get_csrf_token(self.client, "/" if self.user else "/login")

    def get(self, url: str, **kwargs):
        return self.client.get(url, **kwargs)

    def post(self, url: str, data: dict | None = None, *, csrf: bool = True, **kwargs):
        data = dict(data or {})
        if csrf:
            data["csrf_token"] = self.token()
        return self.client.post(url, data=data, **kwargs)


@pytest.fixture
def admin(make_user) -> User:
    return make_user("admin@example.com", admin=True)


@pytest.fixture
def admin_client(client, admin, login) -> SignedIn:
    login(admin)
    return SignedIn(client, admin)


@pytest.fixture
def user_client(client, make_user, login) -> SignedIn:
    user = make_user("plain@example.com", coins=5)
    login(user)
    return SignedIn(client, user)


@pytest.fixture
def anon_client(client) -> SignedIn:
    return SignedIn(client, None)


@pytest.fixture
def make_session(app) -> Callable[..., VpsSession]:
    """Factory: a committed session row in any state (the lifecycle is tested elsewhere)."""

    def factory(
        user: User,
        product: VpsProduct,
        worker: Worker | None,
        *,
        status: str = "pending",
        ready: bool = False,
    ) -> VpsSession:
        session = VpsSession(
            user_id=user.id,
            product_id=product.id,
            worker_id=worker.id if worker else None,
            status=status,
            price_coins=product.price_coins,
            ready_at=datetime.now(UTC) if ready else None,
        )
        _db.session.add(session)
        _db.session.commit()
        return session

    return factory


@pytest.fixture
def recording_node() -> Iterator[RecordingNode]:
    node = RecordingNode()
    node.thread.start()
    yield node
    node.server.shutdown()
    node.server.server_close()


@pytest.fixture
def closed_port_url() -> str:
    """A loopback URL where nothing listens (connection refused at once)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"
