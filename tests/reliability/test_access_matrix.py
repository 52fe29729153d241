"""Authorization matrix over every route in ``app.url_map``: anonymous, A, B and admin."""

from __future__ import annotations

import re
import uuid
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from tests.conftest import FreshContextClient
from tests.helpers import DEFAULT_PASSWORD, csrf_token_from, fresh
from tests.reliability.conftest import fingerprint
from vpsshop.extensions import db as _db
from vpsshop.models import AuditEntry, CoinTransaction
from vpsshop.services import provisioning
from vpsshop.services.purchase import purchase

IDENTITIES = ("anonymous", "a", "b", "admin")
# Routes anyone may open.
PUBLIC = {"/", "/login", "/register", "/healthz", "/api/v1/auth/token", "/forgot"}
PUBLIC |= {"/api/v1/auth/password-reset", "/api/v1/auth/password-reset/confirm"}
# Links from mails, opened without signing in: a made-up token answers 400 "not valid".
TOKEN_LINKS = {"/reset/<token>", "/verify-email/<token>", "/unsubscribe/<token>"}
PUBLIC |= TOKEN_LINKS
# Flask-Admin model views: which object a ``?id=`` names for each of them.
ADMIN_VIEW_IDS = {
    "users": "a",
    "workers": "worker",
    "products": "product",
    "sessions": "session",
    "ledger": "ledger",
    "audit": "audit",
}


def _is_static(rule) -> bool:
    return rule.endpoint == "static" or rule.endpoint.endswith(".static")


def _kind(path: str) -> str:
    if path in PUBLIC:
        return "public"
    if path.startswith("/api/v1/admin/"):
        return "api_admin"
    if path.startswith("/api/"):
        return "api"
    if path.startswith("/admin"):
        return "admin_page"
    return "page"


@pytest.fixture
def world(app, quick_user, quick_token, make_sim_node, make_worker, make_product):
    node = make_sim_node()
    worker = make_worker(node.url)
    product = make_product([worker], price=3, action=2)
    a = quick_user("owner-a@example.com", coins=10)
    b = quick_user("other-b@example.com", coins=10)
    admin = quick_user("root@example.com", admin=True)
    sid = purchase(a, product.id).id
    provisioning.provision(sid)
    provisioning.watch(sid)  # the node's log has the details at once: ready
    assert fresh(sid).status == "ready"
    # An audit row and a ledger row give the admin lists something to open.
    audit = AuditEntry(actor_id=admin.id, action="test.seed", target_type="user", target_id=a.id)
    _db.session.add(audit)
    _db.session.commit()
    ledger_id = _db.session.execute(
        select(CoinTransaction.id).where(CoinTransaction.user_id == a.id).limit(1)
    ).scalar()
    return SimpleNamespace(
        users={"a": a, "b": b, "admin": admin},
        tokens={"a": quick_token(a), "b": quick_token(b), "admin": quick_token(admin)},
        ids={
            "a": a.id,
            "session": sid,
            "product": product.id,
            "worker": worker.id,
            "ledger": ledger_id,
            "audit": audit.id,
        },
    )


@pytest.fixture
def clients(app, world):
    """One test client per identity, each signed in through the real login form."""
    app.test_client_class = FreshContextClient  # no g shared between requests
    out = {}
    for name in IDENTITIES:
        client = app.test_client()
        if name != "anonymous":
            token = csrf_token_from(client.get("/login").get_data(as_text=True))
            user = world.users[name]
            response = client.post(
                "/login",
                data={"email": user.email, "password": DEFAULT_PASSWORD, "csrf_token": token},
            )
            assert response.status_code == 302
        out[name] = client
    return out


def _fill(rule, world, object_id=None) -> str:
    """The rule's URL with real ids (or ``object_id`` for every object parameter)."""
    values = {
        "session_id": world.ids["session"],
        "product_id": world.ids["product"],
        "user_id": world.ids["a"],
        "worker_id": world.ids["worker"],
        "export_type": "csv",
        "token": "not-a-real-token",
    }
    path = rule.rule
    for name in rule.arguments:
        value = values[name] if object_id is None or name == "export_type" else object_id
        path = re.sub(rf"<(?:[a-z]+:)?{name}>", str(value), path)
    if path.startswith("/admin/"):
        view = path.split("/")[2]
        if view in ADMIN_VIEW_IDS:
            path += f"?id={world.ids[ADMIN_VIEW_IDS[view]]}"
    return path


def _routes(app):
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if _is_static(rule):
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule, method


def _open(clients, world, identity, method, url):
    headers = {}
    if url.startswith("/api/") and identity != "anonymous":
        headers["Authorization"] = f"Bearer {world.tokens[identity]}"
    client = clients[identity]
    data = None
    if method != "GET" and not url.startswith("/api/"):
        # A valid CSRF token, so what is refused is the identity, not the form.
        page = client.get("/login" if identity == "anonymous" else "/")
        data = {"csrf_token": csrf_token_from(page.get_data(as_text=True))}
    kwargs = {"json": {}} if url.startswith("/api/") and method != "GET" else {"data": data}
    response = client.open(url, method=method, headers=headers, **kwargs)
    response.get_data()  # run streamed bodies (server-sent events) to their end
    return response


def _assert_refused(response, kind: str, identity: str, url: str) -> None:
    status = response.status_code
    if kind in ("api", "api_admin"):
        expected = 401 if identity == "anonymous" else 403
        assert status == expected, (identity, url, status)
        assert response.get_json()["error"], url
    elif identity == "anonymous":
        assert status == 302 and "/login" in response.headers["Location"], (url, status)
    else:
        assert status == 403, (identity, url, status)


def test_no_route_answers_500_and_roles_are_checked(app, world, clients):
    seen = 0
    for rule, method in _routes(app):
        kind = _kind(rule.rule)
        url = _fill(rule, world)
        for identity in IDENTITIES:
            if method != "GET" and (identity == "admin" or kind == "public"):
                continue  # the matrix is about who is refused; admin writes are tested elsewhere
            if method != "GET" and identity in ("a", "b") and kind in ("page", "api"):
                continue  # a user's own writes (buy, sign out) are other tests' subject
            response = _open(clients, world, identity, method, url)
            seen += 1
            assert response.status_code != 500, (identity, method, url)
            if kind == "public":
                assert (
                    response.status_code < 400
                    or rule.rule == "/register"
                    or (rule.rule in TOKEN_LINKS and response.status_code == 400)
                ), (identity, url)
                continue
            if identity == "anonymous" or (
                identity in ("a", "b") and kind in ("admin_page", "api_admin")
            ):
                _assert_refused(response, kind, identity, url)
            elif identity == "admin" or (identity == "a" and kind in ("page", "api")):
                # Flask-Admin answers 404 for views switched off (edit of a read-only list).
                refused = (401, 403) if kind == "admin_page" else (401, 403, 404)
                assert response.status_code not in refused, (identity, url)
                if kind in ("api", "api_admin"):
                    assert response.status_code < 400, (identity, url, response.get_json())
    assert seen > 100


def test_another_users_object_is_exactly_as_missing_as_a_missing_one(app, world, clients):
    missing = uuid.uuid4()
    checked = 0
    for rule, method in _routes(app):
        if not {"session_id", "product_id"} & set(rule.arguments) or rule.rule.startswith("/admin"):
            continue
        if "product_id" in rule.arguments:
            continue  # products are public catalogue items, not owned objects
        before = fingerprint()
        theirs = _open(clients, world, "b", method, _fill(rule, world))
        absent = _open(clients, world, "b", method, _fill(rule, world, missing))
        assert theirs.status_code == absent.status_code == 404, (method, rule.rule)
        if rule.rule.startswith("/api/"):
            assert theirs.get_json() == absent.get_json()
        else:
            page = theirs.get_data(as_text=True)
            assert str(world.ids["session"]) not in page
        assert fingerprint() == before, f"{method} {rule.rule} by B changed something"
        checked += 1
    assert checked >= 8
    assert fresh(world.ids["session"]).status == "ready"


def test_get_changes_nothing(app, world, clients):
    before = fingerprint()
    count = 0
    for rule, method in _routes(app):
        if method != "GET":
            continue
        for identity in IDENTITIES:
            _open(clients, world, identity, "GET", _fill(rule, world))
            count += 1
    assert count > 50
    assert fingerprint() == before
