"""After an automatic refund the header's balance changes on the open page, without a reload."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.test_buyer_flow import assert_not_reloaded, mark_page, watch_console
from tests.helpers import DEFAULT_PASSWORD
from tests.shop.factories import add_session
from vpsshop.models import SessionStatus
from vpsshop.services import provisioning

pytestmark = pytest.mark.browser


def test_refund_updates_the_header_balance_live(
    live_server, page: Page, db, make_user, make_worker, make_product
):
    problems = watch_console(page)
    product = make_product([make_worker()], price=10, name="Box")
    user = make_user(coins=2)
    session = add_session(user, product, SessionStatus.PENDING)
    page.goto(f"{live_server.url}/login")
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.goto(f"{live_server.url}/vps/sessions/{session.id}")
    expect(page.get_by_test_id("balance")).to_have_text("2 coins")
    mark_page(page)

    provisioning.fail_and_refund(session.id, "The server was not ready in time. Refunded.")
    db.session.commit()

    expect(page.get_by_test_id("status")).to_have_text("failed", timeout=10_000)
    expect(page.get_by_test_id("balance")).to_have_text("12 coins")
    expect(page.get_by_text("Refunded", exact=False)).to_have_count(1)
    assert_not_reloaded(page)
    assert problems == []
