"""The pages' CSRF token: signed once per session token per process, still Flask-WTF's."""

from __future__ import annotations

from tests.conftest import FreshContextClient
from tests.helpers import DEFAULT_PASSWORD, get_csrf_token
from vpsshop import csrf_tokens


def _signed_in(client) -> bool:
    return client.get("/vps/sessions").status_code == 200


def test_a_session_keeps_its_signed_token_and_it_still_works(app, client, login, make_user):
    login(make_user())
    first = get_csrf_token(client, "/")
    assert get_csrf_token(client, "/") == first
    assert first in app.extensions[csrf_tokens.EXTENSION][1].values()
    assert client.post("/logout", data={"csrf_token": first}).status_code == 302
    assert not _signed_in(client)


def test_another_session_gets_another_token_that_does_not_cross(app, make_user):
    app.test_client_class = FreshContextClient
    here, there = app.test_client(), app.test_client()
    user = make_user()
    for browser in (here, there):
        token = get_csrf_token(browser, "/login")
        form = {"email": user.email, "password": DEFAULT_PASSWORD, "csrf_token": token}
        assert browser.post("/login", data=form).status_code == 302
    # The second page of each session is the one answered from what the process kept.
    here_token = [get_csrf_token(here, "/") for _ in range(2)][-1]
    there_token = [get_csrf_token(there, "/") for _ in range(2)][-1]
    assert len(app.extensions[csrf_tokens.EXTENSION][1]) == 2
    assert here_token != there_token
    assert here.post("/logout", data={"csrf_token": there_token}).status_code == 400


def test_with_a_time_limit_tokens_are_signed_per_page(app, client, login, make_user):
    app.config["WTF_CSRF_TIME_LIMIT"] = 3600
    login(make_user())
    token = get_csrf_token(client, "/")
    assert csrf_tokens.EXTENSION not in app.extensions
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
