"""The pages of a session's time: countdown, ending-soon warning, the extend confirmation,
the waitlist on the catalogue card, and "My servers" (PostgreSQL and SQLite)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from tests.helpers import assert_ledger_invariant, coins, csrf_token_from, fresh
from tests.shop.factories import add_session
from vpsshop.extensions import db
from vpsshop.models import SessionStatus, WaitlistEntry
from vpsshop.models.types import utcnow

EXTEND_KEY_RE = re.compile(r'name="extend_key" type="hidden" value="([^"]+)"')


@pytest.fixture
def timed(make_worker, make_product):
    worker = make_worker(max_sessions=1)
    product = make_product([worker], price=5, duration=30, name="Timed Box")
    product.extend_minutes, product.extend_price_coins = 60, 4
    db.session.commit()
    return product


def running(user, product, minutes_left: float):
    return add_session(
        user,
        product,
        SessionStatus.READY,
        worker_id=product.workers[0].id,
        expires_at=utcnow() + timedelta(minutes=minutes_left),
    )


def test_session_page_shows_the_countdown_and_the_extend_button(client, login, make_user, timed):
    user = make_user(coins=10)
    session = running(user, timed, 25)
    login(user)
    html = client.get(f"/vps/sessions/{session.id}").get_data(as_text=True)
    assert 'aria-live="polite"' in html
    assert f'data-countdown-to="{session.expires_at.isoformat()}"' in html
    assert re.search(r'title="Ends \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC"', html)
    assert "24 min" in html  # the time left, before the script counts down
    assert "Extend by 1 hour (4 coins)" in html
    # 25 minutes left: the warning is there for the script, hidden.
    assert re.search(r'data-testid="ending-soon"[^>]* hidden>', html)
    assert "js/countdown.js" in html and "js/local-time.js" in html


def test_the_warning_shows_in_the_last_ten_minutes(client, login, make_user, timed):
    user = make_user(coins=10)
    session = running(user, timed, 5)
    login(user)
    html = client.get(f"/vps/sessions/{session.id}/status").get_data(as_text=True)
    assert re.search(r'data-testid="ending-soon"[^>]*>', html)
    assert not re.search(r'data-testid="ending-soon"[^>]* hidden>', html)
    assert "ends in less than 10 minutes" in html


def test_my_servers_shows_the_time_left(client, login, make_user, timed):
    user = make_user(coins=10)
    session = running(user, timed, 5)
    login(user)
    html = client.get("/vps/sessions").get_data(as_text=True)
    assert f'data-countdown-to="{session.expires_at.isoformat()}"' in html
    assert "ending soon" in html and 'data-testid="time-left"' in html


def test_extend_through_the_confirmation_page(client, login, make_user, timed):
    user = make_user(coins=10)
    session = running(user, timed, 5)
    before = session.expires_at
    login(user)
    page = client.get(f"/vps/sessions/{session.id}/extend")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "4 coins" in html and "6 coins" in html
    data = {"csrf_token": csrf_token_from(html), "extend_key": EXTEND_KEY_RE.search(html).group(1)}
    done = client.post(f"/vps/sessions/{session.id}/extend", data=data)
    assert done.status_code == 302 and done.location.endswith(f"/vps/sessions/{session.id}")
    again = client.post(f"/vps/sessions/{session.id}/extend", data=data)  # resubmitted
    assert again.status_code == 302
    assert fresh(session.id).expires_at == before + timedelta(minutes=60)
    assert coins(user.id) == 6
    assert_ledger_invariant()


def test_extend_form_refusals(client, login, make_user, timed):
    user = make_user(coins=10)
    session = running(user, timed, 5)
    other = running(make_user(coins=10), timed, 5)
    login(user)
    html = client.get(f"/vps/sessions/{session.id}/extend").get_data(as_text=True)
    key = EXTEND_KEY_RE.search(html).group(1)
    no_csrf = client.post(f"/vps/sessions/{session.id}/extend", data={"extend_key": key})
    assert no_csrf.status_code == 400
    bad_key = client.post(
        f"/vps/sessions/{session.id}/extend",
        data={"csrf_token": csrf_token_from(html), "extend_key": "x"},
    )
    assert bad_key.status_code == 400
    assert client.get(f"/vps/sessions/{other.id}/extend").status_code == 404
    assert coins(user.id) == 10


def test_extending_without_coins_says_so(client, login, make_user, timed):
    user = make_user(coins=2)
    session = running(user, timed, 5)
    login(user)
    html = client.get(f"/vps/sessions/{session.id}/extend").get_data(as_text=True)
    assert "You need 2 more coins" in html and 'name="extend_key"' not in html


def test_sold_out_card_joins_the_waitlist(client, login, make_user, timed):
    owner = make_user(coins=10)
    running(owner, timed, 14)
    user = make_user(coins=10)
    login(user)
    html = client.get("/").get_data(as_text=True)
    assert "Sold out" in html and "Join the waitlist" in html
    assert "Next slot expected" in html and "14 minutes" in html
    joined = client.post(f"/waitlist/{timed.id}/join", data={"csrf_token": csrf_token_from(html)})
    assert joined.status_code == 302
    html = client.get("/").get_data(as_text=True)
    assert "You are #1 in line" in html and "Leave the waitlist" in html
    assert "1 person waiting" in html
    entry = db.session.query(WaitlistEntry).one()
    left = client.post(f"/waitlist/{entry.id}/leave", data={"csrf_token": csrf_token_from(html)})
    assert left.status_code == 302
    db.session.expire_all()
    assert db.session.get(WaitlistEntry, entry.id).status == "cancelled"


def test_waitlist_forms_need_csrf_and_a_real_product(client, login, make_user, timed):
    login(make_user())
    assert client.post(f"/waitlist/{timed.id}/join").status_code == 400
    html = client.get("/").get_data(as_text=True)
    token = csrf_token_from(html)
    missing = "00000000-0000-0000-0000-000000000000"
    assert client.post(f"/waitlist/{missing}/join", data={"csrf_token": token}).status_code == 404
    assert client.post(f"/waitlist/{missing}/leave", data={"csrf_token": token}).status_code == 404
    assert client.post("/waitlist/not-a-uuid/join", data={"csrf_token": token}).status_code == 404


def test_free_slots_on_each_card(client, make_worker, make_product):
    make_product([make_worker(max_sessions=3)], name="Roomy")
    html = client.get("/").get_data(as_text=True)
    assert "3 free slots now" in html
