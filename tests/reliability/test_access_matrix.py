"""Authorization matrix over every route in ``app.url_map``: anonymous, A, B, admin (with
two-factor sign-in) and an admin without it while ``ADMIN_REQUIRE_2FA`` is on."""

from __future__ import annotations

import re
import uuid
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from tests.conftest import FreshContextClient
from tests.helpers import (
    DEFAULT_PASSWORD,
    csrf_token_from,
    enable_two_factor,
    fresh,
    totp_code,
    two_step_login,
)
from tests.reliability.conftest import FAST_TIMEOUTS, fingerprint
from vpsshop.extensions import db as _db
from vpsshop.models import ApiToken, AuditEntry, CoinTransaction, Payment, VoucherRedemption
from vpsshop.services import provisioning, vouchers
from vpsshop.services.purchase import purchase

IDENTITIES = ("anonymous", "a", "b", "admin", "admin_no2fa")
# Routes anyone may open.
PUBLIC = {
    "/",
    "/login",
    "/login/code",
    "/register",
    "/healthz",
    "/api/v1/auth/token",
    # Stripe's deliveries: no login, the signature decides (tests/billing/test_webhook.py).
    "/api/v1/billing/stripe/webhook",
    "/api/v1/openapi.json",
    "/api/docs",
    "/forgot",
    "/api/v1/auth/password-reset",
    "/api/v1/auth/password-reset/confirm",
}
# Routes behind a token of their own (a scraper's), not a user's: 404 while it is unset.
OWN_TOKEN = {"/metrics"}
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
    "vouchers": "voucher",
    "voucher_redemptions": "redemption",
}


def _is_static(rule) -> bool:
    return rule.endpoint == "static" or rule.endpoint.endswith(".static")


def _kind(path: str) -> str:
    if path in PUBLIC:
        return "public"
    if path in OWN_TOKEN:
        return "own_token"
    if path.startswith("/api/v1/admin/"):
        return "api_admin"
    if path.startswith("/api/"):
        return "api"
    if path.startswith("/admin"):
        return "admin_page"
    return "page"


@pytest.fixture
def app_config() -> dict:
    return {**FAST_TIMEOUTS, "ADMIN_REQUIRE_2FA": True}


@pytest.fixture
def world(app, quick_user, quick_token, make_sim_node, make_worker, make_product):
    node = make_sim_node()
    worker = make_worker(node.url)
    product = make_product([worker], price=3, action=2)
    a = quick_user("owner-a@example.com", coins=10)
    b = quick_user("other-b@example.com", coins=10)
    admin = quick_user("root@example.com", admin=True)
    admin_secret, _ = enable_two_factor(admin)
    lax_admin = quick_user("lax-root@example.com", admin=True)
    sid = purchase(a, product.id).id
    provisioning.provision(sid)
    provisioning.watch(sid)  # the node's log has the details at once: ready
    assert fresh(sid).status == "ready"
    # An audit row and a ledger row give the admin lists something to open.
    audit = AuditEntry(actor_id=admin.id, action="test.seed", target_type="user", target_id=a.id)
    _db.session.add(audit)
    payment = Payment(user_id=a.id, coins=10, amount_minor=100, currency="eur")
    _db.session.add(payment)
    (voucher,) = vouchers.create_vouchers(coins=2, max_redemptions=2, actor_id=admin.id)
    redeemed = vouchers.redeem(b.id, voucher.code)
    _db.session.commit()
    redemption_id = _db.session.execute(
        select(VoucherRedemption.id).where(
            VoucherRedemption.transaction_id == redeemed.transaction.id
        )
    ).scalar_one()
    ledger_id = _db.session.execute(
        select(CoinTransaction.id).where(CoinTransaction.user_id == a.id).limit(1)
    ).scalar()
    tokens = {name: quick_token(user) for name, user in (("a", a), ("b", b), ("admin", admin))}
    tokens["admin_no2fa"] = quick_token(lax_admin)
    a_token_id = _db.session.execute(
        select(ApiToken.id).where(ApiToken.user_id == a.id)
    ).scalar_one()
    return SimpleNamespace(
        users={"a": a, "b": b, "admin": admin, "admin_no2fa": lax_admin},
        secret=admin_secret,
        tokens=tokens,
        ids={
            "token": a_token_id,
            "a": a.id,
            "session": sid,
            "product": product.id,
            "worker": worker.id,
            "ledger": ledger_id,
            "audit": audit.id,
            "payment": payment.id,
            "voucher": voucher.id,
            "redemption": redemption_id,
        },
    )


@pytest.fixture
def clients(app, world):
    """One test client per identity, each signed in through the real login form."""
    app.test_client_class = FreshContextClient  # no g shared between requests
    out = {}
    for name in IDENTITIES:
        client = app.test_client()
        if name == "admin":
            response = two_step_login(client, world.users[name], totp_code(world.secret))
            assert response.status_code == 302
        elif name != "anonymous":
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
        # #17: no waitlist entry has this id: every role gets the same 404.
        "entry_id": world.ids["session"],
        "user_id": world.ids["a"],
        "worker_id": world.ids["worker"],
        "payment_id": world.ids["payment"],
        "token_id": world.ids["token"],
        "voucher_id": world.ids["voucher"],
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


def _assert_held_to_2fa(response, kind: str, url: str) -> None:
    """An admin without 2FA: 403 ``2fa_required`` from the admin API, sent to set it up
    from every admin page."""
    if kind == "api_admin":
        assert response.status_code == 403, (url, response.status_code)
        assert response.get_json()["error"] == "2fa_required", url
    else:
        assert response.status_code == 302, (url, response.status_code)
        assert response.headers["Location"].endswith("/account/2fa"), url


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
    seen = held = 0
    for rule, method in _routes(app):
        kind = _kind(rule.rule)
        url = _fill(rule, world)
        for identity in IDENTITIES:
            if method != "GET" and (identity == "admin" or kind == "public"):
                continue  # the matrix is about who is refused; admin writes are tested elsewhere
            if method != "GET" and identity != "anonymous" and kind in ("page", "api"):
                continue  # a user's own writes (buy, sign out) are other tests' subject
            response = _open(clients, world, identity, method, url)
            seen += 1
            assert response.status_code != 500, (identity, method, url)
            if kind == "own_token":
                assert response.status_code == 404, (identity, url)  # METRICS_TOKEN unset
                continue
            if identity == "admin_no2fa" and kind in ("admin_page", "api_admin"):
                _assert_held_to_2fa(response, kind, url)
                held += 1
                continue
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
            elif identity == "admin" or (
                identity in ("a", "admin_no2fa") and kind in ("page", "api")
            ):
                # Flask-Admin answers 404 for views switched off (edit of a read-only list).
                refused = (401, 403) if kind == "admin_page" else (401, 403, 404)
                assert response.status_code not in refused, (identity, url)
                if kind in ("api", "api_admin"):
                    assert response.status_code < 400, (identity, url, response.get_json())
    assert seen > 100
    assert held > 40  # every admin route, every method, for the admin without 2FA


def test_another_users_object_is_exactly_as_missing_as_a_missing_one(app, world, clients):
    missing = uuid.uuid4()
    checked = 0
    for rule, method in _routes(app):
        owned = {"session_id", "product_id", "payment_id", "token_id"}
        if not owned & set(rule.arguments) or rule.rule.startswith("/admin"):
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
            assert str(world.ids["payment"]) not in page
        assert fingerprint() == before, f"{method} {rule.rule} by B changed something"
        checked += 1
    assert checked >= 10  # sessions and API tokens
    assert fresh(world.ids["session"]).status == "ready"
    assert _db.session.get(ApiToken, world.ids["token"]) is not None


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
