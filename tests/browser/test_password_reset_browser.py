"""Forgot password in real Chromium: ask, follow the mailed link, set a password, sign in."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.test_buyer_flow import watch_console
from tests.helpers import DEFAULT_PASSWORD

pytestmark = pytest.mark.browser
NEW_PASSWORD = "fresh passphrase 42"


@pytest.fixture
def app_config(smtp_server) -> dict:
    return {"MAIL_URL": smtp_server.url, "MAIL_RETRY_INTERVALS": "1"}


def test_forgot_and_reset_in_the_browser(
    page: Page, live_server, make_user, run_jobs, smtp_server, artifacts_dir, database
):
    live_server.app.config["PUBLIC_URL"] = live_server.url
    user = make_user()
    problems = watch_console(page)

    page.goto(live_server.url + "/login")
    page.get_by_role("link", name="Forgot your password?").click()
    expect(page).to_have_url(live_server.url + "/forgot")
    page.get_by_label("Email").fill(user.email)
    page.get_by_role("button", name="Send me a reset link").click()
    expect(page.get_by_test_id("reset-sent")).to_contain_text("If an account has this address")

    assert run_jobs(until=lambda: len(smtp_server.messages) == 1)
    text = smtp_server.messages[0].get_body(("plain",)).get_content()
    link = re.search(re.escape(live_server.url) + r"/reset/\S+", text).group(0)

    page.goto(link)
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("Repeat the new password").fill("not the same at all")
    page.get_by_role("button", name="Set the new password").click()
    expect(page.get_by_text("The passwords differ.")).to_be_visible()
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("Repeat the new password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Set the new password").click()
    expect(page).to_have_url(live_server.url + "/login")
    expect(page.get_by_text("Password changed.")).to_be_visible()
    page.screenshot(path=str(artifacts_dir / f"password-reset-{database}.png"))

    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("Wrong email or password.")).to_be_visible()
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("Signed in.")).to_be_visible()

    page.goto(link)  # used: the page says so, with a way to ask again
    expect(page.get_by_test_id("invalid-link")).to_contain_text("not valid")
    # Only the expected refusals (the mismatched form and the used link: 400, the old
    # password: 401), and no script or CSP error.
    expected = re.compile(r"^(40[01] http|Failed to load resource: .* status of 40[01])")
    assert [p for p in problems if not expected.match(p)] == [], problems
