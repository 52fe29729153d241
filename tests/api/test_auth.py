"""API tokens, /me, and JSON errors for bad requests."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import select

from vpsshop.models import ApiToken


def test_token_then_me(client, db, make_user, api_token):
    user = make_user(coins=7)
    token = api_token(user)
    response = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert response.get_json() == {
        "id": str(user.id),
        "email": user.email,
        "coins": 7,
        "is_admin": False,
        "email_verified": True,
    }
    stored = db.session.execute(select(ApiToken)).scalar_one()
    assert stored.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in stored.token_hash


def test_token_with_wrong_password(client, make_user):
    user = make_user()
    response = client.post(
        "/api/v1/auth/token", json={"email": user.email, "password": "nope nope"}
    )
    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_credentials"


@pytest.mark.parametrize(
    "header",
    [None, "", "Bearer", "Bearer ", "Basic abc", "Bearer not-a-real-token", "bearer " + "x" * 500],
)
def test_missing_or_wrong_bearer_is_401(client, header):
    headers = {"Authorization": header} if header is not None else {}
    response = client.get("/api/v1/me", headers=headers)
    assert response.status_code == 401
    body = response.get_json()
    assert body["error"] == "unauthorized" and body["message"]


@pytest.mark.parametrize(
    "data,content_type",
    [
        ("{not json", "application/json"),
        ("[1, 2]", "application/json"),
        ('"text"', "application/json"),
        ("email=a", "application/x-www-form-urlencoded"),
        ("", "application/json"),
    ],
)
def test_malformed_bodies_are_400_json(client, data, content_type):
    response = client.post("/api/v1/auth/token", data=data, content_type=content_type)
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_json"


@pytest.mark.parametrize("body", [{}, {"email": 5, "password": []}, {"email": "a@b.co"}])
def test_bad_credential_types_are_401_not_500(client, body):
    response = client.post("/api/v1/auth/token", json=body)
    assert response.status_code == 401


def test_unknown_api_path_is_json_404(client):
    response = client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.get_json()["error"] == "not_found"


def test_api_needs_no_csrf_token_but_a_bearer(client, make_user, api_token):
    user = make_user()
    response = client.post("/api/v1/auth/token", json={"email": user.email, "password": "x"})
    assert response.status_code == 401  # refused for the password, not for CSRF
