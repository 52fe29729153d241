"""Where a sign-in lands, and what the account forms tell assistive technology."""

from __future__ import annotations

import re

from tests.helpers import DEFAULT_PASSWORD, get_csrf_token


def _sign_in(client, email: str, password: str = DEFAULT_PASSWORD, query: str = ""):
    token = get_csrf_token(client)
    return client.post(
        f"/login{query}", data={"email": email, "password": password, "csrf_token": token}
    )


def test_an_admin_lands_on_the_panel_and_a_buyer_on_the_shop(client, make_user):
    admin = make_user(admin=True)
    answer = _sign_in(client, admin.email)
    assert answer.status_code == 302 and answer.headers["Location"] == "/admin/"
    assert client.get("/login").headers["Location"] == "/admin/"  # already signed in
    client.post("/logout", data={"csrf_token": get_csrf_token(client, "/")})
    buyer = make_user()
    assert _sign_in(client, buyer.email).headers["Location"] == "/"


def test_an_admin_with_a_next_goes_there(client, make_user):
    admin = make_user(admin=True)
    answer = _sign_in(client, admin.email, query="?next=/vps/sessions")
    assert answer.headers["Location"] == "/vps/sessions"


def test_fields_have_autocomplete_labels_and_described_errors(client, login, make_user):
    page = client.get("/login").get_data(as_text=True)
    assert re.search(r'<input[^>]*autocomplete="email"[^>]*id="email"', page)
    assert re.search(r'<input[^>]*autocomplete="current-password"[^>]*id="password"', page)
    assert '<label for="email">' in page and '<label for="password">' in page
    register = client.get("/register").get_data(as_text=True)
    assert register.count('autocomplete="new-password"') == 2
    assert 'href="#main"' in page and 'id="main"' in page  # the skip link and its target

    answer = client.post(
        "/register",
        data={
            "email": "new@example.com",
            "password": "short",
            "confirm": "other",
            "csrf_token": get_csrf_token(client, "/register"),
        },
    )
    html = answer.get_data(as_text=True)
    assert answer.status_code == 400
    for name in ("password", "confirm"):
        field = re.search(rf'<input[^>]*id="{name}"[^>]*>', html).group(0)
        assert 'aria-invalid="true"' in field and f'aria-describedby="{name}-error"' in field
        assert f'<p class="field-error" id="{name}-error">' in html
    email = re.search(r'<input[^>]*id="email"[^>]*>', html).group(0)
    assert "aria-invalid" not in email

    login(make_user())
    password_page = client.get("/account/password").get_data(as_text=True)
    assert 'autocomplete="current-password"' in password_page
    assert password_page.count('autocomplete="new-password"') == 2
