"""Admin-typed cloud credentials reach the node and nowhere else: no table, log or answer."""

from __future__ import annotations

import html
import json
import logging
import re
import threading
from collections.abc import Iterator
from urllib.parse import quote, quote_plus

import pytest
import requests
from markupsafe import escape
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from tests.helpers import csrf_token_from
from tests.security.test_secrets_at_rest import dump_all_tables
from vpsshop.services.redaction import WITHHELD

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


# ----- a hostile node's answer never shows the password ------------------------------------

# Quotes, a backslash, a non-ASCII letter, "&" and "<": every escaping changes it.
TRICKY_PASSWORD = 'Cl0ud"s\\écret&<9d>'
NUMERIC_PASSWORD = "86420135797531"


def _answers(password: str) -> dict[str, str]:
    """Raw bodies a careless or hostile node may answer the cloud login with."""
    escaped = json.dumps(password)[1:-1]
    return {
        "as a key": json.dumps({password: "accepted"}),
        "as a nested key": json.dumps({"seen": [{"fields": {password: 1}}]}),
        "in a value": json.dumps({"detail": f"wrong password {password}!"}),
        "upper case": json.dumps({"detail": password.upper()}),
        "JSON inside a string": json.dumps({"raw": json.dumps({"password": password})}),
        "URL-encoded": json.dumps({"form": "password=" + quote(password, safe="")}),
        "HTML-escaped": json.dumps({"html": f"<b>{html.escape(password)}</b>"}),
        "form-encoded": json.dumps({"form": "password=" + quote_plus(password)}),
        "text": f"login failed for password {password}",
        "text cut inside the password": "x" * 3990 + password,
        "text behind 64 KiB of escape codes": "\x1b[0m" * 16383 + "pw " + password,
        "text JSON-escaped": f'{{"password": "{escaped}"',  # not valid JSON: shown as text
    }


class HostileNode:
    """Answers the cloud login with ``body`` (raw text, sent as JSON)."""

    def __init__(self, serve):
        self.body = "{}"
        self.status = 400
        self.server = serve(self.app)
        self.url = self.server.url

    @Request.application
    def app(self, request: Request) -> Response:
        return Response(self.body, status=self.status, mimetype="application/json")


def _api_login(client, token: str, worker, password: str):
    return client.post(
        f"/api/v1/admin/workers/{worker.id}/login",
        json={"email": CLOUD_EMAIL, "password": password},
        headers={"Authorization": f"Bearer {token}"},
    )


def _panel_login(client, worker, password: str):
    url = f"/admin/workers/cloud-login/?id={worker.id}"
    token = csrf_token_from(client.get(url).get_data(as_text=True))
    return client.post(url, data={"email": CLOUD_EMAIL, "password": password, "csrf_token": token})


def _forms_of(password: str) -> list[str]:
    """The password as it could be read in an answer: raw and in every escaping."""
    forms = {password, json.dumps(password)[1:-1], json.dumps(password, ensure_ascii=False)[1:-1]}
    forms |= {html.escape(password), str(escape(password)), quote(password), quote_plus(password)}
    return [form.lower() for form in forms]


def assert_no_trace(text: str, password: str) -> None:
    lowered = text.lower()
    for form in _forms_of(password):
        assert form not in lowered, form
    # Nor its first half, the way a cut answer would show it.
    assert password[: len(password) // 2].lower() not in lowered


@pytest.mark.parametrize("password", [TRICKY_PASSWORD, CLOUD_PASSWORD])
def test_a_node_echoing_the_password_shows_it_nowhere(
    app, client, make_user, login, api_token, make_worker, serve, password
):
    admin = make_user(admin=True)
    token = api_token(admin)
    node = HostileNode(serve)
    worker = make_worker(node.url)
    login(admin)
    for shape, body in _answers(password).items():
        node.body = body
        api = _api_login(client, token, worker, password)
        assert api.status_code == 200, (shape, api.status_code)
        assert api.get_json()["node_status"] == 400
        assert_no_trace(api.get_data(as_text=True), password)
        panel = _panel_login(client, worker, password)
        assert panel.status_code == 502, (shape, panel.status_code)
        page = panel.get_data(as_text=True)
        assert 'data-testid="node-answer"' in page
        assert_no_trace(html.unescape(page), password)
        assert_no_trace(page, password)


def test_a_numeric_password_echoed_as_a_number_is_hidden(
    app, client, make_user, api_token, make_worker, serve
):
    node = HostileNode(serve)
    node.body = json.dumps({"you sent": int(NUMERIC_PASSWORD), "as float": 8.6420135797531e13})
    worker = make_worker(node.url)
    api = _api_login(client, api_token(make_user(admin=True)), worker, NUMERIC_PASSWORD)
    assert api.status_code == 200
    assert NUMERIC_PASSWORD not in api.get_data(as_text=True)
    assert api.get_json()["answer"]["you sent"] == "***"


def test_a_password_made_of_the_answers_punctuation_is_withheld(
    app, client, make_user, login, api_token, make_worker, serve
):
    # No string of the answer holds the password; written out as JSON, the answer does.
    password = 'x","b":"y'
    node = HostileNode(serve)
    node.body = json.dumps({"a": "x", "b": "y"})
    worker = make_worker(node.url)
    admin = make_user(admin=True)
    api = _api_login(client, api_token(admin), worker, password)
    assert password not in api.get_data(as_text=True)
    assert api.get_json()["answer"] == WITHHELD
    login(admin)
    assert password not in html.unescape(_panel_login(client, worker, password).get_data(True))


def test_the_answer_keeps_what_is_not_the_password(
    app, client, make_user, api_token, make_worker, serve
):
    # The e-mail is not a secret: it is the account the admin is logging in, and a node
    # saying which account it used helps; it is shown.
    node = HostileNode(serve)
    node.status = 200
    node.body = json.dumps({"ok": True, "account": CLOUD_EMAIL, "note": "token added"})
    worker = make_worker(node.url)
    api = _api_login(client, api_token(make_user(admin=True)), worker, CLOUD_PASSWORD)
    assert api.get_json() == {
        "ok": True,
        "node_status": 200,
        "answer": {"ok": True, "account": CLOUD_EMAIL, "note": "token added"},
    }


@pytest.mark.parametrize(
    "body",
    [
        '{"m": "\\ud800"}',
        '{"\\udfff": ["\\ud800x", {"k\\udc00": 1}]}',
        "[" * 900 + "]" * 900,  # JSON, nested deeper than an answer is walked
        "[" * 10_000,
    ],
)
def test_a_node_answer_that_cannot_be_shown_as_is_is_no_500(
    app, client, make_user, login, api_token, make_worker, serve, body
):
    node = HostileNode(serve)
    node.body = body
    worker = make_worker(node.url)
    admin = make_user(admin=True)
    api = _api_login(client, api_token(admin), worker, CLOUD_PASSWORD)
    assert api.status_code == 200, api.get_data()[:300]
    answer = api.get_json()["answer"]
    assert "\ud800" not in json.dumps(answer, ensure_ascii=False)
    login(admin)
    panel = _panel_login(client, worker, CLOUD_PASSWORD)
    assert panel.status_code == 502 and 'data-testid="node-answer"' in panel.get_data(True)
