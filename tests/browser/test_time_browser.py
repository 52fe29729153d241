"""A session's time in real Chromium: the countdown runs, the last minutes warn and offer
the extension, the tab title says so, and a sold-out card joins the waitlist."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from playwright.sync_api import Page, expect

from tests.helpers import DEFAULT_PASSWORD
from tests.shop.factories import add_session
from vpsshop.models import SessionStatus
from vpsshop.models.types import utcnow

pytestmark = pytest.mark.browser


def sign_in(page: Page, base: str, user) -> None:
    page.goto(f"{base}/login")
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_test_id("balance")).to_be_visible()


def watch_errors(page: Page) -> list[str]:
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    return problems


@pytest.fixture
def timed(make_worker, make_product, db):
    product = make_product([make_worker(max_sessions=1)], price=5, duration=30, name="Timed Box")
    product.extend_minutes, product.extend_price_coins = 60, 4
    db.session.commit()
    return product


def test_countdown_warning_title_and_extend(live_server, page: Page, make_user, timed, db):
    user = make_user(coins=10)
    session = add_session(
        user,
        timed,
        SessionStatus.READY,
        worker_id=timed.workers[0].id,
        expires_at=utcnow() + timedelta(minutes=9, seconds=30),
    )
    problems = watch_errors(page)
    sign_in(page, live_server.url, user)
    page.goto(f"{live_server.url}/vps/sessions/{session.id}")
    countdown = page.get_by_test_id("countdown")
    expect(countdown).to_have_text(re.compile(r"^9 min \d\d s$"))
    first = countdown.text_content()
    expect(countdown).not_to_have_text(first, timeout=3000)  # it ticks
    assert countdown.get_attribute("title").startswith("Ends ")
    assert countdown.get_attribute("title").endswith(" UTC")
    expect(page.get_by_test_id("ending-soon")).to_be_visible()
    expect(page).to_have_title(re.compile(r"^Ending in 9 min \d\d s · Timed Box · vpsshop$"))
    # The end in local time: local-time.js replaced the UTC text, the tooltip keeps it.
    end = page.locator("#session-status time[data-local-time]").first
    expect(end).to_have_attribute("data-localised", "1")
    page.get_by_test_id("extend").click()
    expect(page.get_by_test_id("price")).to_have_text("4 coins")
    page.get_by_role("button", name="Pay and extend").click()
    expect(page).to_have_url(re.compile(rf"/vps/sessions/{session.id}$"))
    expect(page.get_by_test_id("balance")).to_have_text("6 coins")
    expect(page.get_by_test_id("countdown")).to_have_text(re.compile(r"^1 h 09 min$"))
    expect(page.get_by_test_id("ending-soon")).to_be_hidden()
    expect(page).to_have_title(re.compile(r"^Ready · Timed Box · vpsshop$"))
    assert problems == []


def test_the_waitlist_button_on_a_sold_out_card(live_server, page: Page, make_user, timed):
    owner = make_user(coins=10)
    add_session(
        owner,
        timed,
        SessionStatus.READY,
        worker_id=timed.workers[0].id,
        expires_at=utcnow() + timedelta(minutes=14, seconds=20),
    )
    user = make_user(coins=10)
    problems = watch_errors(page)
    sign_in(page, live_server.url, user)
    page.goto(f"{live_server.url}/")
    card = page.get_by_test_id("product").filter(has_text="Timed Box")
    expect(card.get_by_text("Sold out")).to_be_visible()
    expect(card.get_by_test_id("next-slot")).to_have_text("Next slot expected ~14 minutes.")
    card.get_by_role("button", name="Join the waitlist").click()
    place = (
        page.get_by_test_id("product").filter(has_text="Timed Box").get_by_test_id("waitlist-place")
    )
    expect(place).to_have_text(
        re.compile(r"You are #1 in line;\s+next slot expected ~14 minutes\.")
    )
    expect(page.get_by_role("button", name="Leave the waitlist")).to_be_visible()
    assert problems == []
