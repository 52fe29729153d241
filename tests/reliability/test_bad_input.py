"""Bad input on every JSON endpoint and form: a clear 4xx, never a 500, nothing written."""

from __future__ import annotations

import json
import re
from types import SimpleNamespace
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from tests.helpers import csrf_token_from, get_csrf_token
from tests.reliability.conftest import fingerprint
from vpsshop.extensions import db as _db
from vpsshop.models import ActivityEvent
from vpsshop.services import vouchers
from vpsshop.services.purchase import purchase

SETTINGS = settings(
    max_examples=40,
    deadline=None,
    database=None,
    # The world (users, tokens, a worker, a product) is built once per test on purpose:
    # refused requests must leave it unchanged, which is what each example checks.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Every JSON endpoint that takes a body or changes something: (method, path, caller, fields).
# The path's {placeholders} are filled with ids of real rows.
JSON_ENDPOINTS = {
    "api.create_token": (
        "POST",
        "/api/v1/auth/token",
        None,
        ("email", "password", "otp", "name"),
    ),
    "api.two_factor_setup": ("POST", "/api/v1/me/2fa/setup", "user", ("password",)),
    "api.two_factor_enable": ("POST", "/api/v1/me/2fa/enable", "user", ("code",)),
    "api.two_factor_disable": ("POST", "/api/v1/me/2fa/disable", "user", ("password", "code")),
    # No such token: every answer is a 404, and the caller's own token stays.
    "api.revoke_my_token": (
        "DELETE",
        "/api/v1/me/tokens/00000000-0000-4000-8000-000000000000",
        "user",
        (),
    ),
    "api.admin_suspend_user": (
        "POST",
        "/api/v1/admin/users/{user}/suspend",
        "admin",
        ("reason", "stop_sessions"),
    ),
    "api.admin_unsuspend_user": ("POST", "/api/v1/admin/users/{user}/unsuspend", "admin", ()),
    "api.purchase_and_create": (
        "POST",
        "/api/v1/vps/purchase-and-create",
        "user",
        ("product_id",),
    ),
    "api.delete_session": ("DELETE", "/api/v1/vps/sessions/{session}", "user", ()),
    # #17: a session's time. The session is someone else's (404); the product has a free
    # slot (409 available); the entry id names no entry (404).
    "api.extend_session": ("POST", "/api/v1/vps/sessions/{session}/extend", "user", ()),
    "api.join_waitlist": ("POST", "/api/v1/vps/products/{product}/waitlist", "user", ()),
    "api.leave_waitlist": ("DELETE", "/api/v1/vps/waitlist/{session}", "user", ()),
    "api.admin_adjust_coins": (
        "PATCH",
        "/api/v1/admin/users/{user}/coins",
        "admin",
        ("op", "amount", "reason"),
    ),
    "api.admin_register_worker": (
        "POST",
        "/api/v1/admin/workers/register",
        "admin",
        ("name", "base_url", "max_sessions", "token"),
    ),
    "api.admin_update_worker": (
        "PATCH",
        "/api/v1/admin/workers/{worker}",
        "admin",
        ("name", "base_url", "max_sessions", "token", "status"),
    ),
    "api.admin_disable_worker": ("POST", "/api/v1/admin/workers/{worker}/disable", "admin", ()),
    "api.admin_enable_worker": ("POST", "/api/v1/admin/workers/{worker}/enable", "admin", ()),
    "api.admin_worker_login": (
        "POST",
        "/api/v1/admin/workers/{worker}/login",
        "admin",
        ("email", "password"),
    ),
    "api.admin_create_product": (
        "POST",
        "/api/v1/admin/products",
        "admin",
        (
            "name",
            "price_coins",
            "provision_action",
            "duration_minutes",
            "is_active",
            "worker_ids",
            "extend_minutes",
            "extend_price_coins",
            "max_total_minutes",
        ),
    ),
    "api.redeem_voucher": ("POST", "/api/v1/vouchers/redeem", "user", ("code",)),
    "api.admin_create_vouchers": (
        "POST",
        "/api/v1/admin/vouchers",
        "admin",
        ("coins", "max_redemptions", "expires_at", "code", "count", "note"),
    ),
    "api.admin_deactivate_voucher": (
        "POST",
        "/api/v1/admin/vouchers/{voucher}/deactivate",
        "admin",
        (),
    ),
    "api.admin_update_product": (
        "PATCH",
        "/api/v1/admin/products/{product}",
        "admin",
        (
            "name",
            "price_coins",
            "provision_action",
            "duration_minutes",
            "is_active",
            "worker_ids",
            "extend_minutes",
            "extend_price_coins",
            "max_total_minutes",
        ),
    ),
    "api.billing_checkout": ("POST", "/api/v1/billing/checkout", "user", ("pack_id",)),
    "api.admin_create_coin_pack": (
        "POST",
        "/api/v1/admin/coin-packs",
        "admin",
        ("name", "coins", "price_minor", "currency", "is_active"),
    ),
    # Unsigned: every body is refused before it is read (tests/billing/test_fuzz.py signs).
    "api.stripe_webhook": ("POST", "/api/v1/billing/stripe/webhook", None, ()),
    "api.request_password_reset": ("POST", "/api/v1/auth/password-reset", None, ("email",)),
    "api.confirm_password_reset": (
        "POST",
        "/api/v1/auth/password-reset/confirm",
        None,
        ("token", "password"),
    ),
    "api.resend_verification": ("POST", "/api/v1/me/verify-email", "user", ()),
    "api.update_notifications": ("PATCH", "/api/v1/me/notifications", "user", ("servers", "coins")),
}

# Strings that have broken parsers, databases and templates before.
NASTY_STRINGS = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "\t\n\r",
    "\u202e\u0000\ufeff",
    "😀" * 70,
    "x" * 300,
    "x" * 5000,
    "a@b.co",
    "ADMIN@EXAMPLE.COM",
    " a@b.co ",
    "add",
    "set",
    "sub",
    "active",
    "disabled",
    "http://127.0.0.1:9",
    "javascript:alert(1)",
    "http://" + "h" * 600 + ".example",
    "00000000-0000-0000-0000-000000000000",
    "not-a-uuid",
    "../../etc/passwd",
    "%00",
    "'; DROP TABLE users; --",
    "1e309",
    "-1",
    "NaN",
]
# Only JSON's \u escapes carry these (a form or URL is UTF-8, decoded with replacement):
# lone surrogates, which have no UTF-8 form and which PostgreSQL cannot be sent.
SURROGATE_STRINGS = ["\udfff@x.io", "\ud800", "a\udfffb", "\udc00\ud800", "ok\ud83d"]
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, 1, -1, 2, 3, 4, 2**31, 2**31 - 1, -(2**31), 2**63, 10**9 + 1]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=60),
    st.sampled_from(NASTY_STRINGS + SURROGATE_STRINGS),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=6,
)


def bodies(fields: tuple[str, ...]) -> st.SearchStrategy:
    """A JSON object with any of ``fields`` (any values) and maybe extra keys, or not an
    object at all."""
    known = st.fixed_dictionaries({}, optional={field: json_values for field in fields})
    extra = st.dictionaries(st.text(max_size=12), json_values, max_size=2)
    with_extra = st.tuples(known, extra).map(lambda pair: {**pair[1], **pair[0]})
    return st.one_of(known, with_extra, json_values)


@pytest.fixture
def world(app, client, quick_user, make_worker, make_product, quick_token, closed_port):
    admin = quick_user("admin@example.com", admin=True)
    user = quick_user("buyer@example.com", coins=10)
    # The worker's node is dead: a well-formed cloud login answers 502, never a 500.
    worker = make_worker(f"http://127.0.0.1:{closed_port}")
    product = make_product([worker], price=3)
    other = quick_user("other@example.com", coins=10)

    session = purchase(other, product.id)
    (voucher,) = vouchers.create_vouchers(coins=5, code="REAL-CODE", actor_id=None)
    _db.session.commit()
    return SimpleNamespace(
        ids={
            "user": user.id,
            "worker": worker.id,
            "product": product.id,
            "session": session.id,
            "voucher": voucher.id,
        },
        tokens={"admin": quick_token(admin), "user": quick_token(user)},
        admin=admin,
        user=user,
        product=product,
    )


def assert_json_refusal(response, allowed=()) -> None:
    """A 4xx (or an explicitly allowed status) with ``{"error", "message"}`` strings."""
    status = response.status_code
    assert status != 500, response.get_data(as_text=True)[:500]
    if 200 <= status < 300:
        return
    assert 400 <= status < 500 or status in allowed, (status, response.get_data()[:300])
    body = response.get_json(silent=True)
    assert isinstance(body, dict), response.get_data()[:300]
    assert isinstance(body.get("error"), str) and isinstance(body.get("message"), str), body


def _call(client, world, endpoint: str, **kwargs):
    method, path, caller, _fields = JSON_ENDPOINTS[endpoint]
    headers = {}
    if caller:
        headers["Authorization"] = f"Bearer {world.tokens[caller]}"
    url = path.format(**world.ids)
    return client.open(url, method=method, headers=headers, **kwargs)


def test_every_json_endpoint_is_covered(app):
    """A new JSON endpoint that changes something must join JSON_ENDPOINTS."""
    changing = {
        rule.endpoint
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/") and rule.methods - {"GET", "HEAD", "OPTIONS"}
    }
    assert changing <= set(JSON_ENDPOINTS), sorted(changing - set(JSON_ENDPOINTS))


# Deep nesting: the JSON decoder's RecursionError is not caught by get_json(silent=True).
DEEP_BODIES = [
    b"[" * 10_000,
    b"[" * 5000 + b"]" * 5000,
    b'{"a":' * 5000,
    b'{"email": ' + b"[" * 9000,
]
raw_bodies = st.binary(max_size=200) | st.sampled_from(
    [b"", b"{", b"\xff\xfe", b"[]" * 5000, *DEEP_BODIES]
)
content_types = st.sampled_from(
    ["application/json", "text/plain", "application/x-www-form-urlencoded", None]
)


@pytest.mark.parametrize("endpoint", sorted(JSON_ENDPOINTS))
def test_random_bodies_are_refused_cleanly(endpoint, client, world):
    method, path, caller, fields = JSON_ENDPOINTS[endpoint]
    # A cloud login that reaches the (dead) node is a 502 from the node, by design.
    # Without STRIPE_WEBHOOK_SECRET the webhook is a 503 so that Stripe retries later.
    allowed = {"api.admin_worker_login": (502,), "api.stripe_webhook": (503,)}.get(endpoint, ())
    payloads = st.one_of(
        bodies(fields).map(lambda body: (json.dumps(body, allow_nan=True), "application/json")),
        st.tuples(raw_bodies, content_types),
    )
    # Checking a password costs an argon2 hash: fewer examples where each one does.
    examples = 15 if endpoint == "api.create_token" else 25

    @settings(SETTINGS, max_examples=examples)
    @given(payload=payloads)
    def check(payload):
        data, content_type = payload
        before = fingerprint()
        response = _call(client, world, endpoint, data=data, content_type=content_type)
        assert_json_refusal(response, allowed)
        if 400 <= response.status_code < 500:
            assert fingerprint() == before, f"a refused request wrote something: {data!r}"

    check()


def _routes_with_ids(app) -> list[tuple[str, str]]:
    rules = []
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/") and rule.arguments:
            method = sorted(rule.methods - {"HEAD", "OPTIONS"})[0]
            rules.append((method, rule.rule))
    return sorted(rules)


def test_bad_ids_in_api_paths_are_404(app, client, world):
    routes = _routes_with_ids(app)
    assert routes

    @SETTINGS
    @given(
        route=st.sampled_from(routes),
        raw_id=st.text(min_size=1, max_size=80)
        | st.sampled_from(["0", "-1", "1e400", "00000000-0000-0000-0000-000000000000"])
        | st.uuids().map(str),
    )
    def check(route, raw_id):
        method, rule = route
        url = re.sub(r"<[^>]+>", quote(raw_id, safe=""), rule)
        caller = "user" if "/vps/" in rule else "admin"
        before = fingerprint()
        response = client.open(
            url,
            method=method,
            headers={"Authorization": f"Bearer {world.tokens[caller]}"},
            json={},
        )
        # A "/" in the id makes "//" in the path, which the router redirects to one "/".
        merged = "/" in raw_id and response.status_code == 308
        assert response.status_code in (404, 405) or merged, (url, response.status_code)
        if response.status_code == 404:
            assert_json_refusal(response)
        assert fingerprint() == before

    check()


# --- forms -------------------------------------------------------------------------------

form_text = st.one_of(st.text(max_size=80), st.sampled_from(NASTY_STRINGS))


def _page_refusal(response) -> str:
    """A refused form: 4xx page with the form again and an inline message."""
    page = response.get_data(as_text=True)
    assert response.status_code != 500, page[:500]
    assert 400 <= response.status_code < 500, (response.status_code, page[:300])
    markers = ('class="field-error"', "flash-error", 'data-testid="purchase-error"')
    markers += ('data-testid="coins-error"',)
    assert any(marker in page for marker in markers), page[:1500]
    return page


def test_register_form_refuses_bad_values_inline(app, client, world):
    @settings(SETTINGS, max_examples=25)
    @given(email=form_text, password=form_text, confirm=form_text | st.just(None))
    def check(email, password, confirm):
        token = get_csrf_token(client, "/register")
        before = fingerprint()
        data = {"csrf_token": token, "email": email, "password": password}
        data["confirm"] = password if confirm is None else confirm
        response = client.post("/register", data=data)
        if response.status_code == 302:  # a valid sign-up (it signs nobody in)
            return
        _page_refusal(response)
        assert fingerprint() == before

    check()


@pytest.mark.parametrize(
    ("email", "password", "accepted"),
    [
        ("a" * 64 + "@" + "b" * 185 + ".com", "p" * 256, True),  # 254 and 256: the limits
        ("a" * 64 + "@" + "b" * 186 + ".com", "p" * 12, False),  # 255
        ("edge@example.com", "p" * 257, False),
        ("edge@example.com", "p" * 7, False),
        ("  Edge@Example.COM  ", "correct horse", True),  # trimmed, lower-cased
        ("édith@exämple.com", "pässwörd-ünïcode", True),
        ("nul\x00@example.com", "correct horse", False),
        ("edge@example.com", "correct\x00horse", False),
        ("edge@example.com", " " * 12, False),  # blank is no password
        ("two@@example.com", "correct horse", False),
        ("space in@example.com", "correct horse", False),
    ],
)
def test_emails_and_passwords_at_the_edges(app, client, email, password, accepted):
    token = get_csrf_token(client, "/register")
    before = fingerprint()
    response = client.post(
        "/register",
        data={"csrf_token": token, "email": email, "password": password, "confirm": password},
    )
    if accepted:
        assert response.status_code == 302, response.get_data(as_text=True)[:500]
        # The same credentials sign in, through the form and the API.
        login = client.post(
            "/login",
            data={"csrf_token": get_csrf_token(client), "email": email, "password": password},
        )
        assert login.status_code == 302
        api = client.post("/api/v1/auth/token", json={"email": email, "password": password})
        assert api.status_code == 201
    else:
        _page_refusal(response)
        assert fingerprint() == before
        api = client.post("/api/v1/auth/token", json={"email": email, "password": password})
        assert api.status_code == 401 and api.get_json()["error"] == "invalid_credentials"


def test_login_form_refuses_bad_values_inline(app, client, world):
    token = get_csrf_token(client)

    @settings(SETTINGS, max_examples=15)
    @given(email=form_text, password=form_text)
    def check(email, password):
        # A failed sign-in for a real account (an address Hypothesis may hit) is written
        # to that account's activity, on purpose; nothing else may change.
        ignore = ("activity_events",)
        before = fingerprint(ignore)
        response = client.post(
            "/login", data={"csrf_token": token, "email": email, "password": password}
        )
        _page_refusal(response)
        assert fingerprint(ignore) == before
        kinds = set(_db.session.execute(select(ActivityEvent.kind)).scalars())
        assert kinds <= {"sign_in_failed", "purchase"}  # the world's purchase, the failure

    check()


def test_purchase_form_refuses_bad_keys_inline(app, client, login, world):
    login(world.user)
    page = client.get(f"/buy/{world.product.id}")
    token = csrf_token_from(page.get_data(as_text=True))

    @SETTINGS
    @given(key=form_text, extra=st.dictionaries(st.text(max_size=8), form_text, max_size=2))
    def check(key, extra):
        before = fingerprint()
        data = {**extra, "csrf_token": token, "purchase_key": key}
        response = client.post(f"/buy/{world.product.id}", data=data)
        if response.status_code == 302:  # a well-formed key: a real purchase
            return
        _page_refusal(response)
        assert fingerprint() == before

    check()


def test_redeem_form_refuses_bad_codes_inline(app, client, login, world):
    login(world.user)
    token = csrf_token_from(client.get("/coins").get_data(as_text=True))

    @SETTINGS
    @given(code=form_text, extra=st.dictionaries(st.text(max_size=8), form_text, max_size=2))
    def check(code, extra):
        # Each example starts below the failure limit: what is checked is the answer.
        app.extensions["redis"].flushdb()
        before = fingerprint()
        response = client.post("/coins/redeem", data={**extra, "csrf_token": token, "code": code})
        _page_refusal(response)
        assert fingerprint() == before

    check()


@pytest.mark.parametrize("reason", ["\x00", "goodwill\x00", "a\x00b"])
def test_a_coin_reason_with_a_nul_is_refused_on_the_form(app, client, login, world, reason):
    # PostgreSQL cannot store NUL in text: the reason is refused before the ledger runs.
    login(world.admin)
    url = f"/admin/users/coins/?id={world.ids['user']}"
    token = csrf_token_from(client.get(url).get_data(as_text=True))
    before = fingerprint()
    data = {"csrf_token": token, "op": "add", "amount": "5", "reason": reason}
    response = client.post(url, data=data)
    assert response.status_code == 400
    assert "NUL" in _page_refusal(response)
    assert fingerprint() == before


@pytest.mark.parametrize("op", ["add", "sub", "set"])
def test_a_coin_reason_with_a_nul_is_refused_by_the_api(app, client, world, op):
    before = fingerprint()
    response = _call(
        client, world, "api.admin_adjust_coins", json={"op": op, "amount": 1, "reason": "a\x00"}
    )
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_reason"
    assert fingerprint() == before


@pytest.mark.parametrize(
    ("endpoint", "body"),
    [
        ("api.admin_create_product", {"name": "a\x00b", "price_coins": 3, "provision_action": 1}),
        (
            "api.admin_register_worker",
            {"name": "a\x00", "base_url": "http://127.0.0.1:9", "max_sessions": 2, "token": "t"},
        ),
        ("api.admin_update_worker", {"name": "\x00node"}),
    ],
)
def test_a_name_with_a_nul_is_refused(app, client, world, endpoint, body):
    before = fingerprint()
    response = _call(client, world, endpoint, json=body)
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_name"
    assert fingerprint() == before


def test_admin_coin_form_refuses_bad_values_inline(app, client, login, world):
    login(world.admin)
    url = f"/admin/users/coins/?id={world.ids['user']}"
    token = csrf_token_from(client.get(url).get_data(as_text=True))

    @SETTINGS
    @given(
        op=form_text | st.sampled_from(["add", "sub", "set"]),
        amount=form_text | st.integers(-(2**70), 2**70).map(str),
        reason=form_text,
    )
    def check(op, amount, reason):
        before = fingerprint()
        data = {"csrf_token": token, "op": op, "amount": amount, "reason": reason}
        response = client.post(url, data=data)
        if response.status_code == 302:
            return
        _page_refusal(response)
        assert fingerprint() == before

    check()


# --- finding 5 of issue 22: shapes that were 500s -------------------------------------------


@pytest.mark.parametrize("body", DEEP_BODIES, ids=["open", "closed", "objects", "email"])
@pytest.mark.parametrize("endpoint", sorted(e for e, spec in JSON_ENDPOINTS.items() if spec[3]))
def test_deeply_nested_json_is_a_400(client, world, endpoint, body):
    before = fingerprint()
    response = _call(client, world, endpoint, data=body, content_type="application/json")
    assert response.status_code == 400, response.get_data()[:300]
    assert response.get_json()["error"] == "invalid_json"
    assert fingerprint() == before


@pytest.mark.parametrize(
    ("endpoint", "body", "status", "error"),
    [
        ("api.create_token", {"email": "\udfff@x.io", "password": "x" * 12}, 401, None),
        ("api.create_token", {"email": "buyer@example.com", "password": "\udfff" * 9}, 401, None),
        (
            "api.admin_adjust_coins",
            {"op": "add", "amount": 1, "reason": "goodwill \udfff"},
            400,
            "invalid_reason",
        ),
        ("api.admin_create_product", {"name": "\ud800", "price_coins": 3}, 400, "invalid_name"),
        ("api.admin_update_product", {"name": "ok\udfff"}, 400, "invalid_name"),
        (
            "api.admin_register_worker",
            {"name": "n\udc00", "base_url": "http://127.0.0.1:9", "max_sessions": 2},
            400,
            "invalid_name",
        ),
        ("api.admin_update_worker", {"name": "\udfff"}, 400, "invalid_name"),
    ],
)
def test_a_lone_surrogate_is_refused_with_the_fields_error(
    client, world, endpoint, body, status, error
):
    # A failed sign-in for a real account is written to that account's activity, on
    # purpose; nothing else may change.
    ignore = ("activity_events",) if endpoint == "api.create_token" else ()
    before = fingerprint(ignore)
    # json.dumps writes a lone surrogate as a \u escape, as any client would have to.
    response = _call(
        client, world, endpoint, data=json.dumps(body), content_type="application/json"
    )
    assert response.status_code == status, response.get_data()[:300]
    assert response.get_json()["error"] == (error or "invalid_credentials")
    assert fingerprint(ignore) == before
    kinds = set(_db.session.execute(select(ActivityEvent.kind)).scalars())
    assert kinds <= {"sign_in_failed", "purchase"}  # the world's own purchase, and the failure


@pytest.mark.parametrize(
    "url",
    [
        "/admin/users/?search=%00",
        "/admin/users/?search=a%00b",
        "/admin/sessions/?flt0_status_equals=%00",
        "/admin/sessions/?flt0_status_equals=ready&flt1_0=%00",
        "/admin/products/?search=x&sort=%00",
        "/admin/users/?%00=1",
    ],
)
def test_a_nul_in_an_admin_search_or_filter_is_a_400(client, login, world, url):
    login(world.admin)
    response = client.get(url)
    assert response.status_code == 400, response.get_data(as_text=True)[:300]
    assert "NUL" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    "url",
    [
        "/admin/products/edit/?id=0",
        "/admin/products/edit/?id=not-a-uuid",
        "/admin/workers/edit/?id=12345678901234567890123",
        "/admin/products/edit/?id=00000000-0000-0000-0000-000000000000",  # well-formed, absent
    ],
)
def test_a_malformed_or_unknown_admin_record_id_is_no_500(client, login, world, url):
    login(world.admin)
    before = fingerprint()
    response = client.get(url)
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
    assert "Record does not exist" in client.get(response.headers["Location"]).get_data(True)
    assert fingerprint() == before


@pytest.mark.parametrize(
    "path",
    ["/admin/ledger/details/?id=1&url=", "/admin/users/new/?url=", "/admin/audit/edit/?url="],
)
@pytest.mark.parametrize("address", ["%0A", "/admin/%0D%0AX-Evil:%201", "/admin/%09users/"])
def test_a_control_character_in_an_admin_return_address_is_a_400(
    client, login, world, path, address
):
    # Flask-Admin redirects to ``url``; Werkzeug refuses a line break in a Location header,
    # so it was a 500 from inside the library (found by the random query strings below).
    login(world.admin)
    before = fingerprint()
    response = client.get(path + address)
    assert response.status_code == 400
    assert "return address" in response.get_data(as_text=True)
    assert "X-Evil" not in response.headers
    assert fingerprint() == before


def test_a_plain_admin_return_address_still_leads_back(client, login, world):
    login(world.admin)
    response = client.get("/admin/ledger/details/?id=999999999&url=/admin/ledger/%3Fpage%3D1")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/admin/ledger/?page=1")


def test_a_line_break_in_the_sign_in_return_address_is_a_400(client):
    response = client.get("/login?next=/account%0D%0ASet-Cookie:%20x=1")
    assert response.status_code == 400
    assert "Set-Cookie" not in response.headers


@pytest.mark.parametrize("query", ["email=%00", "email=a%00", "%00=x"])
def test_a_nul_in_an_api_query_is_a_400(client, world, query):
    response = client.get(
        f"/api/v1/admin/users?{query}",
        headers={"Authorization": f"Bearer {world.tokens['admin']}"},
    )
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_query"


def _get_routes(app, prefix: str) -> list[str]:
    return sorted(
        rule.rule
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith(prefix)
        and "GET" in rule.methods
        and not rule.arguments
        and "/static" not in rule.rule
        and "/events" not in rule.rule
    )


QUERY_KEYS = [
    "search",
    "sort",
    "desc",
    "page",
    "page_size",
    "flt0_status_equals",
    "flt0_0",
    "flt1_email_contains",
    "flt2_created_at_between",
    "id",
    "url",
    "next",
    "email",
]
query_values = st.one_of(st.text(max_size=30), st.sampled_from(NASTY_STRINGS))
queries = st.dictionaries(
    st.sampled_from(QUERY_KEYS) | st.text(max_size=8), query_values, min_size=1, max_size=3
)


def _query_refusal(response, query: dict[str, str]) -> None:
    assert response.status_code != 500, (query, response.get_data(as_text=True)[:500])
    if any("\x00" in text for pair in query.items() for text in pair):
        assert response.status_code == 400, (query, response.status_code)


def test_random_query_strings_on_admin_pages_are_never_a_500(app, client, login, world):
    login(world.admin)
    routes = _get_routes(app, "/admin/")
    assert "/admin/users/" in routes and "/admin/sessions/" in routes

    @SETTINGS
    @given(route=st.sampled_from(routes), query=queries)
    def check(route, query):
        before = fingerprint()
        _query_refusal(client.get(route, query_string=query), query)
        assert fingerprint() == before

    check()


def test_random_query_strings_on_the_api_are_never_a_500(app, client, world):
    routes = _get_routes(app, "/api/")
    assert "/api/v1/admin/users" in routes

    @SETTINGS
    @given(route=st.sampled_from(routes), query=queries, caller=st.sampled_from(["admin", "user"]))
    def check(route, query, caller):
        headers = {"Authorization": f"Bearer {world.tokens[caller]}"}
        _query_refusal(client.get(route, query_string=query, headers=headers), query)

    check()
