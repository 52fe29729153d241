"""The admin's coin messages use the same plural forms as the shop."""

from __future__ import annotations

import re

ONE_COINS = re.compile(r"\b1 coins\b")


def test_admin_coin_adjustment_says_coin(admin_client, make_user):
    customer = make_user("one@example.com")
    answer = admin_client.post(
        f"/admin/users/coins/?id={customer.id}",
        {"op": "add", "amount": 1, "reason": "gift"},
        follow_redirects=True,
    )
    assert "one@example.com: +1 coin, balance 1 coin." in answer.get_data(as_text=True)
    page = admin_client.get(f"/admin/users/coins/?id={customer.id}").get_data(as_text=True)
    assert '<strong data-testid="coins-balance">1 coin</strong>' in page
    assert not ONE_COINS.search(page)
