"""ETags and 304s of the polled pages: the status card, the log panel and the catalogue."""

from __future__ import annotations

import pytest

from tests.helpers import csrf_token_from
from tests.shop.factories import add_node_session, add_session
from vpsshop.extensions import db as _db
from vpsshop.models import SessionStatus, VpsSession
from vpsshop.services import ledger


@pytest.fixture
def product(make_worker, make_product):
    return make_product([make_worker()], price=5, action=2, duration=60, name="Windows Box")


def _get(client, url, etag=None):
    return client.get(url, headers={"If-None-Match": etag} if etag else {})


def test_an_unchanged_status_card_answers_an_empty_304(client, login, make_user, product):
    user = make_user()
    session = add_session(user, product, SessionStatus.READY)
    login(user)
    url = f"/vps/sessions/{session.id}/status"
    first = _get(client, url)
    assert first.status_code == 200 and first.headers["Cache-Control"] == "private, no-cache"
    again = _get(client, url, first.headers["ETag"])
    assert again.status_code == 304 and again.get_data() == b""

    row = _db.session.get(VpsSession, session.id)
    row.status = SessionStatus.STOPPING
    _db.session.commit()
    changed = _get(client, url, first.headers["ETag"])
    assert changed.status_code == 200 and 'data-status="stopping"' in changed.get_data(True)


def test_a_304_does_not_survive_a_logout(app, client, login, make_user, product):
    user = make_user()
    session = add_session(user, product)
    login(user)
    url = f"/vps/sessions/{session.id}/status"
    etag = _get(client, url).headers["ETag"]
    with client.session_transaction() as stolen:
        copied = dict(stolen)
    token = csrf_token_from(client.get("/").get_data(as_text=True))
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    thief = app.test_client()
    with thief.session_transaction() as planted:
        planted.update(copied)
    assert _get(thief, url, etag).status_code == 302  # to the sign-in page, no 304


def test_a_304_does_not_survive_a_password_change(client, login, make_user, product):
    user = make_user()
    session = add_session(user, product)
    login(user)
    url = f"/vps/sessions/{session.id}/status"
    etag = _get(client, url).headers["ETag"]
    from vpsshop.services import accounts

    accounts.change_password(_db.session.merge(user), "another long passphrase")
    _db.session.commit()
    assert _get(client, url, etag).status_code == 302


def test_another_users_etag_gets_a_404(client, login, make_user, product):
    owner, stranger = make_user(), make_user()
    session = add_session(owner, product)
    login(owner)
    url = f"/vps/sessions/{session.id}/status"
    etag = _get(client, url).headers["ETag"]
    token = csrf_token_from(client.get("/").get_data(as_text=True))
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    login(stranger)
    assert _get(client, url, etag).status_code == 404


def test_the_catalogue_etag_moves_with_the_balance_in_the_header(client, login, make_user, product):
    user = make_user(coins=7)
    login(user)
    client.get("/")  # shows "Signed in." once; that answer has no validator
    first = _get(client, "/")
    assert "7 coins" in first.get_data(as_text=True)
    assert _get(client, "/", first.headers["ETag"]).status_code == 304
    ledger.add(user.id, 5, reason="A gift.")
    _db.session.commit()
    after = _get(client, "/", first.headers["ETag"])
    assert after.status_code == 200 and "12 coins" in after.get_data(as_text=True)


def test_a_page_with_a_message_has_no_validator(client, login, make_user, product):
    login(make_user())
    flashed = client.get("/")
    assert "Signed in" in flashed.get_data(as_text=True)
    assert "ETag" not in flashed.headers and flashed.headers["Cache-Control"] == "no-store"


def test_the_anonymous_and_the_signed_in_catalogue_differ(client, login, make_user, product):
    anonymous = _get(client, "/").headers["ETag"]
    login(make_user())
    client.get("/")
    signed_in = _get(client, "/", anonymous)
    assert signed_in.status_code == 200 and "Sign in to buy" not in signed_in.get_data(True)


def test_the_log_panel_answers_304_while_the_log_is_the_same(
    client, login, make_user, make_sim_node, make_worker, make_product
):
    node = make_sim_node()  # its log is complete at once
    user = make_user()
    session = add_node_session(user, make_product([make_worker(node.url)]))
    login(user)
    url = f"/vps/sessions/{session.id}/log"
    first = _get(client, url)
    assert first.status_code == 200 and first.headers["ETag"]
    again = _get(client, url, first.headers["ETag"])
    assert again.status_code == 304 and again.get_data() == b""
