"""Fixtures for the admin panel tests: signed-in clients, sessions, a recording node."""

from __future__ import annotations

import http.server
import json
import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest
from flask.testing import FlaskClient

from tests.helpers import get_csrf_token
from vpsshop.extensions import db as _db
from vpsshop.models import User, VpsProduct, VpsSession, Worker


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


class RecordingNode:
    """A real HTTP server on loopback that records what it is sent (a worker node stand-in)."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.login_status = 200
        self.login_body: object = {"ok": True, "message": "token added"}
        node = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # keep test output quiet
                pass

            def _answer(self, status: int, body: object) -> None:
                raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()
                self.send_response(status)
                ctype = "text/plain" if isinstance(body, str) else "application/json"
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def do_GET(self) -> None:
                node.requests.append({"method": "GET", "path": self.path})
                self._answer(200, "node ok")

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode()
                node.requests.append({"method": "POST", "path": self.path, "body": body})
                if self.path == "/yud-ranyisi":
                    self._answer(node.login_status, node.login_body)
                else:
                    self._answer(404, {"error": "unknown"})

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def logins(self) -> list[dict]:
        return [json.loads(r["body"]) for r in self.requests if r["path"] == "/yud-ranyisi"]


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
