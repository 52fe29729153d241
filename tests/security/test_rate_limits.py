"""Rate limits on Redis: sign-in per address and per account, sign-up, tokens, purchases."""

from __future__ import annotations

import re
import time

import pytest

from tests.helpers import DEFAULT_PASSWORD, get_csrf_token, register
from vpsshop.config import RATE_LIMITS, load_config
from vpsshop.extensions import db as _db
from vpsshop.models import User

GENEROUS = "1000 per minute"


def limits(**values: str) -> dict[str, str]:
    """App config with every limit generous except the ones named."""
    config = {key: GENEROUS for key in RATE_LIMITS}
    config.update({f"RATELIMIT_{key.upper()}": value for key, value in values.items()})
    return config


def form_login(client, email: str, password: str, address: str = "127.0.0.1"):
    token = get_csrf_token(client)
    return client.post(
        "/login",
        data={"email": email, "password": password, "csrf_token": token},
        environ_base={"REMOTE_ADDR": address},
    )


def api_login(client, email: str, password: str, address: str = "127.0.0.1"):
    return client.post(
        "/api/v1/auth/token",
        json={"email": email, "password": password},
        environ_base={"REMOTE_ADDR": address},
    )


def assert_html_429(response) -> int:
    assert response.status_code == 429
    assert response.mimetype == "text/html"
    assert "Too many attempts" in response.get_data(as_text=True)
    retry_after = int(response.headers["Retry-After"])
    assert retry_after >= 1
    return retry_after


def assert_json_429(response) -> int:
    assert response.status_code == 429
    body = response.get_json()
    assert body["error"] == "rate_limited"
    assert "Try again" in body["message"]
    retry_after = int(response.headers["Retry-After"])
    assert retry_after >= 1
    return retry_after


def test_production_defaults(monkeypatch):
    monkeypatch.setenv("VPSSHOP_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "x" * 32)
    monkeypatch.setenv("ENCRYPTION_KEYS", "unused-here")
    for key in RATE_LIMITS:
        monkeypatch.delenv(key, raising=False)
    config = load_config()
    assert config["RATELIMIT_LOGIN_PER_ADDRESS"] == "30 per minute"
    assert config["RATELIMIT_LOGIN_FAILURES_PER_ACCOUNT"] == "10 per 15 minutes"
    assert config["RATELIMIT_REGISTER_PER_ADDRESS"] == "5 per hour"
    assert config["RATELIMIT_ENABLED"] is True


@pytest.mark.parametrize("app_config", [limits(login_per_address="3 per minute")])
def test_login_form_per_address(app, client, make_user):
    user = make_user()
    for n in range(3):
        assert form_login(client, f"nobody{n}@example.com", "wrong password").status_code == 401
    # The right password does not get through from this address either...
    retry_after = assert_html_429(form_login(client, user.email, DEFAULT_PASSWORD))
    # A one-minute window; Retry-After rounds up, so a second more is still that window.
    assert retry_after <= 61
    # ...and the token endpoint shares the allowance.
    assert_json_429(api_login(client, user.email, DEFAULT_PASSWORD))
    # Another address is not affected.
    assert form_login(client, user.email, DEFAULT_PASSWORD, "10.1.2.3").status_code == 302


@pytest.mark.parametrize(
    "app_config", [{**limits(login_per_address="2 per minute"), "TRUST_PROXY_HOPS": 1}]
)
def test_address_behind_a_proxy_is_the_forwarded_one(app, client, make_user):
    make_user("someone@example.com")

    def attempt(forwarded_for: str):
        return client.post(
            "/api/v1/auth/token",
            json={"email": "someone@example.com", "password": "wrong password"},
            headers={"X-Forwarded-For": forwarded_for},
        )

    assert attempt("203.0.113.5").status_code == 401
    assert attempt("203.0.113.5").status_code == 401
    assert_json_429(attempt("203.0.113.5"))
    # Same proxy (REMOTE_ADDR), another client behind it: its own allowance.
    assert attempt("203.0.113.6").status_code == 401


@pytest.mark.parametrize("app_config", [limits(login_per_address="3 per minute")])
def test_token_endpoint_per_address(app, client, make_user):
    user = make_user()
    for _ in range(3):
        assert api_login(client, user.email, "wrong password").status_code == 401
    assert_json_429(api_login(client, user.email, DEFAULT_PASSWORD))


@pytest.mark.parametrize("app_config", [limits(login_failures_per_account="3 per 2 seconds")])
def test_account_failures_lock_briefly_and_unlock_by_themselves(app, client, make_user):
    victim = make_user("victim@example.com")
    bystander = make_user("bystander@example.com")
    # Successes never count: many correct sign-ins in a row are fine.
    for _ in range(5):
        assert api_login(client, victim.email, DEFAULT_PASSWORD).status_code == 201
    # An attacker fails from several addresses, through both doors, with spelling variants
    # of the email that normalise to the same account.
    assert form_login(client, "victim@example.com", "guess 1", "198.51.100.1").status_code == 401
    assert api_login(client, " VICTIM@example.com", "guess 2", "198.51.100.2").status_code == 401
    assert api_login(client, "victim@EXAMPLE.com", "guess 3", "198.51.100.3").status_code == 401
    started = time.monotonic()
    # Now even the right password from a fresh address waits, on both doors...
    assert_json_429(api_login(client, victim.email, DEFAULT_PASSWORD, "192.0.2.10"))
    assert_html_429(form_login(client, victim.email, DEFAULT_PASSWORD, "192.0.2.10"))
    # ...while other accounts, even from the attacker's address, are untouched.
    assert api_login(client, bystander.email, DEFAULT_PASSWORD, "198.51.100.1").status_code == 201
    # The window ends by itself: the real user gets in without anyone's help.
    deadline = started + 10
    while True:
        response = api_login(client, victim.email, DEFAULT_PASSWORD, "192.0.2.10")
        if response.status_code == 201 or time.monotonic() > deadline:
            break
        assert response.status_code == 429
        time.sleep(0.25)
    assert response.status_code == 201, "the account stayed locked past its window"
    assert time.monotonic() - started < 5


@pytest.mark.parametrize("app_config", [limits(tokens_per_account="2 per minute")])
def test_token_creation_per_account(app, client, make_user):
    user = make_user()
    other = make_user()
    assert api_login(client, user.email, DEFAULT_PASSWORD).status_code == 201
    assert api_login(client, user.email, DEFAULT_PASSWORD, "10.9.9.9").status_code == 201
    assert_json_429(api_login(client, user.email, DEFAULT_PASSWORD, "10.9.9.10"))
    assert api_login(client, other.email, DEFAULT_PASSWORD).status_code == 201
    # Refused creations wrote no token.
    tokens = _db.session.execute(
        _db.text("SELECT count(*) FROM api_tokens WHERE user_id = :id"), {"id": user.id}
    ).scalar()
    assert tokens == 2


@pytest.fixture
def product(make_worker, make_product):
    # A dead node: the purchase only reserves and enqueues, no job runs here.
    return make_product([make_worker(max_sessions=20)], price=1)


def coins_of(user) -> int:
    _db.session.expire_all()
    return _db.session.get(User, user.id).coins


@pytest.mark.parametrize("app_config", [limits(purchases_per_user="2 per minute")])
def test_api_purchase_per_user(app, client, make_user, api_token, product):
    buyer = make_user(coins=10)
    other = make_user(coins=10)
    headers = {"Authorization": f"Bearer {api_token(buyer)}"}
    url = "/api/v1/vps/purchase-and-create"
    body = {"product_id": str(product.id)}
    assert client.post(url, json=body, headers=headers).status_code == 202
    assert client.post(url, json=body, headers=headers).status_code == 202
    # A new token, or a new address, is still the same buyer.
    headers2 = {"Authorization": f"Bearer {api_token(buyer)}"}
    refused = client.post(
        url, json=body, headers=headers2, environ_base={"REMOTE_ADDR": "10.7.7.7"}
    )
    assert_json_429(refused)
    assert coins_of(buyer) == 8, "a refused purchase charged"
    other_headers = {"Authorization": f"Bearer {api_token(other)}"}
    assert client.post(url, json=body, headers=other_headers).status_code == 202


@pytest.mark.parametrize("app_config", [limits(purchases_per_user="2 per minute")])
def test_form_purchase_shares_the_allowance(app, client, make_user, login, api_token, product):
    buyer = make_user(coins=10)
    headers = {"Authorization": f"Bearer {api_token(buyer)}"}
    api = client.post(
        "/api/v1/vps/purchase-and-create", json={"product_id": str(product.id)}, headers=headers
    )
    assert api.status_code == 202
    login(buyer)

    def buy():
        page = client.get(f"/buy/{product.id}").get_data(as_text=True)
        key = re.search(r'name="purchase_key" type="hidden" value="([^"]+)"', page).group(1)
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
        return client.post(f"/buy/{product.id}", data={"purchase_key": key, "csrf_token": token})

    assert buy().status_code == 302
    assert_html_429(buy())
    # The confirmation page itself (GET) is not limited.
    assert client.get(f"/buy/{product.id}").status_code == 200
    assert coins_of(buyer) == 8


@pytest.mark.parametrize("app_config", [limits(login_failures_per_account="2 per minute")])
def test_password_change_guesses_are_limited(app, client, make_user, login):
    user = make_user()
    login(user)

    def change(current: str):
        token = get_csrf_token(client, "/account/password")
        return client.post(
            "/account/password",
            data={
                "current_password": current,
                "new_password": "a new long password",
                "confirm": "a new long password",
                "csrf_token": token,
            },
        )

    assert change("guess one").status_code == 403
    assert change("guess two").status_code == 403
    assert_html_429(change(DEFAULT_PASSWORD))


@pytest.mark.parametrize("app_config", [limits(register_per_address="3 per hour")])
def test_sign_ups_per_address(app, client, make_user):
    make_user("taken@example.com")
    # A refused form (a typo) costs nothing and does not count.
    for _ in range(3):
        assert register(client, "typo@example.com", confirm="other").status_code == 400
    # Accepted sign-ups count, a taken address among them: it is answered the same way.
    for email in ("one@example.com", "taken@example.com", "two@example.com"):
        assert register(client, email).status_code == 302
    retry_after = assert_html_429(register(client, "three@example.com"))
    assert retry_after <= 3601
    emails = set(_db.session.execute(_db.select(User.email)).scalars())
    assert emails == {"taken@example.com", "one@example.com", "two@example.com"}
    # Another address is not affected.
    assert register(client, "three@example.com", address="10.9.8.7").status_code == 302


@pytest.mark.parametrize("app_config", [limits(login_failures_per_account="2 per 15 minutes")])
def test_the_wait_is_said_in_minutes_on_the_page_and_in_the_api(app, client, make_user):
    user = make_user()
    for _ in range(2):
        assert form_login(client, user.email, "wrong password").status_code == 401
    page = form_login(client, user.email, "wrong password")
    assert_html_429(page)
    html = page.get_data(as_text=True)
    assert "Try again in 15 minutes." in html and "seconds" not in html
    answer = api_login(client, user.email, "wrong password")
    assert_json_429(answer)
    assert answer.get_json()["message"] == "Too many attempts. Try again in 15 minutes."
    assert 14 * 60 < int(answer.headers["Retry-After"]) <= 15 * 60 + 1
