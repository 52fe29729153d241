"""A buyer in real Chromium buys a coin pack through the Stripe stand-in's payment page."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.test_buyer_flow import watch_console
from tests.helpers import DEFAULT_PASSWORD

pytestmark = pytest.mark.browser


@pytest.fixture
def app_config(stripe_config) -> dict:
    return dict(stripe_config)


def _sign_in(page: Page, live_server, user) -> None:
    page.goto(f"{live_server.url}/login")
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{live_server.url}/")


def test_buy_a_pack_and_watch_it_arrive(
    app, live_server, shop_webhook, page: Page, make_user, make_pack, artifacts_dir: Path
):
    app.config["PUBLIC_URL"] = live_server.url
    # The bank confirms a few seconds after the buyer is back: the page must update live.
    shop_webhook.async_delay_seconds = 3.0
    user = make_user()
    make_pack(coins=120, price_minor=1000, name="Regular")
    problems = watch_console(page)
    _sign_in(page, live_server, user)

    page.get_by_role("link", name="Coins", exact=True).click()
    expect(page.get_by_test_id("pack")).to_have_count(1)
    page.get_by_role("button", name="Buy coins: Regular").click()

    # Stripe's (stand-in's) checkout page on its own origin.
    expect(page).to_have_url(re.compile(re.escape(shop_webhook.url) + r"/pay/cs_test_"))
    expect(page.get_by_test_id("amount")).to_have_text("10.00 EUR")
    page.get_by_role("button", name="Pay by bank transfer (confirmed later)").click()

    expect(page).to_have_url(re.compile(re.escape(live_server.url) + r"/billing/payments/"))
    expect(page.get_by_test_id("processing")).to_be_visible()
    page.evaluate("window.__noReload = 'still here'")
    expect(page.get_by_test_id("paid")).to_be_visible(timeout=15_000)
    expect(page.get_by_test_id("balance")).to_have_text("120 coins")
    assert page.evaluate("window.__noReload") == "still here"
    page.screenshot(path=str(artifacts_dir / "buy-coins-paid.png"))

    page.get_by_role("link", name="Buy coins and all payments").click()
    expect(page.get_by_test_id("payment")).to_have_attribute("data-status", "paid")
    assert problems == []


def test_cancelling_at_checkout_charges_nothing(
    app, live_server, shop_webhook, page: Page, make_user, make_pack
):
    app.config["PUBLIC_URL"] = live_server.url
    user = make_user()
    make_pack(coins=50, price_minor=500, name="Starter")
    _sign_in(page, live_server, user)
    page.goto(f"{live_server.url}/billing")
    page.get_by_role("button", name="Buy coins: Starter").click()
    page.get_by_role("button", name="Cancel").click()
    expect(page.get_by_test_id("cancelled")).to_contain_text("nothing was charged")
    expect(page.get_by_test_id("balance")).to_have_text("0 coins")
