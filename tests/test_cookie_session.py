"""The session cookie: each cookie verified once per process, with every rule kept."""

from __future__ import annotations

import pytest

from tests.helpers import get_csrf_token
from vpsshop import cookie_session


def _open(app, cookie: str | None):
    name = app.config["SESSION_COOKIE_NAME"]
    headers = {"Cookie": f"{name}={cookie}"} if cookie else {}
    with app.test_request_context("/", headers=headers) as context:
        return app.session_interface.open_session(app, context.request)


def _sign(app, data: dict) -> str:
    return app.session_interface.get_signing_serializer(app).dumps(data)


def test_a_remembered_cookie_opens_the_same_session(app):
    cookie = _sign(app, {"_user_id": "someone", "n": 1})
    assert dict(_open(app, cookie)) == {"_user_id": "someone", "n": 1}
    assert cookie in app.extensions[cookie_session.EXTENSION].verified
    assert dict(_open(app, cookie)) == {"_user_id": "someone", "n": 1}


def test_a_tampered_cookie_is_refused_after_the_real_one_was_seen(app):
    cookie = _sign(app, {"_user_id": "someone"})
    assert _open(app, cookie)["_user_id"] == "someone"
    payload, _, signature = cookie.rpartition(".")
    forged = payload + "." + ("A" if signature[0] != "A" else "B") + signature[1:]
    assert dict(_open(app, forged)) == {}
    assert dict(_open(app, cookie.replace(cookie[1], "x" if cookie[1] != "x" else "y", 1))) == {}


def test_a_remembered_cookie_still_expires(app, monkeypatch):
    cookie = _sign(app, {"_user_id": "someone"})
    assert _open(app, cookie)["_user_id"] == "someone"
    lifetime = int(app.permanent_session_lifetime.total_seconds())
    now = cookie_session.time.time()
    monkeypatch.setattr(cookie_session.time, "time", lambda: now + lifetime + 5)
    assert dict(_open(app, cookie)) == {}
    monkeypatch.setattr(cookie_session.time, "time", lambda: now - 120)  # from the future
    assert dict(_open(app, cookie)) == {}


def test_changing_one_session_leaves_the_remembered_cookie_alone(app):
    cookie = _sign(app, {"_flashes": [["info", "Signed in."]], "csrf_token": "abc"})
    first = _open(app, cookie)
    first["_flashes"].append(["info", "more"])
    first["csrf_token"] = "changed"
    again = _open(app, cookie)
    assert again["_flashes"] == [["info", "Signed in."]]
    assert again["csrf_token"] == "abc"
    assert not again.modified


@pytest.mark.parametrize("keep_old_key", [True, False])
def test_a_new_secret_key_verifies_again(app, keep_old_key):
    old_key = app.secret_key
    cookie = _sign(app, {"_user_id": "someone"})
    assert _open(app, cookie)["_user_id"] == "someone"
    app.config["SECRET_KEY"] = "another secret key for this test only"
    app.config["SECRET_KEY_FALLBACKS"] = [old_key] if keep_old_key else []
    opened = dict(_open(app, cookie))
    assert opened == ({"_user_id": "someone"} if keep_old_key else {})


def test_no_cookie_and_garbage_give_an_empty_session(app):
    assert dict(_open(app, None)) == {}
    assert dict(_open(app, "not-a-cookie")) == {}
    assert dict(_open(app, "x" * 5000)) == {}


def test_the_cookie_is_sent_only_when_it_changes(app, client, login, make_user):
    assert "Set-Cookie" not in client.get("/healthz").headers
    login(make_user())
    client.get("/")  # shows and takes out the "Signed in." message: the cookie changes
    unchanged = client.get("/vps/sessions")
    assert "Set-Cookie" not in unchanged.headers
    assert "Cookie" in unchanged.headers.get("Vary", "")
    logout = client.post("/logout", data={"csrf_token": get_csrf_token(client, "/")})
    assert "session=" in logout.headers.get("Set-Cookie", "")


def test_a_permanent_session_is_refreshed_on_every_answer(app, client):
    with client.session_transaction() as session:
        session.permanent = True
        session["n"] = 1
    app.config["SESSION_REFRESH_EACH_REQUEST"] = False
    client.get("/login")  # the form's CSRF token goes into the session once
    assert "Set-Cookie" not in client.get("/login").headers
    app.config["SESSION_REFRESH_EACH_REQUEST"] = True
    assert "session=" in client.get("/login").headers.get("Set-Cookie", "")
