"""Security headers on every kind of response, and pages without inline script."""

from __future__ import annotations

import re

import pytest

from tests.helpers import get_csrf_token

INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)
EVENT_HANDLER = re.compile(r"<[^>]+\son[a-z]+\s*=", re.IGNORECASE)


def directives(csp: str) -> dict[str, list[str]]:
    parsed: dict[str, list[str]] = {}
    for part in csp.split(";"):
        words = part.split()
        if words:
            parsed[words[0]] = words[1:]
    return parsed


def assert_security_headers(response, *, https: bool = False) -> dict[str, list[str]]:
    headers = response.headers
    csp = directives(headers["Content-Security-Policy"])
    script_src = csp.get("script-src", csp.get("default-src"))
    assert "'unsafe-inline'" not in script_src
    assert "'unsafe-eval'" not in script_src
    assert "*" not in script_src
    assert csp["frame-ancestors"] == ["'none'"]
    assert csp["object-src"] == ["'none'"]
    assert csp["base-uri"] == ["'none'"]
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] in ("same-origin", "strict-origin", "no-referrer")
    assert headers["X-Frame-Options"] == "DENY"
    if https:
        assert headers["Strict-Transport-Security"].startswith("max-age=")
    else:
        assert "Strict-Transport-Security" not in headers
    return csp


@pytest.fixture
def signed_in_admin(client, make_user, login):
    admin = make_user(admin=True)
    login(admin)
    return admin


@pytest.mark.parametrize("https", [False, True])
def test_every_kind_of_response(app, client, make_user, api_token, https):
    base = {"base_url": "https://localhost"} if https else {}
    user = make_user()
    bearer = {"Authorization": f"Bearer {api_token(user)}"}
    responses = {
        "html page": client.get("/", **base),
        "html form": client.get("/login", **base),
        "json api": client.get("/api/v1/me", headers=bearer, **base),
        "json 401": client.get("/api/v1/me", **base),
        "json 404": client.get("/api/v1/no-such-thing", headers=bearer, **base),
        "html 404": client.get("/no-such-page", **base),
        "html 405": client.get("/logout", **base),
        "static file": client.get("/static/css/app.css", **base),
        "static script": client.get("/static/js/live.js", **base),
        "health check": client.get("/healthz", **base),
    }
    expected = {"json 401": 401, "json 404": 404, "html 404": 404, "html 405": 405}
    for name, response in responses.items():
        assert response.status_code == expected.get(name, response.status_code), name
        assert response.status_code < 500 or name == "health check", name
        assert_security_headers(response, https=https)
        response.close()


def test_admin_pages_use_a_nonce_not_unsafe_inline(app, client, signed_in_admin):
    for url in ("/admin/", "/admin/workers/", "/admin/users/", "/admin/workers/new/"):
        response = client.get(url)
        assert response.status_code == 200, url
        csp = assert_security_headers(response)
        html = response.get_data(as_text=True)
        nonces = [w for w in csp["script-src"] if w.startswith("'nonce-")]
        for tag in INLINE_SCRIPT.findall(html):
            # Flask-Admin's own inline scripts: allowed only through this response's nonce.
            assert nonces, f"{url}: inline script without a nonce in the policy"
            nonce = nonces[0][len("'nonce-") : -1]
            assert f'nonce="{nonce}"' in tag, f"{url}: {tag}"


def test_user_pages_have_no_inline_script(app, client, make_user, login, make_worker, make_product):
    product = make_product([make_worker()])
    pages = ["/", "/login", "/register"]
    html = {url: client.get(url).get_data(as_text=True) for url in pages}
    login(make_user(coins=10))
    for url in ("/", "/vps/sessions", f"/buy/{product.id}", "/account/password"):
        response = client.get(url)
        assert response.status_code == 200, url
        assert_security_headers(response)
        html[url] = response.get_data(as_text=True)
    for url, text in html.items():
        assert not INLINE_SCRIPT.search(text), f"{url} has an inline <script>"
        assert not EVENT_HANDLER.search(text), f"{url} has an inline event handler"


@pytest.mark.parametrize("app_config", [{"RATELIMIT_LOGIN_PER_ADDRESS": "2 per minute"}])
def test_error_and_rate_limit_answers_carry_the_headers(app, client):
    csrf_failure = client.post("/login", data={"email": "a@example.com", "password": "x"})
    assert csrf_failure.status_code == 400
    assert_security_headers(csrf_failure)
    bad_json = client.post("/api/v1/auth/token", data="not json")  # counts as an attempt
    assert bad_json.status_code == 400
    assert_security_headers(bad_json)
    body = {"email": "a@example.com", "password": "wrong password"}
    assert client.post("/api/v1/auth/token", json=body).status_code == 401
    limited_json = client.post("/api/v1/auth/token", json=body)
    assert limited_json.status_code == 429
    assert_security_headers(limited_json)
    token = get_csrf_token(client)
    limited_html = client.post("/login", data={**body, "csrf_token": token})
    assert limited_html.status_code == 429
    assert_security_headers(limited_html)
    assert not INLINE_SCRIPT.search(limited_html.get_data(as_text=True))
