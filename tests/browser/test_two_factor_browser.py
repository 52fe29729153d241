"""Two-factor sign-in in real Chromium: set it up from the QR page, then sign in in two steps."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pyotp
import pytest
from playwright.sync_api import Page, expect

from tests.helpers import DEFAULT_PASSWORD, totp_code

pytestmark = pytest.mark.browser


def console_problems(page: Page) -> list[str]:
    """Console errors (a CSP violation is reported as one) and page errors."""
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    return problems


def fill_password_step(page: Page, base: str, email: str, password: str) -> None:
    page.goto(f"{base}/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def test_set_up_2fa_then_sign_in_in_two_steps(
    live_server, page: Page, make_user, artifacts_dir: Path
):
    user = make_user("two-step@example.com")
    base = live_server.url
    problems = console_problems(page)

    fill_password_step(page, base, user.email, DEFAULT_PASSWORD)
    expect(page.get_by_text("Signed in.")).to_be_visible()
    page.goto(f"{base}/account/2fa")
    page.get_by_label("Your password").fill(DEFAULT_PASSWORD)
    page.get_by_role("button", name="Set up two-factor sign-in").click()
    qr = page.get_by_test_id("totp-qr").locator("svg")
    expect(qr).to_be_visible()
    box = qr.bounding_box()
    assert box and box["width"] > 100  # drawn, not blocked by the CSP
    page.screenshot(path=str(artifacts_dir / "2fa-setup.png"), full_page=True)
    secret = page.get_by_test_id("totp-secret").inner_text().replace(" ", "")
    page.get_by_label("The 6-digit code your app shows now").fill(
        pyotp.TOTP(secret).at(time.time() - 30)
    )
    page.get_by_role("button", name="Turn on two-factor sign-in").click()
    expect(page.get_by_test_id("recovery-codes").locator("li")).to_have_count(10)
    page.get_by_role("button", name="Sign out").click()

    # A wrong password leads to the code step too (step one never tells), where even the
    # right code is refused without saying which of the two was wrong.
    fill_password_step(page, base, user.email, "not the password")
    expect(page).to_have_url(re.compile(r"/login/code$"))
    page.get_by_label(re.compile("Code from your authenticator")).fill(totp_code(secret))
    page.get_by_role("button", name="Verify and sign in").click()
    expect(page.get_by_text("The password or the code was not right")).to_be_visible()

    # The right password leads to the code step, signed in to nothing yet.
    fill_password_step(page, base, user.email, DEFAULT_PASSWORD)
    expect(page).to_have_url(re.compile(r"/login/code$"))
    expect(page.get_by_role("heading", name="Enter your two-factor code")).to_be_visible()
    expect(page.get_by_role("link", name="Sign in")).to_be_visible()
    page.screenshot(path=str(artifacts_dir / "2fa-code-step.png"), full_page=True)
    code_field = page.get_by_label(re.compile("Code from your authenticator"))
    code_field.fill("000000" if totp_code(secret) != "000000" else "111111")
    page.get_by_role("button", name="Verify and sign in").click()
    expect(page.get_by_text("That code is not right")).to_be_visible()
    page.get_by_label(re.compile("Code from your authenticator")).fill(totp_code(secret))
    page.get_by_role("button", name="Verify and sign in").click()
    expect(page.get_by_text("Signed in.")).to_be_visible()
    expect(page.get_by_text(user.email)).to_be_visible()
    # The wrong password and the wrong code answer 401, on purpose; nothing else failed.
    unexpected = [p for p in problems if "status of 401" not in p]
    assert len(problems) - len(unexpected) == 2 and not unexpected, problems
