"""The account pages: two-factor setup with its QR code, API tokens, activity."""

from __future__ import annotations

import re

import pyotp
from sqlalchemy import select

from tests.helpers import DEFAULT_PASSWORD, csrf_token_from, enable_two_factor, totp_code
from vpsshop.extensions import db as _db
from vpsshop.models import ApiToken, User

SECRET_RE = re.compile(r'data-testid="totp-secret">([A-Z2-7 ]+)<')


def post_form(client, page: str, action: str, **fields):
    token = csrf_token_from(client.get(page).get_data(as_text=True))
    return client.post(action, data={**fields, "csrf_token": token})


def test_two_factor_setup_shows_an_inline_svg_and_enables_with_a_code(client, make_user, login):
    user = make_user("qr-person@example.com")
    login(user)
    wrong = post_form(client, "/account/2fa", "/account/2fa/setup", password="not it at all")
    assert wrong.status_code == 403 and "not right" in wrong.get_data(as_text=True)
    setup = post_form(client, "/account/2fa", "/account/2fa/setup", password=DEFAULT_PASSWORD)
    assert setup.status_code == 200
    assert setup.headers["Cache-Control"] == "no-store"
    page = setup.get_data(as_text=True)
    svg = re.search(r"<svg[^>]*>.*?</svg>", page, re.S).group(0)
    # segno's SVG: path data only, nothing the CSP would block, no user text in it.
    assert "<path" in svg and "<script" not in svg and "style=" not in svg
    assert "qr-person" not in svg and not re.search(r"\son\w+\s*=", svg)
    csp = setup.headers["Content-Security-Policy"]
    assert "'unsafe-inline'" not in csp
    secret = SECRET_RE.search(page).group(1).replace(" ", "")
    bad = post_form(client, "/account/2fa", "/account/2fa/enable", code="abc")
    assert bad.status_code == 403 and "<svg" in bad.get_data(as_text=True)
    enabled = post_form(
        client, "/account/2fa", "/account/2fa/enable", code=pyotp.TOTP(secret).now()
    )
    assert enabled.status_code == 200 and enabled.headers["Cache-Control"] == "no-store"
    codes = re.findall(r"<code>([2-9A-Z]{5}-[2-9A-Z]{5})</code>", enabled.get_data(as_text=True))
    assert len(codes) == 10
    _db.session.expire_all()
    assert _db.session.get(User, user.id).has_2fa
    status = client.get("/account/2fa").get_data(as_text=True)
    assert "10 unused recovery codes" in status and codes[0] not in status


def test_setup_autoescapes_the_email_in_the_page(client, make_user, login):
    user = make_user('x"<b>@example.com')
    login(user)
    page = post_form(client, "/account/2fa", "/account/2fa/setup", password=DEFAULT_PASSWORD)
    assert "<b>" not in page.get_data(as_text=True)


def test_disable_from_the_page(client, make_user, login):
    user = make_user()
    secret, _ = enable_two_factor(user)
    from tests.helpers import two_step_login

    assert two_step_login(client, user, totp_code(secret)).status_code == 302
    wrong = post_form(
        client, "/account/2fa", "/account/2fa/disable", password=DEFAULT_PASSWORD, code="000"
    )
    assert wrong.status_code == 403
    done = post_form(
        client,
        "/account/2fa",
        "/account/2fa/disable",
        password=DEFAULT_PASSWORD,
        code=totp_code(secret, 1),
    )
    assert done.status_code == 302
    _db.session.expire_all()
    assert not _db.session.get(User, user.id).has_2fa


def test_tokens_page_shows_a_new_value_once_and_revokes(client, make_user, login):
    user = make_user()
    login(user)
    created = post_form(client, "/account/tokens", "/account/tokens", name="deploy", expires="30")
    assert created.status_code == 201 and created.headers["Cache-Control"] == "no-store"
    value = re.search(r'data-testid="new-token">([^<]+)<', created.get_data(as_text=True)).group(1)
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {value}"}).status_code == 200
    listing = client.get("/account/tokens").get_data(as_text=True)
    assert "deploy" in listing and value not in listing
    row = _db.session.execute(select(ApiToken)).scalar_one()
    assert row.expires_at is not None
    # Revoking needs the form's CSRF token.
    assert client.post(f"/account/tokens/{row.id}/revoke").status_code == 400
    revoked = post_form(client, "/account/tokens", f"/account/tokens/{row.id}/revoke")
    assert revoked.status_code == 302
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {value}"}).status_code == 401


def test_another_users_token_cannot_be_revoked_from_the_page(client, make_user, login):
    owner, other = make_user(), make_user()
    from vpsshop.services.tokens import issue_token

    value = issue_token(owner, "mine")
    _db.session.commit()
    token_id = _db.session.execute(select(ApiToken.id)).scalar_one()
    login(other)
    response = post_form(client, "/account/tokens", f"/account/tokens/{token_id}/revoke")
    assert response.status_code == 404
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {value}"}).status_code == 200


def test_bad_token_forms_are_400(client, make_user, login):
    login(make_user())
    for fields in ({"name": ""}, {"name": "x" * 101}, {"name": "ok", "expires": "5"}):
        assert post_form(client, "/account/tokens", "/account/tokens", **fields).status_code == 400


def test_activity_page_shows_own_events_only(client, make_user, login):
    me, them = make_user(), make_user()
    token = csrf_token_from(client.get("/login").get_data(as_text=True))
    client.post("/login", data={"email": them.email, "password": "wrong one!", "csrf_token": token})
    login(me)
    page = client.get("/account/activity").get_data(as_text=True)
    assert page.count('data-testid="activity-row"') == 1 and "Signed in" in page
    assert "Failed sign-in" not in page
    assert client.get("/account/activity?before=abc").status_code == 400


def test_account_pages_need_a_login(client):
    for path in ("/account", "/account/2fa", "/account/tokens", "/account/activity"):
        response = client.get(path)
        assert response.status_code == 302 and "/login" in response.headers["Location"]
