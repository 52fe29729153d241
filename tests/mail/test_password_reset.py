"""Password reset end to end through a real SMTP server: request, mail, link, new password."""

from __future__ import annotations

import hashlib
from datetime import timedelta

from sqlalchemy import func, select, update

from tests.helpers import DEFAULT_PASSWORD, csrf_token_from, get_csrf_token
from tests.mail.conftest import link_path
from vpsshop.models import MailMessage, PasswordResetToken
from vpsshop.models.types import utcnow
from vpsshop.services.password_reset import RESET_ANSWER

NEW_PASSWORD = "a brand new passphrase"


def _ask_on_page(client, email):
    token = get_csrf_token(client, "/forgot")
    return client.post("/forgot", data={"email": email, "csrf_token": token})


def _reset_on_page(client, path, password=NEW_PASSWORD, confirm=None):
    page = client.get(path)
    token = csrf_token_from(page.get_data(as_text=True))
    return client.post(
        path,
        data={"password": password, "confirm": confirm or password, "csrf_token": token},
    )


def test_reset_end_to_end(app, db, client, make_user, api_token, login, run_jobs, smtp_server):
    user = make_user()
    old_token = api_token(user)
    other_browser = app.test_client()
    csrf = get_csrf_token(other_browser)
    signed_in = other_browser.post(
        "/login", data={"email": user.email, "password": DEFAULT_PASSWORD, "csrf_token": csrf}
    )
    assert signed_in.status_code == 302

    answer = _ask_on_page(client, user.email)
    assert answer.status_code == 200
    assert RESET_ANSWER in answer.get_data(as_text=True)
    assert run_jobs()
    [mail] = smtp_server.to(user.email)
    assert mail["Subject"] == "Reset your vpsshop password"
    assert "List-Unsubscribe" not in mail  # a security mail: always sent
    path = link_path(mail, "/reset/")

    form = client.get(path)
    assert form.status_code == 200 and "Set a new password" in form.get_data(as_text=True)
    done = _reset_on_page(client, path)
    assert done.status_code == 302 and done.headers["Location"].endswith("/login")

    # The old password, the old API token and the other browser's login all stopped.
    csrf = get_csrf_token(client)
    old = client.post(
        "/login", data={"email": user.email, "password": DEFAULT_PASSWORD, "csrf_token": csrf}
    )
    assert old.status_code == 401
    assert (
        client.get("/api/v1/me", headers={"Authorization": f"Bearer {old_token}"}).status_code
        == 401
    )
    assert other_browser.get("/vps/sessions").status_code == 302
    login(user, NEW_PASSWORD)

    # The link works once.
    assert client.get(path).status_code == 400
    reused = client.post(
        path, data={"password": "another one 123", "confirm": "another one 123", "csrf_token": csrf}
    )
    assert reused.status_code == 400

    # And the owner is told that the password changed.
    assert run_jobs()
    kinds = [m["X-Vpsshop-Kind"] for m in smtp_server.to(user.email)]
    assert kinds == ["password_reset", "password_changed"]


def test_api_reset_and_confirm(db, client, make_user, run_jobs, smtp_server):
    user = make_user()
    response = client.post("/api/v1/auth/password-reset", json={"email": user.email.upper()})
    assert response.status_code == 202
    assert response.get_json() == {"message": RESET_ANSWER}
    assert run_jobs()
    [mail] = smtp_server.to(user.email)
    token = link_path(mail, "/reset/").removeprefix("/reset/")

    # Only the hash is stored: not in the token table, nowhere in the mail records.
    stored = db.session.execute(select(PasswordResetToken.token_hash)).scalar_one()
    assert stored == hashlib.sha256(token.encode()).hexdigest()
    contexts = " ".join(db.session.execute(select(MailMessage.context)).scalars())
    assert token not in contexts

    short = client.post(
        "/api/v1/auth/password-reset/confirm", json={"token": token, "password": "short"}
    )
    assert short.status_code == 400 and short.get_json()["error"] == "invalid_password"
    ok = client.post(
        "/api/v1/auth/password-reset/confirm", json={"token": token, "password": NEW_PASSWORD}
    )
    assert ok.status_code == 200
    again = client.post(
        "/api/v1/auth/password-reset/confirm", json={"token": token, "password": NEW_PASSWORD}
    )
    assert again.status_code == 400 and again.get_json()["error"] == "invalid_reset_token"
    assert (
        client.post(
            "/api/v1/auth/token", json={"email": user.email, "password": NEW_PASSWORD}
        ).status_code
        == 201
    )


def test_unknown_address_answered_alike_and_nothing_sent(
    db, client, make_user, run_jobs, smtp_server
):
    user = make_user()
    known = client.post("/api/v1/auth/password-reset", json={"email": user.email})
    unknown = client.post("/api/v1/auth/password-reset", json={"email": "nobody@example.com"})
    assert (known.status_code, known.get_json()) == (unknown.status_code, unknown.get_json())
    page_known = _ask_on_page(client, user.email)
    page_unknown = _ask_on_page(client, "nobody@example.com")
    assert page_known.status_code == page_unknown.status_code == 200
    assert page_known.get_data(as_text=True).replace(user.email, "") == page_unknown.get_data(
        as_text=True
    ).replace("nobody@example.com", "")
    assert run_jobs()
    assert smtp_server.to("nobody@example.com") == []
    assert len(smtp_server.to(user.email)) == 2
    recipients = db.session.execute(select(MailMessage.to_address)).scalars().all()
    assert "nobody@example.com" not in recipients


def test_expired_link_is_refused(db, client, make_user, run_jobs, smtp_server):
    user = make_user()
    client.post("/api/v1/auth/password-reset", json={"email": user.email})
    assert run_jobs()
    token = link_path(smtp_server.to(user.email)[0], "/reset/").removeprefix("/reset/")
    db.session.execute(
        update(PasswordResetToken).values(expires_at=utcnow() - timedelta(seconds=1))
    )
    db.session.commit()
    response = client.post(
        "/api/v1/auth/password-reset/confirm", json={"token": token, "password": NEW_PASSWORD}
    )
    assert response.status_code == 400
    assert client.get(f"/reset/{token}").status_code == 400


def test_mistyped_new_password_keeps_the_link(db, client, make_user, run_jobs, smtp_server):
    user = make_user()
    _ask_on_page(client, user.email)
    assert run_jobs()
    path = link_path(smtp_server.to(user.email)[0], "/reset/")
    differ = _reset_on_page(client, path, confirm="something else entirely")
    assert differ.status_code == 400 and "The passwords differ." in differ.get_data(as_text=True)
    used = db.session.execute(
        select(func.count()).where(PasswordResetToken.used_at.is_not(None))
    ).scalar()
    assert used == 0
    assert _reset_on_page(client, path).status_code == 302


def test_bad_bodies_never_500(client, make_user):
    for body in (None, "text", [], {"email": 5}, {"email": ["a@b.c"]}, {"email": "not-an-email"}):
        kwargs = (
            {"data": "x{", "content_type": "application/json"} if body is None else {"json": body}
        )
        response = client.post("/api/v1/auth/password-reset", **kwargs)
        assert response.status_code == 400, (body, response.get_json())
        assert response.get_json()["error"] in {"invalid_json", "invalid_email"}
    for body in (
        [],
        {},
        {"token": 5, "password": NEW_PASSWORD},
        {"token": "x" * 5000, "password": NEW_PASSWORD},
        {"token": "nope", "password": NEW_PASSWORD},
        {"token": "nope", "password": None},
        {"token": "nope\x00", "password": NEW_PASSWORD + "\x00"},
    ):
        response = client.post("/api/v1/auth/password-reset/confirm", json=body)
        assert response.status_code == 400, (body, response.get_json())
    assert client.get("/reset/" + "x" * 3000).status_code == 400
    assert client.post("/reset/whatever", data={}).status_code == 400
    token = get_csrf_token(client, "/forgot")
    assert client.post("/forgot", data={"email": "bad", "csrf_token": token}).status_code == 400
    assert client.post("/forgot", data={"email": "a@b.co"}).status_code == 400  # no CSRF


def test_rate_limited_per_account_alike(app, client, make_user):
    app.config["RATELIMIT_PASSWORD_RESET_PER_ACCOUNT"] = "2 per hour"
    user = make_user()
    for email in (user.email, "nobody@example.com"):
        codes = [
            client.post("/api/v1/auth/password-reset", json={"email": email}).status_code
            for _ in range(3)
        ]
        assert codes == [202, 202, 429]
    # Another address from the same client is not held back by those.
    assert (
        client.post("/api/v1/auth/password-reset", json={"email": "third@example.com"}).status_code
        == 202
    )


def test_rate_limited_per_client_address(app, client):
    app.config["RATELIMIT_PASSWORD_RESET_PER_ADDRESS"] = "2 per hour"
    codes = [
        client.post("/api/v1/auth/password-reset", json={"email": f"n{i}@example.com"}).status_code
        for i in range(3)
    ]
    assert codes == [202, 202, 429]
