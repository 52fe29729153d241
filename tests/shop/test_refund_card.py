"""A refunded session's card says the refund once and carries the new balance for the header."""

from __future__ import annotations

import re

from tests.shop.factories import add_session
from vpsshop.models import SessionStatus
from vpsshop.services import ledger

BALANCE_ATTR = re.compile(r'id="session-status"[^>]*data-balance="([^"]*)"')


def test_refund_is_said_once_and_the_card_carries_the_balance(
    client, login, db, make_user, make_worker, make_product
):
    product = make_product([make_worker()], price=10, name="Box")
    user = make_user(coins=12)
    login(user)
    session = add_session(
        user,
        product,
        SessionStatus.FAILED,
        error="The node reported a failure: disk full. Refunded.",
    )
    ledger.refund(session, "test")
    db.session.commit()

    page = client.get(f"/vps/sessions/{session.id}").get_data(as_text=True)
    card = client.get(f"/vps/sessions/{session.id}/status").get_data(as_text=True)
    for html in (page, card):
        assert html.count("Refunded") == 1, html
        assert "Refunded 10 coins." in html and "disk full." in html
        assert BALANCE_ATTR.search(html).group(1) == "22 coins"


def test_cards_without_a_refund_carry_no_balance(
    client, login, make_user, make_worker, make_product
):
    user = make_user(coins=3)
    login(user)
    session = add_session(user, make_product([make_worker()]), SessionStatus.PROVISIONING)
    card = client.get(f"/vps/sessions/{session.id}/status").get_data(as_text=True)
    assert 'id="session-status"' in card and "data-balance" not in card
