"""Register, sign in and sign out through the real forms."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from tests.helpers import DEFAULT_PASSWORD, get_csrf_token
from vpsshop.models import User


def _register(client, email, password=DEFAULT_PASSWORD, confirm=None):
    token = get_csrf_token(client, "/register")
    return client.post(
        "/register",
        data={
            "email": email,
            "password": password,
            "confirm": confirm if confirm is not None else password,
            "csrf_token": token,
        },
    )


def test_register_creates_normalised_user_and_signs_in(client, db):
    response = _register(client, "  Alice@Example.COM ")
    assert response.status_code == 302
    user = db.session.execute(select(User)).scalar_one()
    assert user.email == "alice@example.com"
    assert user.coins == 0 and not user.is_admin
    assert user.password_hash.startswith("$argon2id$")
    assert DEFAULT_PASSWORD not in user.password_hash
    page = client.get("/").get_data(as_text=True)
    assert "alice@example.com" in page and "0 coins" in page


def test_duplicate_email_is_refused(client, db, make_user):
    make_user("bob@example.com")
    response = _register(client, "BOB@example.com")
    assert response.status_code == 409
    assert "already exists" in response.get_data(as_text=True)
    assert db.session.query(User).count() == 1


@pytest.mark.parametrize(
    "email,password,confirm,message",
    [
        ("not-an-email", DEFAULT_PASSWORD, None, "valid email"),
        ("a@b.co", "short", None, "at least 8"),
        ("a@b.co", DEFAULT_PASSWORD, "different password", "passwords differ"),
        ("a@b.co", "x" * 257, None, "256"),
    ],
)
def test_bad_registration_shows_error_and_writes_nothing(
    client, db, email, password, confirm, message
):
    response = _register(client, email, password, confirm)
    assert response.status_code in (400, 409)
    assert message in response.get_data(as_text=True)
    assert db.session.query(User).count() == 0


def test_login_and_logout(client, make_user, login):
    user = make_user()
    login(user)
    assert user.email in client.get("/").get_data(as_text=True)
    token = get_csrf_token(client, "/")
    response = client.post("/logout", data={"csrf_token": token})
    assert response.status_code == 302
    assert user.email not in client.get("/").get_data(as_text=True)


def test_logout_is_not_a_get(client, make_user, login):
    user = make_user()
    login(user)
    assert client.get("/logout").status_code == 405
    assert user.email in client.get("/").get_data(as_text=True)


@pytest.mark.parametrize("email", ["known", "unknown@example.com"])
def test_wrong_credentials_give_one_generic_message(client, make_user, email):
    user = make_user()
    token = get_csrf_token(client)
    response = client.post(
        "/login",
        data={
            "email": user.email if email == "known" else email,
            "password": "wrong password!",
            "csrf_token": token,
        },
    )
    assert response.status_code == 401
    assert "Wrong email or password." in response.get_data(as_text=True)
    assert user.email not in client.get("/").get_data(as_text=True)


@pytest.mark.parametrize(
    "next_url,expected",
    [
        ("/vps/sessions", "/vps/sessions"),
        ("https://evil.example/", "/"),
        ("//evil.example/x", "/"),
        ("/\\evil.example", "/"),
        ("javascript:alert(1)", "/"),
        ("http:/evil.example", "/"),
    ],
)
def test_next_only_follows_local_paths(client, make_user, next_url, expected):
    user = make_user()
    token = get_csrf_token(client)
    response = client.post(
        "/login",
        query_string={"next": next_url},
        data={"email": user.email, "password": DEFAULT_PASSWORD, "csrf_token": token},
    )
    assert response.status_code == 302
    assert response.headers["Location"] == expected


@pytest.mark.parametrize("path", ["/login", "/register"])
def test_form_post_without_csrf_token_is_refused(client, db, make_user, path):
    user = make_user()
    client.get(path)
    response = client.post(
        path,
        data={"email": user.email, "password": DEFAULT_PASSWORD, "confirm": DEFAULT_PASSWORD},
    )
    assert response.status_code == 400
    assert "CSRF" in response.get_data(as_text=True)
    assert db.session.query(User).count() == 1


def test_logout_without_csrf_token_is_refused(client, make_user, login):
    user = make_user()
    login(user)
    assert client.post("/logout").status_code == 400
    assert user.email in client.get("/").get_data(as_text=True)


def test_login_renews_the_session_cookie(client, make_user):
    user = make_user()
    token = get_csrf_token(client)
    before = client.get_cookie("session").value
    client.post(
        "/login", data={"email": user.email, "password": DEFAULT_PASSWORD, "csrf_token": token}
    )
    after = client.get_cookie("session").value
    assert before != after
    assert client.get_cookie("session").http_only
