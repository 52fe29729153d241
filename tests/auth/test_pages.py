"""Register, sign in and sign out through the real forms."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from tests.helpers import DEFAULT_PASSWORD, get_csrf_token, register
from vpsshop.models import User


def test_register_creates_normalised_user_who_then_signs_in(client, db):
    response = register(client, "  Alice@Example.COM ")
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    user = db.session.execute(select(User)).scalar_one()
    assert user.email == "alice@example.com"
    assert user.coins == 0 and not user.is_admin
    assert user.password_hash.startswith("$argon2id$")
    assert DEFAULT_PASSWORD not in user.password_hash
    assert "Sign in with your email" in client.get("/login").get_data(as_text=True)
    assert "alice@example.com" not in client.get("/").get_data(as_text=True)  # not yet
    token = get_csrf_token(client)
    login = client.post(
        "/login",
        data={"email": "alice@example.com", "password": DEFAULT_PASSWORD, "csrf_token": token},
    )
    assert login.status_code == 302
    page = client.get("/").get_data(as_text=True)
    assert "alice@example.com" in page and "0 coins" in page


def _answer(client, response) -> tuple:
    """What a sign-up answer tells its sender: status, target, the next page's message,
    and the cookie session it leaves (without the CSRF token, random per session)."""
    with client.session_transaction() as session:
        kept = sorted(key for key in session if key != "csrf_token")
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    message = re.search(r'class="flash[^"]*"[^>]*>(.*?)<', page, re.S)
    return response.status_code, response.headers["Location"], message and message[1], kept


def test_a_taken_address_is_answered_like_a_new_one(app, client, db, make_user):
    owner = make_user("bob@example.com")
    before = (owner.password_hash, owner.session_version, owner.coins)
    taken_client, new_client = client, app.test_client()  # two visitors, two cookie jars
    taken = _answer(taken_client, register(taken_client, "BOB@example.com", "another pass 1"))
    new = _answer(new_client, register(new_client, "carol@example.com", "another pass 1"))
    assert taken == new and taken[0] == 302 and taken[2], (taken, new)
    assert not any("_user_id" in key for key in taken[3])  # no session for anyone
    # Nothing changed for the existing account: the password sent does not sign in, its
    # own still does.
    db.session.expire_all()
    owner = db.session.get(User, owner.id)
    assert (owner.password_hash, owner.session_version, owner.coins) == before
    assert db.session.query(User).count() == 2
    for password, status in (("another pass 1", 401), (DEFAULT_PASSWORD, 302)):
        token = get_csrf_token(taken_client)
        data = {"email": "bob@example.com", "password": password, "csrf_token": token}
        assert taken_client.post("/login", data=data).status_code == status


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
    response = register(client, email, password, confirm)
    assert response.status_code == 400
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
