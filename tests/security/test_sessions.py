"""Session cookies: flags over HTTP and HTTPS, renewal at sign-in, logout, password change."""

from __future__ import annotations

import pytest

from tests.conftest import FreshContextClient
from tests.helpers import DEFAULT_PASSWORD, csrf_token_from, get_csrf_token

NEW_PASSWORD = "a brand new passphrase"


def session_set_cookie(response) -> str:
    cookies = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("session=")]
    assert cookies, f"no session cookie set: {response.headers.getlist('Set-Cookie')}"
    return cookies[-1]


def flags(set_cookie: str) -> set[str]:
    return {part.strip().lower() for part in set_cookie.split(";")[1:]}


def sign_in(client, user, password: str = DEFAULT_PASSWORD, **kwargs):
    """Sign in through the real form; ``kwargs`` go to both requests (headers, base_url)."""
    token = csrf_token_from(client.get("/login", **kwargs).get_data(as_text=True))
    return client.post(
        "/login",
        data={"email": user.email, "password": password, "csrf_token": token},
        **kwargs,
    )


def browser(app):
    """Another browser: its own cookie jar, each request in its own app context."""
    app.test_client_class = FreshContextClient
    return app.test_client()


def signed_in(client) -> bool:
    response = client.get("/vps/sessions")
    assert response.status_code in (200, 302)
    return response.status_code == 200


def test_cookie_flags_over_http(app, client, make_user):
    response = sign_in(client, make_user())
    assert response.status_code == 302
    cookie_flags = flags(session_set_cookie(response))
    assert "httponly" in cookie_flags
    assert "samesite=lax" in cookie_flags
    assert "secure" not in cookie_flags
    assert "Strict-Transport-Security" not in response.headers


def test_cookie_flags_over_https(app, make_user):
    client = browser(app)
    # Over HTTPS Flask-WTF also checks that the Referer is this site, as a browser sends it.
    response = sign_in(
        client,
        make_user(),
        base_url="https://localhost",
        headers={"Referer": "https://localhost/login"},
    )
    assert response.status_code == 302
    assert {"httponly", "samesite=lax", "secure"} <= flags(session_set_cookie(response))
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


@pytest.mark.parametrize("app_config", [{"TRUST_PROXY_HOPS": 1}])
def test_cookie_flags_behind_a_tls_proxy(app, client, make_user):
    proxied = {
        "headers": {
            "X-Forwarded-Proto": "https",
            "X-Forwarded-For": "203.0.113.9",
            "Referer": "https://localhost/login",
        }
    }
    response = sign_in(client, make_user(), **proxied)
    assert response.status_code == 302
    assert {"httponly", "samesite=lax", "secure"} <= flags(session_set_cookie(response))
    assert "Strict-Transport-Security" in response.headers
    # The same proxy forwarding plain HTTP: no Secure flag, no HSTS.
    plain = client.get("/login", headers={"X-Forwarded-Proto": "http"})
    assert "Strict-Transport-Security" not in plain.headers


def test_forwarded_proto_is_ignored_without_a_trusted_proxy(app, client, make_user):
    # TRUST_PROXY_HOPS=0: anyone could send the header, so it must change nothing.
    response = sign_in(client, make_user(), headers={"X-Forwarded-Proto": "https"})
    assert response.status_code == 302
    assert "secure" not in flags(session_set_cookie(response))
    assert "Strict-Transport-Security" not in response.headers


def test_sign_in_starts_a_fresh_session(app, client, make_user):
    user = make_user()
    with client.session_transaction() as session:
        session["planted"] = "by an attacker before sign-in"
    before = client.get_cookie("session").value
    assert sign_in(client, user).status_code == 302
    after = client.get_cookie("session").value
    assert after != before
    with client.session_transaction() as session:
        assert "planted" not in session
        login_id = session["_login_id"]
    # A second sign-in gets another login id.
    client.post("/logout", data={"csrf_token": get_csrf_token(client, "/")})
    assert sign_in(client, user).status_code == 302
    with client.session_transaction() as session:
        assert session["_login_id"] != login_id


def test_logout_kills_copies_of_the_cookie(app, client, make_user, redis_conn):
    user = make_user()
    assert sign_in(client, user).status_code == 302
    stolen = client.get_cookie("session").value
    response = client.post("/logout", data={"csrf_token": get_csrf_token(client, "/")})
    assert response.status_code == 302
    # The browser's own cookie no longer signs in...
    assert not signed_in(client)
    # ...and neither does a copy taken before logout.
    thief = browser(app)
    thief.set_cookie("session", stolen)
    assert not signed_in(thief)
    # The revocation expires with the longest a cookie's signature is honoured.
    keys = redis_conn.keys("*revoked-login:*")
    assert len(keys) == 1
    ttl = redis_conn.ttl(keys[0])
    assert 0 < ttl <= app.permanent_session_lifetime.total_seconds()


def test_logout_of_one_browser_keeps_the_others(app, make_user):
    user = make_user()
    laptop, phone = browser(app), browser(app)
    assert sign_in(laptop, user).status_code == 302
    assert sign_in(phone, user).status_code == 302
    laptop.post("/logout", data={"csrf_token": get_csrf_token(laptop, "/")})
    assert not signed_in(laptop)
    assert signed_in(phone)


def change_password(client, current: str, new: str = NEW_PASSWORD, confirm: str | None = None):
    return client.post(
        "/account/password",
        data={
            "current_password": current,
            "new_password": new,
            "confirm": new if confirm is None else confirm,
            "csrf_token": get_csrf_token(client, "/account/password"),
        },
    )


def test_password_change_ends_other_sessions_and_tokens(app, make_user, api_token):
    user = make_user()
    here, elsewhere = browser(app), browser(app)
    assert sign_in(here, user).status_code == 302
    assert sign_in(elsewhere, user).status_code == 302
    copy_of_here = here.get_cookie("session").value
    token = api_token(user)
    bearer = {"Authorization": f"Bearer {token}"}
    assert here.get("/api/v1/me", headers=bearer).status_code == 200

    response = change_password(here, DEFAULT_PASSWORD)
    assert response.status_code == 302

    assert signed_in(here), "the browser that changed the password was signed out"
    assert not signed_in(elsewhere)
    old_copy = browser(app)
    old_copy.set_cookie("session", copy_of_here)
    assert not signed_in(old_copy)
    assert here.get("/api/v1/me", headers=bearer).status_code == 401
    # The new password works, the old one does not.
    fresh = browser(app)
    assert sign_in(fresh, user, DEFAULT_PASSWORD).status_code == 401
    assert sign_in(fresh, user, NEW_PASSWORD).status_code == 302


def test_password_change_refusals_change_nothing(app, client, make_user, api_token, login):
    user = make_user()
    token = api_token(user)
    login(user)
    assert client.get("/account/password").status_code == 200
    assert change_password(client, "not my password").status_code == 403
    assert change_password(client, DEFAULT_PASSWORD, confirm="something else").status_code == 400
    assert change_password(client, DEFAULT_PASSWORD, new="short").status_code == 400
    assert change_password(client, DEFAULT_PASSWORD, new=DEFAULT_PASSWORD).status_code == 400
    no_csrf = client.post(
        "/account/password",
        data={
            "current_password": DEFAULT_PASSWORD,
            "new_password": NEW_PASSWORD,
            "confirm": NEW_PASSWORD,
        },
    )
    assert no_csrf.status_code == 400
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert signed_in(client)


def test_password_page_needs_sign_in(app, client):
    response = client.get("/account/password")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]
    assert client.post("/account/password", data={}).status_code in (302, 400)
