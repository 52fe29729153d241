"""E-mail verification: the mailed link at sign-up, the gate on buying, the resend limit."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from tests.helpers import DEFAULT_PASSWORD, csrf_token_from, get_csrf_token, register
from tests.mail.conftest import link_path
from vpsshop.models import User


@pytest.fixture
def app_config(smtp_server) -> dict:
    return {
        "MAIL_URL": smtp_server.url,
        "MAIL_RETRY_INTERVALS": "1",
        "PUBLIC_URL": "http://shop.test",
        "REQUIRE_EMAIL_VERIFICATION": True,
    }


def _user(db, email) -> User:
    db.session.expire_all()
    return db.session.execute(select(User).where(User.email == email)).scalar_one()


def test_sign_up_mails_a_link_and_buying_waits_for_it(
    db, client, login, make_worker, make_product, run_jobs, smtp_server
):
    product = make_product([make_worker()], price=5)
    assert register(client, "new@example.com").status_code == 302
    user = _user(db, "new@example.com")
    assert user.email_verified_at is None
    login(user)
    assert "Confirm your email address" in client.get("/").get_data(as_text=True)

    page = client.get(f"/buy/{product.id}")
    bought = client.post(
        f"/buy/{product.id}",
        data={"csrf_token": csrf_token_from(page.get_data(as_text=True)), "purchase_key": "k" * 32},
    )
    assert bought.status_code == 403
    assert "Confirm your email address first" in bought.get_data(as_text=True)
    token = client.post(
        "/api/v1/auth/token", json={"email": user.email, "password": DEFAULT_PASSWORD}
    ).get_json()["token"]
    api = client.post(
        "/api/v1/vps/purchase-and-create",
        json={"product_id": str(product.id)},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert api.status_code == 403 and api.get_json()["error"] == "email_unverified"
    assert (
        client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).get_json()[
            "email_verified"
        ]
        is False
    )

    assert run_jobs()
    [mail] = smtp_server.to("new@example.com")
    path = link_path(mail, "/verify-email/")
    confirm_page = client.get(path)
    assert confirm_page.status_code == 200
    assert _user(db, "new@example.com").email_verified_at is None  # GET changes nothing
    done = client.post(
        path, data={"csrf_token": csrf_token_from(confirm_page.get_data(as_text=True))}
    )
    assert done.status_code == 302
    assert _user(db, "new@example.com").email_verified_at is not None
    again = client.post(
        "/api/v1/vps/purchase-and-create",
        json={"product_id": str(product.id)},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert again.status_code == 402  # past the gate: now it is about coins


def test_users_made_by_an_operator_are_verified(db, runner, make_user):
    assert make_user().email_verified_at is not None
    result = runner.invoke(args=["create-user", "op@example.com", "--password", "long enough 1"])
    assert result.exit_code == 0, result.output
    assert _user(db, "op@example.com").email_verified_at is not None


def test_resend_is_rate_limited(app, db, client, login, run_jobs, smtp_server):
    app.config["RATELIMIT_VERIFY_MAIL_PER_ACCOUNT"] = "2 per hour"
    register(client, "late@example.com")
    login(_user(db, "late@example.com"))
    codes = []
    for _ in range(3):
        token = get_csrf_token(client, "/account/notifications")
        codes.append(client.post("/account/verify-email", data={"csrf_token": token}).status_code)
    assert codes == [302, 302, 429]
    assert run_jobs()
    assert len(smtp_server.to("late@example.com")) == 3  # sign-up's and two resends


def test_bad_or_foreign_links(db, client, make_user):
    assert client.get("/verify-email/nope").status_code == 400
    assert client.post("/verify-email/nope", data={}).status_code == 400
    from vpsshop.services import mail_links

    user = make_user()
    stale = mail_links.verification_token(user.id, "old-address@example.com")
    page = client.get(f"/verify-email/{stale}")
    assert page.status_code == 200  # well signed; the POST finds the address differs
    token = csrf_token_from(page.get_data(as_text=True))
    assert client.post(f"/verify-email/{stale}", data={"csrf_token": token}).status_code == 400


def test_api_resend(db, client, make_user, api_token, run_jobs, smtp_server):
    user = make_user()
    headers = {"Authorization": f"Bearer {api_token(user)}"}
    assert client.post("/api/v1/me/verify-email", headers=headers).status_code == 200
    user.email_verified_at = None
    db.session.commit()
    assert client.post("/api/v1/me/verify-email", headers=headers).status_code == 202
    assert run_jobs()
    assert [m["X-Vpsshop-Kind"] for m in smtp_server.to(user.email)] == ["verify_email"]
