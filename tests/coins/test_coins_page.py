"""The buyer's Coins page: balance, history in words, paging, the redeem form and its
errors; the zero-coins catalogue; welcome coins at sign-up."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from tests.helpers import assert_ledger_invariant, csrf_token_from
from tests.shop.factories import add_session
from vpsshop.models import CoinTransaction, SessionStatus, User
from vpsshop.services import ledger, vouchers


def _voucher(db, **fields):
    (voucher,) = vouchers.create_vouchers(actor_id=None, **{"coins": 12, **fields})
    db.session.commit()
    return voucher


def _redeem(client, code):
    token = csrf_token_from(client.get("/coins").get_data(as_text=True))
    return client.post("/coins/redeem", data={"csrf_token": token, "code": code})


def test_the_page_needs_a_sign_in(client):
    response = client.get("/coins")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_the_menu_links_to_the_coins_page(client, login, make_user):
    login(make_user())
    assert 'href="/coins"' in client.get("/").get_data(as_text=True)


def test_history_says_what_each_row_was_for(
    db, client, login, make_user, make_worker, make_product
):
    user = make_user(coins=30)
    product = make_product([make_worker()], name="Windows Desktop", price=5)
    session = add_session(user, product, SessionStatus.FAILED)
    ledger.charge(user.id, 5, session_id=session.id)
    ledger.refund(session, "node failed")
    voucher = _voucher(db)
    vouchers.redeem(user.id, voucher.code)
    db.session.commit()
    login(user)
    html = client.get("/coins").get_data(as_text=True)
    assert 'data-testid="coins-balance">42 coins' in html
    rows = re.findall(r'data-testid="history-row" data-kind="([a-z_]+)"', html)
    assert rows == ["voucher", "refund", "purchase", "admin_add"]
    assert f"Voucher {voucher.code}" in html
    assert "Refund for a Windows Desktop server" in html
    assert "Bought a Windows Desktop server" in html
    assert "Added by the shop: test grant" in html
    assert f'href="/vps/sessions/{session.id}"' in html
    assert "+12 coins" in html and "-5 coins" in html


def test_history_pages_by_older_links(db, client, login, make_user):
    user = make_user()
    for amount in range(1, 31):
        ledger.add(user.id, amount, reason=f"grant {amount}")
    db.session.commit()
    login(user)
    first = client.get("/coins").get_data(as_text=True)
    assert first.count('data-testid="history-row"') == 25
    older = re.search(r'href="(/coins\?before=\d+)" data-testid="history-older"', first)
    second = client.get(older.group(1)).get_data(as_text=True)
    assert second.count('data-testid="history-row"') == 5
    assert "grant 5" in second and "grant 6" not in second
    assert 'data-testid="history-older"' not in second
    # A hand-edited ?before= shows the newest page, never a 500.
    assert client.get("/coins?before=abc").status_code == 200


def test_an_empty_history_says_how_to_start(client, login, make_user):
    login(make_user())
    html = client.get("/coins").get_data(as_text=True)
    assert 'data-testid="history-empty"' in html and "Redeem a voucher" in html


def test_redeeming_on_the_page(db, client, login, make_user):
    user = make_user()
    voucher = _voucher(db)
    login(user)
    response = _redeem(client, voucher.code.lower().replace("-", " "))
    assert response.status_code == 302 and response.headers["Location"].endswith("/coins")
    html = client.get("/coins").get_data(as_text=True)
    assert f"Voucher {voucher.code} redeemed: +12 coins. Your balance is 12 coins." in html
    assert 'title="Your coin balance">12 coins' in html
    assert_ledger_invariant()


@pytest.mark.parametrize(
    ("setup", "status", "words"),
    [
        ("unknown", 404, "No valid voucher has this code"),
        ("used_up", 409, "used up"),
        ("mine", 409, "redeemed this voucher already"),
        ("blank", 400, "Enter a voucher code."),
    ],
)
def test_refusals_are_shown_on_the_form(db, client, login, make_user, setup, status, words):
    user = make_user()
    voucher = _voucher(db)
    if setup == "used_up":
        vouchers.redeem(make_user().id, voucher.code)
    if setup == "mine":
        vouchers.redeem(user.id, voucher.code)
    db.session.commit()
    code = {"unknown": "NOPE-NOPE-NOPE", "blank": "   "}.get(setup, voucher.code)
    login(user)
    before = db.session.execute(select(CoinTransaction.id)).scalars().all()
    response = _redeem(client, code)
    html = response.get_data(as_text=True)
    assert response.status_code == status
    assert words in html and 'class="field-error"' in html
    assert 'aria-invalid="true"' in html
    db.session.expire_all()
    assert db.session.execute(select(CoinTransaction.id)).scalars().all() == before


def test_too_many_wrong_codes_on_the_page_is_429(db, client, login, make_user):
    login(make_user())
    for _ in range(10):
        assert _redeem(client, "WRONG-WRONG-0000").status_code == 404
    response = _redeem(client, "WRONG-WRONG-0000")
    assert response.status_code == 429
    assert "Too many wrong voucher codes" in response.get_data(as_text=True)
    assert int(response.headers["Retry-After"]) > 3000


def test_redeem_without_the_csrf_token_is_refused(db, client, login, make_user):
    user = make_user()
    voucher = _voucher(db)
    login(user)
    response = client.post("/coins/redeem", data={"code": voucher.code})
    assert response.status_code == 400
    db.session.expire_all()
    assert db.session.get(User, user.id).coins == 0


def test_redeem_is_post_only(client, login, make_user):
    login(make_user())
    assert client.get("/coins/redeem").status_code == 405


# --- the catalogue with too few coins -------------------------------------------------------


def test_with_no_coins_the_catalogue_says_how_to_get_some(
    client, login, make_user, make_worker, make_product
):
    product = make_product([make_worker()], price=5)
    login(make_user())
    html = client.get("/").get_data(as_text=True)
    assert 'data-testid="no-coins"' in html and 'href="/coins"' in html
    assert f'href="/buy/{product.id}"' not in html
    assert "You need 5 more coins." in html and "Get coins" in html


def test_with_too_few_coins_no_buy_with_enough_a_buy(
    db, client, login, make_user, make_worker, make_product
):
    product = make_product([make_worker()], price=5)
    user = make_user(coins=4)
    login(user)
    html = client.get("/").get_data(as_text=True)
    assert "You need 1 more coin." in html and 'data-testid="no-coins"' not in html
    ledger.add(user.id, 1, reason="top up")
    db.session.commit()
    html = client.get("/").get_data(as_text=True)
    assert f'href="/buy/{product.id}"' in html and "Get coins" not in html
