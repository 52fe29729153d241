"""Counts of coins read right on every page and message ("1 coin", never "1 coins")."""

from __future__ import annotations

import re

from tests.helpers import csrf_token_from
from tests.shop.factories import add_session
from vpsshop.models import SessionStatus
from vpsshop.services import ledger

PURCHASE_KEY_RE = re.compile(r'name="purchase_key" type="hidden" value="([^"]+)"')
ONE_COINS = re.compile(r"\b1 coins\b")


def test_one_coin_is_singular_on_every_buyer_page(
    client, login, db, make_user, make_worker, make_product
):
    product = make_product([make_worker()], price=1, name="Tiny")
    dear = make_product([make_worker()], price=3, name="Dear")
    user = make_user(coins=2)
    login(user)
    pages = {"catalogue": client.get("/").get_data(as_text=True)}
    assert "1 coin<" in pages["catalogue"] and "2 coins" in pages["catalogue"]
    html = client.get(f"/buy/{product.id}").get_data(as_text=True)
    pages["confirm"] = html
    assert 'data-testid="balance-after">1 coin<' in html
    pages["short"] = client.get(f"/buy/{dear.id}").get_data(as_text=True)
    assert "You need 1 more coin to buy" in pages["short"]

    answer = client.post(
        f"/buy/{product.id}",
        data={
            "csrf_token": csrf_token_from(html),
            "purchase_key": PURCHASE_KEY_RE.search(html).group(1),
        },
        follow_redirects=True,
    )
    pages["session"] = answer.get_data(as_text=True)
    assert "Paid 1 coin. Your server is being created." in pages["session"]
    assert 'data-testid="balance" title="Your coin balance">1 coin<' in pages["session"]
    pages["sessions"] = client.get("/vps/sessions").get_data(as_text=True)
    failed = add_session(user, product, SessionStatus.FAILED, error="The node failed.")
    ledger.refund(failed, "test")
    db.session.commit()
    pages["failed"] = client.get(f"/vps/sessions/{failed.id}").get_data(as_text=True)
    assert "Refunded 1 coin." in pages["failed"]
    for name, page in pages.items():
        assert not ONE_COINS.search(page), name
