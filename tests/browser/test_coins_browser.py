"""The Coins page in real Chromium: a buyer with no coins follows the catalogue's hint,
redeems a voucher (a wrong code first) and can buy."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.test_every_page import Watch, accessibility_problems, shot, sign_in
from vpsshop.services import vouchers

pytestmark = pytest.mark.browser


def test_a_buyer_without_coins_redeems_a_voucher(
    live_server, page: Page, db, make_user, make_worker, make_product, database, artifacts_dir: Path
):
    base = live_server.url
    watch = Watch(page)
    buyer = make_user("newbie@example.com")
    product = make_product([make_worker()], price=10, name="Linux Box", action=1)
    (voucher,) = vouchers.create_vouchers(coins=25, actor_id=None)
    db.session.commit()

    sign_in(page, base, buyer.email)
    expect(page.get_by_test_id("no-coins")).to_be_visible()
    expect(page.get_by_role("link", name=f"Buy {product.name}")).to_have_count(0)
    page.get_by_role("link", name="get coins on the Coins page").click()
    expect(page).to_have_url(f"{base}/coins")
    expect(page.get_by_test_id("coins-balance")).to_have_text("0 coins")

    # A wrong code: the page answers 404 with the message tied to the field.
    page.get_by_label("Voucher code").fill("nope-nope-nope")
    page.get_by_role("button", name="Redeem").click()
    error = page.get_by_test_id("coins-error")
    expect(error).to_contain_text("No valid voucher has this code")
    expect(page.get_by_label("Voucher code")).to_have_attribute("aria-invalid", "true")
    assert accessibility_problems(page, skip_link=True) == []
    shot(page, artifacts_dir, database, "coins-wrong-code")
    watch.problems.clear()  # the 404 answer is the refusal, logged by Chromium as a failure

    # The right code, typed in lower case with spaces.
    page.get_by_label("Voucher code").fill(" " + voucher.code.lower().replace("-", " ") + " ")
    page.get_by_role("button", name="Redeem").click()
    expect(page).to_have_url(f"{base}/coins")
    expect(page.locator(".flash-success")).to_contain_text(f"Voucher {voucher.code} redeemed")
    expect(page.get_by_test_id("coins-balance")).to_have_text("25 coins")
    expect(page.get_by_test_id("balance")).to_have_text("25 coins")
    row = page.get_by_test_id("history-row").first
    expect(row).to_contain_text(f"Voucher {voucher.code}")
    expect(row).to_contain_text("+25 coins")
    shot(page, artifacts_dir, database, "coins-redeemed")
    watch.check("redeemed")

    # Now the catalogue offers the Buy.
    page.get_by_role("link", name="Catalogue", exact=True).click()
    expect(page.get_by_test_id("no-coins")).to_have_count(0)
    page.get_by_role("link", name=f"Buy {product.name}").click()
    expect(page).to_have_url(re.compile(rf"/buy/{product.id}$"))
    watch.check("catalogue")
