"""Admin-typed cloud credentials reach the node and nowhere else: no table, log or answer."""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Iterator

import pytest
import requests
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from tests.helpers import csrf_token_from
from tests.security.test_secrets_at_rest import dump_all_tables

CLOUD_EMAIL = "cloud-owner-7f3a@example.net"
CLOUD_PASSWORD = "Cl0ud-secret-9d2c41e7"


@pytest.fixture
def app_config() -> dict:
    return {"NODE_CONNECT_TIMEOUT": 1.0, "NODE_READ_TIMEOUT": 2.0}


@pytest.fixture
def all_logs(caplog) -> pytest.LogCaptureFixture:
    # DEBUG on the root logger: every logger that propagates (ours, werkzeug's request log,
    # requests/urllib3, SQLAlchemy) lands here.
    caplog.set_level(logging.DEBUG)
    for name in ("werkzeug", "sqlalchemy.engine", "urllib3", "vpsshop", "flask-limiter"):
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


def log_text(caplog: pytest.LogCaptureFixture) -> str:
    lines = []
    for record in caplog.records:
        lines.append(record.getMessage())
        if record.exc_info:
            lines.append(logging.Formatter().formatException(record.exc_info))
        if record.stack_info:
            lines.append(record.stack_info)
    return "\n".join(lines)


class _Server:
    """A WSGI app on a real loopback socket, in a thread."""

    def __init__(self, wsgi_app):
        self.server = make_server("127.0.0.1", 0, wsgi_app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join(5)


@pytest.fixture
def serve() -> Iterator:
    servers: list[_Server] = []

    def start(wsgi_app) -> _Server:
        servers.append(_Server(wsgi_app))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


def echo_node(status: int, as_text: bool):
    """A careless node that sends back whatever it received."""

    @Request.application
    def app(request: Request) -> Response:
        body = request.get_data(as_text=True)
        if as_text:
            return Response(f"could not log in with {body}", status=status, mimetype="text/plain")
        return Response(
            json.dumps({"error": "bad login", "received": json.loads(body)}),
            status=status,
            mimetype="application/json",
        )

    return app


def assert_nowhere(*texts: str) -> None:
    for text in texts:
        assert CLOUD_PASSWORD not in text


def test_admin_api_login_forwards_and_forgets(
    app, make_user, api_token, make_worker, make_sim_node, closed_port, serve, all_logs
):
    """Through a real HTTP server, so werkzeug's request log is part of what is checked."""
    admin = make_user(admin=True)
    headers = {"Authorization": f"Bearer {api_token(admin)}"}
    shop = serve(app)
    node = make_sim_node()
    targets = {
        "ok": make_worker(node.url),
        "echo json 500": make_worker(serve(echo_node(500, as_text=False)).url),
        "echo text 400": make_worker(serve(echo_node(400, as_text=True)).url),
        "node down": make_worker(f"http://127.0.0.1:{closed_port}"),
    }
    answers = []
    for name, worker in targets.items():
        response = requests.post(
            f"{shop.url}/api/v1/admin/workers/{worker.id}/login",
            json={"email": CLOUD_EMAIL, "password": CLOUD_PASSWORD},
            headers=headers,
            timeout=10,
        )
        assert response.status_code < 500 or response.status_code in (502, 503, 504), name
        answers.append(response.text)
        answers.append(json.dumps(dict(response.headers)))
    assert json.loads(answers[0])["ok"] is True
    # The node did get the credentials, so the absence below means something.
    forwarded = [r for r in node.requests if r["endpoint"] == "login"]
    assert forwarded and forwarded[0]["json"]["email"] == CLOUD_EMAIL
    # Refused inputs: the error message does not repeat them either.
    for body in (
        {"email": "not-an-email " + CLOUD_PASSWORD, "password": CLOUD_PASSWORD},
        {"email": CLOUD_EMAIL, "pasword": CLOUD_PASSWORD},  # a misspelt field
        {"email": CLOUD_EMAIL, "password": [CLOUD_PASSWORD]},
    ):
        refused = requests.post(
            f"{shop.url}/api/v1/admin/workers/{targets['ok'].id}/login",
            json=body,
            headers=headers,
            timeout=10,
        )
        assert refused.status_code == 400, refused.text
        answers.append(refused.text)
    assert any("POST /api/v1/admin/workers/" in r.getMessage() for r in all_logs.records), (
        "werkzeug's request log was not captured"
    )
    assert_nowhere(*answers, log_text(all_logs), dump_all_tables())
    assert CLOUD_EMAIL not in log_text(all_logs)
    assert CLOUD_EMAIL not in dump_all_tables()


def test_admin_panel_login_forwards_and_forgets(
    app, client, make_user, login, make_worker, make_sim_node, serve, all_logs
):
    admin = make_user(admin=True)
    login(admin)
    node = make_sim_node()
    workers = [
        make_worker(node.url),
        make_worker(serve(echo_node(500, as_text=False)).url),
        make_worker(serve(echo_node(400, as_text=True)).url),
    ]
    pages = []
    for worker in workers:
        url = f"/admin/workers/cloud-login/?id={worker.id}"
        form_page = client.get(url)
        assert form_page.status_code == 200
        response = client.post(
            url,
            data={
                "email": CLOUD_EMAIL,
                "password": CLOUD_PASSWORD,
                "csrf_token": csrf_token_from(form_page.get_data(as_text=True)),
            },
        )
        assert response.status_code in (200, 502), response.status_code
        pages.append(response.get_data(as_text=True))
        pages.append("\n".join(response.headers.getlist("Set-Cookie")))
        with client.session_transaction() as session:
            pages.append(repr(dict(session)))
    assert "token added" in pages[0]
    forwarded = [r for r in node.requests if r["endpoint"] == "login"]
    assert forwarded and forwarded[0]["json"]["password"] == CLOUD_PASSWORD
    # The password field is never filled back into the form.
    for page in pages:
        assert not re.search(r'type="password"[^>]*value="[^"]+"', page)
    assert_nowhere(*pages, log_text(all_logs), dump_all_tables())
    assert CLOUD_EMAIL not in log_text(all_logs)
    assert CLOUD_EMAIL not in dump_all_tables()
