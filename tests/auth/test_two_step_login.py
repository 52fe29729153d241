"""The sign-in form's second step: the two-factor code, after a right password only."""

from __future__ import annotations

import time

import pytest

from tests.helpers import (
    DEFAULT_PASSWORD,
    enable_two_factor,
    get_csrf_token,
    totp_code,
    two_step_login,
)
from vpsshop import pending_login
from vpsshop.extensions import db as _db
from vpsshop.models import User
from vpsshop.services import suspension


def signed_in(client, user) -> bool:
    return user.email in client.get("/").get_data(as_text=True)


def post_password(client, email, password):
    token = get_csrf_token(client)
    return client.post("/login", data={"email": email, "password": password, "csrf_token": token})


def test_step_one_does_not_tell_whether_a_2fa_accounts_password_was_right(client, make_user):
    user = make_user()
    secret, _ = enable_two_factor(user)
    wrong = post_password(client, user.email, "wrong password!")
    right_client = client.application.test_client()
    right = post_password(right_client, user.email, DEFAULT_PASSWORD)
    assert wrong.status_code == right.status_code == 302
    assert wrong.headers["Location"] == right.headers["Location"]
    assert wrong.headers["Location"].endswith("/login/code")
    # Step two refuses the right code after a wrong password, like a wrong code.
    token = get_csrf_token(client, "/login/code")
    refused = client.post("/login/code", data={"code": totp_code(secret), "csrf_token": token})
    assert refused.status_code == 401
    assert "The password or the code was not right" in refused.get_data(as_text=True)
    assert not signed_in(client, user)
    # The code was not spent: the browser that typed the right password signs in with it.
    assert two_step_code(right_client, totp_code(secret)).status_code == 302
    assert signed_in(right_client, user)


def test_a_wrong_password_without_2fa_is_refused_at_once(client, make_user):
    plain = make_user()
    response = post_password(client, plain.email, "wrong password!")
    assert response.status_code == 401
    assert "Wrong email or password." in response.get_data(as_text=True)


def two_step_code(client, code):
    token = get_csrf_token(client, "/login/code")
    return client.post("/login/code", data={"code": code, "csrf_token": token})


def test_right_password_alone_does_not_sign_in(client, make_user):
    user = make_user()
    enable_two_factor(user)
    response = post_password(client, user.email, DEFAULT_PASSWORD)
    assert response.status_code == 302 and response.headers["Location"].endswith("/login/code")
    assert not signed_in(client, user)
    assert client.get("/vps/sessions").status_code == 302  # still anonymous
    page = client.get("/login/code")
    assert page.status_code == 200 and "two-factor code" in page.get_data(as_text=True)


def test_right_code_signs_in_and_a_replay_does_not(app, client, make_user):
    user = make_user()
    secret, _ = enable_two_factor(user)
    code = totp_code(secret)
    response = two_step_login(client, user, code)
    assert response.status_code == 302
    assert signed_in(client, user)
    other = app.test_client()
    replay = two_step_login(other, user, code)
    assert replay.status_code == 401
    assert "not right" in replay.get_data(as_text=True)
    assert user.email not in other.get("/").get_data(as_text=True)


def test_wrong_code_then_right_one(client, make_user):
    user = make_user()
    secret, _ = enable_two_factor(user)
    wrong = f"{(int(totp_code(secret)) + 7) % 1_000_000:06d}"
    assert two_step_login(client, user, wrong).status_code == 401
    token = get_csrf_token(client, "/login/code")
    response = client.post("/login/code", data={"code": totp_code(secret), "csrf_token": token})
    assert response.status_code == 302 and signed_in(client, user)


def test_recovery_code_signs_in_once(app, client, make_user):
    user = make_user()
    _, codes = enable_two_factor(user)
    response = two_step_login(client, user, codes[0])
    assert response.status_code == 302
    assert "recovery code: 9 left" in client.get("/").get_data(as_text=True)
    again = two_step_login(app.test_client(), user, codes[0])
    assert again.status_code == 401


def test_the_code_step_needs_a_fresh_right_password(app, client, make_user):
    user = make_user()
    secret, _ = enable_two_factor(user)
    # No password step in this browser: straight to the login form.
    assert client.get("/login/code").headers["Location"].endswith("/login")
    post_password(client, user.email, DEFAULT_PASSWORD)
    # (GET /login would start over: the code step's own form gives the CSRF token.)
    token = get_csrf_token(client, "/login/code")
    with client.session_transaction() as session:
        state = session[pending_login.PENDING_KEY]
        state["at"] = int(time.time()) - pending_login.LIFETIME_SECONDS - 1
        session[pending_login.PENDING_KEY] = state
    late = client.post("/login/code", data={"code": totp_code(secret), "csrf_token": token})
    assert late.status_code == 302 and late.headers["Location"].endswith("/login")
    assert not signed_in(client, user)
    # The same code on a fresh pending step still works: it was never used.
    assert two_step_login(client, user, totp_code(secret)).status_code == 302


def test_a_password_change_between_the_steps_ends_the_pending_sign_in(client, make_user):
    from vpsshop.services import accounts

    user = make_user()
    secret, _ = enable_two_factor(user)
    post_password(client, user.email, DEFAULT_PASSWORD)
    token = get_csrf_token(client, "/login/code")
    accounts.change_password(_db.session.get(User, user.id), "another password 1")
    _db.session.commit()
    response = client.post("/login/code", data={"code": totp_code(secret), "csrf_token": token})
    # The proof of step one's password named the old session version: refused like a wrong
    # password, whatever the code.
    assert response.status_code == 401
    assert not signed_in(client, user)


@pytest.mark.parametrize("code", ["", "x" * 40, "\x00"])
def test_bad_code_input_is_4xx(client, make_user, code):
    user = make_user()
    enable_two_factor(user)
    response = two_step_login(client, user, code)
    assert response.status_code in (400, 401)


@pytest.mark.parametrize("app_config", [{"RATELIMIT_LOGIN_FAILURES_PER_ACCOUNT": "2 per minute"}])
def test_failed_codes_count_toward_the_per_account_limit(client, make_user):
    user = make_user()
    secret, _ = enable_two_factor(user)
    assert two_step_login(client, user, "000001").status_code == 401
    token = get_csrf_token(client, "/login/code")
    assert (
        client.post("/login/code", data={"code": "000002", "csrf_token": token}).status_code == 401
    )
    token = get_csrf_token(client, "/login/code")
    limited = client.post("/login/code", data={"code": totp_code(secret), "csrf_token": token})
    assert limited.status_code == 429
    # The form's other door shares the allowance.
    assert post_password(client, user.email, DEFAULT_PASSWORD).status_code == 429


def test_a_suspended_user_sees_why(app, client, make_user, login):
    admin = make_user(admin=True)
    user = make_user()
    login(user)
    suspension.suspend(_db.session.get(User, user.id), "unpaid invoices", actor_id=admin.id)
    # The running browser session ends at once.
    assert not signed_in(client, user)
    response = post_password(client, user.email, DEFAULT_PASSWORD)
    assert response.status_code == 403
    assert "suspended: unpaid invoices" in response.get_data(as_text=True)
    assert not signed_in(client, user)
    # A wrong password says nothing about the suspension.
    wrong = post_password(client, user.email, "wrong password!")
    assert wrong.status_code == 401 and "suspended" not in wrong.get_data(as_text=True)
