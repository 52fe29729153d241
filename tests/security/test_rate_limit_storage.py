"""A rate-limit storage outage (Redis unreachable) lets sign-in work instead of failing."""

from __future__ import annotations

import pytest

from tests.helpers import DEFAULT_PASSWORD, get_csrf_token


@pytest.fixture
def app_config(closed_port) -> dict:
    return {
        "RATELIMIT_STORAGE_URI": f"redis://127.0.0.1:{closed_port}/0",
        "RATELIMIT_LOGIN_PER_ADDRESS": "1 per minute",
        "RATELIMIT_LOGIN_FAILURES_PER_ACCOUNT": "1 per minute",
    }


def test_sign_in_works_while_the_limit_storage_is_down(app, client, make_user):
    user = make_user()
    assert client.get("/login").status_code == 200
    for _ in range(3):  # far past the (unenforceable) limit of 1
        response = client.post(
            "/api/v1/auth/token", json={"email": user.email, "password": "wrong password"}
        )
        assert response.status_code == 401
    response = client.post(
        "/login",
        data={
            "email": user.email,
            "password": DEFAULT_PASSWORD,
            "csrf_token": get_csrf_token(client),
        },
    )
    assert response.status_code == 302
    assert client.get("/vps/sessions").status_code == 200
