"""The account API: 2FA setup and sign-in with otp, tokens, activity, suspension."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from tests.helpers import DEFAULT_PASSWORD, enable_two_factor, totp_code
from vpsshop.extensions import db as _db
from vpsshop.models import ActivityEvent, ApiToken, AuditEntry, User
from vpsshop.models.types import utcnow
from vpsshop.services import tokens as token_service


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def sign_in(client, user, **extra):
    return client.post(
        "/api/v1/auth/token", json={"email": user.email, "password": DEFAULT_PASSWORD, **extra}
    )


def kinds_of(user) -> list[str]:
    _db.session.expire_all()
    return list(
        _db.session.execute(
            select(ActivityEvent.kind)
            .where(ActivityEvent.user_id == user.id)
            .order_by(ActivityEvent.id)
        ).scalars()
    )


# --- 2FA through the API ------------------------------------------------------------


def test_setup_enable_and_sign_in_with_otp(client, make_user, api_token):
    user = make_user()
    token = api_token(user)
    wrong = client.post(
        "/api/v1/me/2fa/setup", json={"password": "nope nope"}, headers=bearer(token)
    )
    assert wrong.status_code == 403 and wrong.get_json()["error"] == "wrong_password"
    setup = client.post(
        "/api/v1/me/2fa/setup", json={"password": DEFAULT_PASSWORD}, headers=bearer(token)
    )
    assert setup.status_code == 200
    body = setup.get_json()
    assert set(body) == {"secret", "otpauth_uri"} and body["secret"] in body["otpauth_uri"]
    secret = body["secret"]
    # Not on yet: a sign-in without otp still works.
    assert sign_in(client, user).status_code == 201
    bad = client.post("/api/v1/me/2fa/enable", json={"code": "000000"}, headers=bearer(token))
    if totp_code(secret) != "000000":
        assert bad.status_code == 403 and bad.get_json()["error"] == "otp_invalid"
    enabled = client.post(
        "/api/v1/me/2fa/enable", json={"code": totp_code(secret, -1)}, headers=bearer(token)
    )
    assert enabled.status_code == 200
    recovery = enabled.get_json()["recovery_codes"]
    assert len(recovery) == 10

    missing = sign_in(client, user)
    assert missing.status_code == 401 and missing.get_json()["error"] == "otp_required"
    wrong_otp = sign_in(client, user, otp="12345x")
    assert wrong_otp.status_code == 401 and wrong_otp.get_json()["error"] == "otp_invalid"
    code = totp_code(secret)
    assert sign_in(client, user, otp=code, name="laptop").status_code == 201
    replay = sign_in(client, user, otp=code)
    assert replay.status_code == 401 and replay.get_json()["error"] == "otp_invalid"
    assert sign_in(client, user, otp=recovery[0]).status_code == 201
    assert sign_in(client, user, otp=recovery[0]).get_json()["error"] == "otp_invalid"
    kinds = kinds_of(user)
    assert "2fa_enabled" in kinds and "recovery_code_used" in kinds
    assert kinds.count("sign_in_failed") >= 3


def test_no_answer_tells_whether_a_2fa_accounts_password_was_right(client, make_user):
    """With two-factor sign-in, a wrong password is answered like a right one (no code)
    or like a wrong code (with one): the password is never confirmed on its own."""
    user = make_user()
    secret, _ = enable_two_factor(user)

    def answer(password, otp=None):
        extra = {"otp": otp} if otp else {}
        response = client.post(
            "/api/v1/auth/token", json={"email": user.email, "password": password, **extra}
        )
        return response.status_code, response.get_json()

    assert answer("wrong wrong") == answer(DEFAULT_PASSWORD)
    assert answer("wrong wrong")[1]["error"] == "otp_required"
    # A right code with a wrong password is refused like a wrong code with the right one.
    assert answer("wrong wrong", totp_code(secret)) == answer(DEFAULT_PASSWORD, "000000")
    assert answer("wrong wrong", totp_code(secret))[1]["error"] == "otp_invalid"
    # The right code was not spent by the refused try: it still signs in.
    assert answer(DEFAULT_PASSWORD, totp_code(secret))[0] == 201


def test_a_wrong_password_without_2fa_is_invalid_credentials(client, make_user):
    plain = make_user()
    response = client.post(
        "/api/v1/auth/token", json={"email": plain.email, "password": "wrong wrong"}
    )
    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_credentials"


def test_disable_needs_password_and_code(client, make_user, api_token):
    user = make_user()
    token = api_token(user)
    secret, recovery = enable_two_factor(user)
    url = "/api/v1/me/2fa/disable"
    no_code = client.post(
        url, json={"password": DEFAULT_PASSWORD, "code": "1"}, headers=bearer(token)
    )
    assert no_code.status_code == 403 and no_code.get_json()["error"] == "otp_invalid"
    no_pw = client.post(
        url, json={"password": "x" * 9, "code": totp_code(secret)}, headers=bearer(token)
    )
    assert no_pw.status_code == 403 and no_pw.get_json()["error"] == "wrong_password"
    done = client.post(
        url, json={"password": DEFAULT_PASSWORD, "code": recovery[3]}, headers=bearer(token)
    )
    assert done.status_code == 200
    assert sign_in(client, user).status_code == 201
    assert "2fa_disabled" in kinds_of(user)
    again = client.post(
        url, json={"password": DEFAULT_PASSWORD, "code": "1"}, headers=bearer(token)
    )
    assert again.status_code == 400 and again.get_json()["error"] == "2fa_not_enabled"


@pytest.mark.parametrize("app_config", [{"RATELIMIT_LOGIN_FAILURES_PER_ACCOUNT": "3 per minute"}])
def test_failed_codes_count_toward_the_account_limit(client, make_user):
    user = make_user()
    secret, _ = enable_two_factor(user)
    for _ in range(3):
        assert sign_in(client, user, otp="000001").status_code == 401
    limited = sign_in(client, user, otp=totp_code(secret))
    assert limited.status_code == 429 and limited.get_json()["error"] == "rate_limited"


@pytest.mark.parametrize(
    "url,body",
    [
        ("/api/v1/me/2fa/setup", []),
        ("/api/v1/me/2fa/setup", {"password": 5}),
        ("/api/v1/me/2fa/setup", {"password": DEFAULT_PASSWORD, "extra": 1}),
        ("/api/v1/me/2fa/enable", {"code": ["1"]}),
        ("/api/v1/me/2fa/enable", "x"),
        ("/api/v1/me/2fa/disable", {"password": None, "code": None}),
        ("/api/v1/auth/token", {"email": "a@b.cd", "password": "x", "otp": {"a": 1}}),
        ("/api/v1/auth/token", {"email": "a@b.cd", "password": "x", "name": "\x00"}),
        ("/api/v1/auth/token", {"email": "a@b.cd", "password": "x", "name": "n" * 101}),
    ],
)
def test_bad_bodies_are_4xx(client, make_user, api_token, url, body):
    user = make_user()
    token = api_token(user)
    response = client.post(url, json=body, headers=bearer(token))
    assert 400 <= response.status_code < 500, response.get_json()
    assert response.get_json()["error"]


def test_otp_of_a_2fa_account_as_a_number_is_refused_cleanly(client, make_user):
    user = make_user()
    enable_two_factor(user)
    response = sign_in(client, user, otp=123456)
    assert response.status_code == 401 and response.get_json()["error"] == "otp_invalid"


# --- tokens ---------------------------------------------------------------------------


def test_tokens_listed_without_values_with_the_current_one_marked(client, make_user):
    user = make_user()
    first = sign_in(client, user, name="laptop").get_json()["token"]
    second = sign_in(client, user, name="CI").get_json()["token"]
    body = client.get("/api/v1/me/tokens", headers=bearer(second)).get_json()
    assert [t["name"] for t in body["tokens"]] == ["CI", "laptop"]
    for item in body["tokens"]:
        assert set(item) == {"id", "name", "created_at", "last_used_at", "expires_at", "current"}
        assert first not in str(item) and second not in str(item)
    assert [t["current"] for t in body["tokens"]] == [True, False]
    assert body["tokens"][0]["last_used_at"] is not None


def test_revoke_ends_the_token_at_once(client, make_user):
    user = make_user()
    keep = sign_in(client, user, name="keep").get_json()["token"]
    doomed = sign_in(client, user, name="doomed").get_json()["token"]
    assert client.get("/api/v1/me", headers=bearer(doomed)).status_code == 200
    listed = client.get("/api/v1/me/tokens", headers=bearer(keep)).get_json()["tokens"]
    doomed_id = next(t["id"] for t in listed if t["name"] == "doomed")
    response = client.delete(f"/api/v1/me/tokens/{doomed_id}", headers=bearer(keep))
    assert response.status_code == 204 and response.get_data() == b""
    assert client.get("/api/v1/me", headers=bearer(doomed)).status_code == 401
    assert client.get("/api/v1/me", headers=bearer(keep)).status_code == 200
    again = client.delete(f"/api/v1/me/tokens/{doomed_id}", headers=bearer(keep))
    assert again.status_code == 404
    assert kinds_of(user).count("token_revoked") == 1


def test_another_users_token_is_untouchable(client, make_user):
    alice, bob = make_user(), make_user()
    alice_token = sign_in(client, alice).get_json()["token"]
    bob_token = sign_in(client, bob).get_json()["token"]
    alice_id = client.get("/api/v1/me/tokens", headers=bearer(alice_token)).get_json()["tokens"][0][
        "id"
    ]
    theirs = client.delete(f"/api/v1/me/tokens/{alice_id}", headers=bearer(bob_token))
    missing = client.delete(
        "/api/v1/me/tokens/00000000-0000-4000-8000-000000000000", headers=bearer(bob_token)
    )
    assert theirs.status_code == missing.status_code == 404
    assert theirs.get_json() == missing.get_json()
    assert client.get("/api/v1/me", headers=bearer(alice_token)).status_code == 200
    bobs = client.get("/api/v1/me/tokens", headers=bearer(bob_token)).get_json()["tokens"]
    assert alice_id not in [t["id"] for t in bobs]


def test_last_used_is_written_at_most_once_a_minute(app, client, make_user):
    user = make_user()
    token = sign_in(client, user).get_json()["token"]
    assert client.get("/api/v1/me", headers=bearer(token)).status_code == 200
    _db.session.expire_all()
    first = _db.session.execute(select(ApiToken.last_used_at)).scalar_one()
    assert first is not None
    for _ in range(3):
        client.get("/api/v1/me", headers=bearer(token))
    _db.session.expire_all()
    assert _db.session.execute(select(ApiToken.last_used_at)).scalar_one() == first
    # A minute later (moved back here rather than waited for) it moves again.
    _db.session.execute(update(ApiToken).values(last_used_at=first - timedelta(minutes=2)))
    _db.session.commit()
    client.get("/api/v1/me", headers=bearer(token))
    _db.session.expire_all()
    assert _db.session.execute(select(ApiToken.last_used_at)).scalar_one() > first - timedelta(
        seconds=1
    )


def test_an_expired_token_stops(client, make_user):
    user = make_user()
    value = token_service.issue_token(user, "short", expires_in_days=7)
    _db.session.commit()
    assert client.get("/api/v1/me", headers=bearer(value)).status_code == 200
    _db.session.execute(update(ApiToken).values(expires_at=utcnow() - timedelta(seconds=1)))
    _db.session.commit()
    assert client.get("/api/v1/me", headers=bearer(value)).status_code == 401


def test_a_password_change_ends_every_token(app, client, make_user):
    from vpsshop.services import accounts

    user = make_user()
    token = sign_in(client, user).get_json()["token"]
    accounts.change_password(_db.session.get(User, user.id), "a brand new password")
    _db.session.commit()
    assert client.get("/api/v1/me", headers=bearer(token)).status_code == 401
    assert "password_changed" in kinds_of(user)


# --- activity -------------------------------------------------------------------------


def test_activity_is_own_only_and_paged(client, make_user):
    alice, bob = make_user(), make_user()
    alice_token = sign_in(client, alice, name="a1").get_json()["token"]
    for _ in range(3):
        client.post("/api/v1/auth/token", json={"email": alice.email, "password": "wrong pw!"})
    bob_token = sign_in(client, bob).get_json()["token"]
    events = client.get("/api/v1/me/activity", headers=bearer(alice_token)).get_json()["events"]
    assert [e["kind"] for e in events][:3] == ["sign_in_failed"] * 3
    assert {e["kind"] for e in events} == {"sign_in", "token_created", "sign_in_failed"}
    for event in events:
        assert set(event) == {"id", "kind", "created_at", "ip", "user_agent", "detail"}
        assert event["ip"] == "127.0.0.1"
    bobs = client.get("/api/v1/me/activity", headers=bearer(bob_token)).get_json()["events"]
    assert {e["id"] for e in bobs}.isdisjoint({e["id"] for e in events})
    page = client.get("/api/v1/me/activity?limit=2", headers=bearer(alice_token)).get_json()
    assert [e["id"] for e in page["events"]] == [e["id"] for e in events[:2]]
    rest = client.get(
        f"/api/v1/me/activity?limit=100&before={page['events'][-1]['id']}",
        headers=bearer(alice_token),
    ).get_json()["events"]
    assert [e["id"] for e in rest] == [e["id"] for e in events[2:]]
    # Paging from another user's event id shows nothing of theirs.
    foreign = client.get(
        f"/api/v1/me/activity?before={events[0]['id']}", headers=bearer(bob_token)
    ).get_json()["events"]
    assert foreign == []


@pytest.mark.parametrize(
    "query", ["limit=0", "limit=101", "limit=x", "before=-1", "before=1e3", "before=" + "9" * 30]
)
def test_activity_bad_paging_is_400(client, make_user, api_token, query):
    token = api_token(make_user())
    response = client.get(f"/api/v1/me/activity?{query}", headers=bearer(token))
    assert response.status_code == 400 and response.get_json()["error"].startswith("invalid_")


@pytest.mark.parametrize("app_config", [{"TRUST_PROXY_HOPS": 1}])
def test_activity_address_comes_through_the_trusted_proxy(client, make_user):
    user = make_user()
    client.post(
        "/api/v1/auth/token",
        json={"email": user.email, "password": DEFAULT_PASSWORD},
        headers={"X-Forwarded-For": "203.0.113.9", "User-Agent": "curl/8.0\x01"},
    )
    event = _db.session.execute(select(ActivityEvent).limit(1)).scalar_one()
    assert event.ip == "203.0.113.9" and event.user_agent == "curl/8.0?"


def test_a_raw_forwarded_header_is_not_trusted_by_default(client, make_user):
    user = make_user()
    client.post(
        "/api/v1/auth/token",
        json={"email": user.email, "password": DEFAULT_PASSWORD},
        headers={"X-Forwarded-For": "203.0.113.9"},
    )
    event = _db.session.execute(select(ActivityEvent).limit(1)).scalar_one()
    assert event.ip == "127.0.0.1"


# --- suspension (admin API) --------------------------------------------------------------


def test_suspend_and_unsuspend(client, make_user, api_token):
    admin = make_user(admin=True)
    admin_token = api_token(admin)
    user = make_user()
    user_token = sign_in(client, user).get_json()["token"]
    url = f"/api/v1/admin/users/{user.id}"
    missing = client.post(f"{url}/suspend", json={}, headers=bearer(admin_token))
    assert missing.status_code == 400 and missing.get_json()["error"] == "reason_required"
    bad = client.post(
        f"{url}/suspend", json={"reason": "x", "stop_sessions": "yes"}, headers=bearer(admin_token)
    )
    assert bad.status_code == 400
    response = client.post(
        f"{url}/suspend", json={"reason": "chargebacks"}, headers=bearer(admin_token)
    )
    assert response.status_code == 200
    assert response.get_json()["user"]["suspended"] is True
    assert client.get("/api/v1/me", headers=bearer(user_token)).status_code == 401
    refused = sign_in(client, user)
    assert refused.status_code == 403 and refused.get_json()["error"] == "account_suspended"
    assert "chargebacks" in refused.get_json()["message"]
    twice = client.post(f"{url}/suspend", json={"reason": "again"}, headers=bearer(admin_token))
    assert twice.status_code == 409
    lifted = client.post(f"{url}/unsuspend", headers=bearer(admin_token))
    assert lifted.status_code == 200 and lifted.get_json()["user"]["suspended"] is False
    assert sign_in(client, user).status_code == 201
    actions = (
        _db.session.execute(select(AuditEntry.action).where(AuditEntry.target_id == str(user.id)))
        .scalars()
        .all()
    )
    assert sorted(actions) == ["user.suspend", "user.unsuspend"]
    own = client.post(
        f"/api/v1/admin/users/{admin.id}/suspend", json={"reason": "x"}, headers=bearer(admin_token)
    )
    assert own.status_code == 409


def test_admin_coin_adjustments_are_audited(client, make_user, api_token):
    admin = make_user(admin=True)
    user = make_user()
    response = client.patch(
        f"/api/v1/admin/users/{user.id}/coins",
        json={"op": "add", "amount": 7, "reason": "goodwill"},
        headers=bearer(api_token(admin)),
    )
    assert response.status_code == 200
    entry = _db.session.execute(select(AuditEntry)).scalar_one()
    assert (entry.action, entry.target_type, entry.target_id, entry.actor_id) == (
        "coins.add",
        "user",
        str(user.id),
        admin.id,
    )
    assert '"delta": 7' in entry.details and "goodwill" in entry.details


@pytest.mark.parametrize("app_config", [{"ADMIN_REQUIRE_2FA": True}])
def test_admin_without_2fa_gets_2fa_required(client, make_user, api_token):
    admin = make_user(admin=True)
    token = api_token(admin)
    response = client.get("/api/v1/admin/users", headers=bearer(token))
    assert response.status_code == 403 and response.get_json()["error"] == "2fa_required"
    secret, _ = enable_two_factor(_db.session.get(User, admin.id))
    token = sign_in(client, admin, otp=totp_code(secret)).get_json()["token"]
    assert client.get("/api/v1/admin/users", headers=bearer(token)).status_code == 200
