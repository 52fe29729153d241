"""The read cache of the polled reads: answers from Redis, never hides a committed change."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import redis
from sqlalchemy import event

from tests.helpers import get_csrf_token
from tests.shop.factories import READY_PASSWORD, add_session
from vpsshop.extensions import db as _db
from vpsshop.models import SessionStatus, VpsSession
from vpsshop.services import accounts, ledger, read_cache
from vpsshop.services.session_views import from_entry, from_session, to_entry


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@contextmanager
def sql_statements() -> Iterator[list[str]]:
    """Every statement sent to PostgreSQL inside the block."""
    seen: list[str] = []

    def record(_conn, _cursor, statement, *_args) -> None:
        seen.append(statement)

    event.listen(_db.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(_db.engine, "before_cursor_execute", record)


@pytest.fixture
def product(make_worker, make_product):
    return make_product([make_worker()], price=5, action=2, duration=60, name="Windows Box")


@pytest.fixture
def owner(make_user, api_token):
    user = make_user(coins=20)
    return user, bearer(api_token(user))


def _warm(client, session_id, headers) -> None:
    # The first use of a token records last_used_at, a commit that drops what that very
    # read would have cached; the second poll fills the cache.
    for _ in range(2):
        assert _poll(client, session_id, headers)[0] == 200


def _poll(client, session_id, headers):
    response = client.get(f"/api/v1/vps/sessions/{session_id}", headers=headers)
    return response.status_code, response.get_json()


def test_second_poll_is_answered_without_the_database(client, owner, product):
    user, headers = owner
    session = add_session(user, product, SessionStatus.READY)
    _warm(client, session.id, headers)
    first = _poll(client, session.id, headers)
    with sql_statements() as statements:
        second = _poll(client, session.id, headers)
    assert first == second
    assert second[0] == 200
    assert second[1]["session"]["credentials"]["password"] == READY_PASSWORD
    assert statements == []


def test_a_committed_change_shows_on_the_next_poll(client, owner, product):
    user, headers = owner
    session = add_session(user, product, SessionStatus.PROVISIONING)
    assert _poll(client, session.id, headers)[1]["session"]["status"] == "provisioning"
    assert _poll(client, session.id, headers)[1]["session"]["status"] == "provisioning"

    row = _db.session.get(VpsSession, session.id)
    row.status = SessionStatus.FAILED
    row.error = "The node said no."
    _db.session.commit()

    body = _poll(client, session.id, headers)[1]["session"]
    assert (body["status"], body["error"]) == ("failed", "The node said no.")


def test_a_change_committed_during_a_database_read_is_not_hidden(app, owner, product):
    user, _headers = owner
    session = add_session(user, product, SessionStatus.PROVISIONING)
    key = ("session", str(session.id))
    snapshot = read_cache.fetch([key])  # a reader looks: a miss
    old_view = from_session(_db.session.get(VpsSession, session.id))  # and reads the row

    row = _db.session.get(VpsSession, session.id)  # meanwhile a writer commits
    row.status = SessionStatus.READY
    _db.session.commit()

    assert read_cache.store(key, to_entry(old_view), snapshot) is False
    assert read_cache.fetch([key]).values == [None]


def test_a_rolled_back_change_invalidates_nothing(app, owner, product, redis_conn):
    user, _headers = owner
    session = add_session(user, product, SessionStatus.PROVISIONING)
    version_key = read_cache.version_key("session", str(session.id))
    before = redis_conn.get(version_key)
    row = _db.session.get(VpsSession, session.id)
    row.status = SessionStatus.FAILED
    _db.session.flush()
    _db.session.rollback()
    row = _db.session.get(VpsSession, session.id)
    row.error = None  # unchanged value: not a modification
    _db.session.commit()
    assert redis_conn.get(version_key) == before


def test_entries_round_trip_the_view(app, owner, product):
    user, _headers = owner
    session = add_session(user, product, SessionStatus.READY)
    view = from_session(_db.session.get(VpsSession, session.id))
    assert from_entry(to_entry(view)) == view
    assert READY_PASSWORD not in str(to_entry(view))  # the password stays encrypted


def test_another_users_token_gets_404_even_when_the_session_is_cached(
    client, owner, product, make_user, api_token
):
    user, headers = owner
    session = add_session(user, product, SessionStatus.READY)
    assert _poll(client, session.id, headers)[0] == 200
    assert _poll(client, session.id, headers)[0] == 200
    stranger = bearer(api_token(make_user()))
    status, body = _poll(client, session.id, stranger)
    assert status == 404
    assert body["error"] == "session_not_found"


def test_an_admin_reads_others_sessions_from_the_database(
    client, owner, product, make_user, api_token
):
    user, _headers = owner
    session = add_session(user, product, SessionStatus.READY)
    admin = bearer(api_token(make_user(admin=True)))
    assert _poll(client, session.id, admin)[0] == 200
    with sql_statements() as statements:
        assert _poll(client, session.id, admin)[0] == 200
    assert statements, "an admin's look at another's session is not cached"


def test_a_password_change_revokes_cached_tokens(client, owner, product):
    user, headers = owner
    session = add_session(user, product, SessionStatus.READY)
    assert _poll(client, session.id, headers)[0] == 200
    assert _poll(client, session.id, headers)[0] == 200
    accounts.change_password(_db.session.get(type(user), user.id), "another good password 1")
    _db.session.commit()
    status, body = _poll(client, session.id, headers)
    assert status == 401
    assert body["error"] == "unauthorized"


def test_bad_tokens_and_ids_answer_as_before(client, owner, product):
    user, headers = owner
    session = add_session(user, product, SessionStatus.READY)
    _poll(client, session.id, headers)
    assert _poll(client, session.id, {})[0] == 401
    assert _poll(client, session.id, bearer("x" * 300))[0] == 401
    assert _poll(client, "not-a-uuid", headers)[0] == 404
    assert _poll(client, "not-a-uuid", bearer("wrong"))[0] == 401


def test_a_refund_shows_on_the_status_card(client, login, make_user, product):
    user = make_user(coins=20)
    login(user)
    session = add_session(user, product, SessionStatus.FAILED, error="No node answered.")
    path = f"/vps/sessions/{session.id}/status"
    assert "is on its way" in client.get(path).get_data(as_text=True)
    ledger.refund(_db.session.get(VpsSession, session.id), "test refund")
    _db.session.commit()
    assert 'data-testid="refund"' in client.get(path).get_data(as_text=True)


def test_the_status_card_is_cached_per_login_and_ends_with_it(client, login, make_user, product):
    user = make_user(coins=20)
    login(user)
    session = add_session(user, product, SessionStatus.READY)
    path = f"/vps/sessions/{session.id}/status"
    first = client.get(path)
    with sql_statements() as statements:
        second = client.get(path)
    assert first.status_code == second.status_code == 200
    assert first.get_data() == second.get_data()
    assert statements == []

    # A password change elsewhere ends this login: its cached card is not shown again.
    accounts.change_password(_db.session.get(type(user), user.id), "another good password 1")
    _db.session.commit()
    after = client.get(path)
    assert after.status_code in (302, 401)


def test_the_status_card_of_another_user_is_404(client, login, make_user, product):
    owner_user = make_user()
    session = add_session(owner_user, product, SessionStatus.READY)
    login(owner_user)
    assert client.get(f"/vps/sessions/{session.id}/status").status_code == 200
    client.post("/logout", data={"csrf_token": get_csrf_token(client, "/")})
    login(make_user())
    assert client.get(f"/vps/sessions/{session.id}/status").status_code == 404


def test_the_catalogue_follows_capacity_and_product_edits(client, owner, make_worker, make_product):
    _user, headers = owner
    worker = make_worker(max_sessions=1)
    product = make_product([worker], price=5, action=2, duration=60, name="Tiny")

    def listed() -> dict:
        body = client.get("/api/v1/vps/products", headers=headers).get_json()
        return {item["name"]: item["available"] for item in body["products"]}

    assert listed() == {"Tiny": True}
    assert listed() == {"Tiny": True}
    with sql_statements() as statements:
        assert listed() == {"Tiny": True}
    assert statements == []

    add_session(_user, product, SessionStatus.PROVISIONING, worker_id=worker.id)
    assert listed() == {"Tiny": False}  # the one slot is taken

    product = _db.session.get(type(product), product.id)
    product.name = "Renamed"
    _db.session.commit()
    assert listed() == {"Renamed": False}
    assert "Renamed" in client.get("/").get_data(as_text=True)


def test_a_disabled_worker_takes_its_products_off_sale(client, owner, make_worker, make_product):
    _user, headers = owner
    worker = make_worker()
    make_product([worker], price=5, action=2, duration=60, name="Box")
    url = "/api/v1/vps/products"
    assert client.get(url, headers=headers).get_json()["products"][0]["available"] is True
    row = _db.session.get(type(worker), worker.id)
    row.status = "disabled"
    _db.session.commit()
    assert client.get(url, headers=headers).get_json()["products"][0]["available"] is False


def test_without_redis_the_polls_read_the_database(app, client, owner, product):
    user, headers = owner
    session = add_session(user, product, SessionStatus.READY)
    app.extensions["redis"] = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    status, body = _poll(client, session.id, headers)
    assert status == 200
    assert body["session"]["status"] == "ready"
    # A commit while Redis is away is not lost either: nothing was cached to go stale.
    row = _db.session.get(VpsSession, session.id)
    row.status = SessionStatus.STOPPING
    _db.session.commit()
    assert _poll(client, session.id, headers)[1]["session"]["status"] == "stopping"


def test_turned_off_the_cache_stores_nothing(app, client, owner, product, redis_conn):
    app.config["READ_CACHE_ENABLED"] = False
    user, headers = owner
    session = add_session(user, product, SessionStatus.READY)
    assert _poll(client, session.id, headers)[0] == 200
    assert redis_conn.keys(read_cache.PREFIX + "session:*") == []


def test_a_released_savepoint_does_not_invalidate_before_the_commit(
    app, owner, product, redis_conn
):
    # Refunds and slot reservations use savepoints inside the transaction: releasing one is
    # not a commit, and invalidating then would let a reader cache the uncommitted past.
    user, _headers = owner
    session = add_session(user, product, SessionStatus.PROVISIONING)
    version_key = read_cache.version_key("session", str(session.id))
    before = redis_conn.get(version_key)
    row = _db.session.get(VpsSession, session.id)
    row.status = SessionStatus.READY
    _db.session.flush()
    with _db.session.begin_nested():
        pass
    assert redis_conn.get(version_key) == before
    _db.session.commit()
    assert redis_conn.get(version_key) != before


def test_coins_changes_keep_the_other_entries(client, owner, product, redis_conn):
    # The ledger's conditional UPDATE of coins is a bulk statement; it must not drop every
    # cached read (a generation bump) at each purchase, grant or refund.
    user, headers = owner
    session_id = add_session(user, product, SessionStatus.READY).id
    _warm(client, session_id, headers)
    generation = redis_conn.get(read_cache.GENERATION_KEY)
    ledger.add(user.id, 5, reason="test grant")
    _db.session.commit()
    assert redis_conn.get(read_cache.GENERATION_KEY) == generation
    with sql_statements() as statements:
        assert _poll(client, session_id, headers)[0] == 200
    assert statements == []


def test_a_deleted_user_is_not_answered_from_the_cache(client, owner, product):
    user, headers = owner
    session_id = add_session(user, product, SessionStatus.READY).id
    _warm(client, session_id, headers)
    _db.session.delete(_db.session.get(type(user), user.id))
    _db.session.commit()
    assert _poll(client, session_id, headers)[0] == 401


def _balance(page: str) -> str:
    return page.split('data-testid="balance"', 1)[1].split(">", 1)[1].split("<", 1)[0]


def test_the_catalogue_page_header_is_cached_and_follows_the_ledger(client, login, make_user):
    user = make_user(coins=20)
    login(user)
    assert _balance(client.get("/").get_data(as_text=True)) == "20 coins"
    with sql_statements() as statements:
        page = client.get("/").get_data(as_text=True)
    assert statements == []
    assert _balance(page) == "20 coins"
    assert user.email in page
    assert 'href="/admin/"' not in page

    ledger.add(user.id, 5, reason="test grant")
    _db.session.commit()
    assert _balance(client.get("/").get_data(as_text=True)) == "25 coins"
    ledger.set_balance(user.id, 3, reason="test set", actor_id=None)
    _db.session.commit()
    assert _balance(client.get("/").get_data(as_text=True)) == "3 coins"
    _db.session.get(type(user), user.id).is_admin = True
    _db.session.commit()
    assert 'href="/admin/"' in client.get("/").get_data(as_text=True)


def test_a_logged_out_cookie_gets_nothing_from_the_cache(app, client, login, make_user, product):
    user = make_user(coins=20)
    login(user)
    session = add_session(user, product, SessionStatus.READY)
    path = f"/vps/sessions/{session.id}/status"
    for _ in range(2):  # the second answer comes from the cache
        assert client.get(path).status_code == 200
        assert "20 coins" in client.get("/").get_data(as_text=True)
    stolen = client.get_cookie("session").value
    client.post("/logout", data={"csrf_token": get_csrf_token(client, "/")})

    thief = app.test_client()
    thief.set_cookie("session", stolen)
    with sql_statements() as statements:
        card = thief.get(path)
    assert card.status_code in (302, 401)
    assert READY_PASSWORD not in card.get_data(as_text=True)
    assert statements == []  # refused on the revocation, before any database read
    page = thief.get("/").get_data(as_text=True)
    assert 'data-testid="balance"' not in page
    assert "Sign in" in page


def test_redis_answers_are_parsed_by_hiredis(app):
    # Every polled request makes one Redis round trip; the C parser (hiredis, pinned in
    # requirements.txt) reads its answer. A missing wheel would fall back silently.
    from redis._parsers import _HiredisParser

    from vpsshop.queue import get_redis

    with app.app_context():
        connection = get_redis().connection_pool.get_connection()
        try:
            assert isinstance(connection._parser, _HiredisParser)
        finally:
            get_redis().connection_pool.release(connection)
