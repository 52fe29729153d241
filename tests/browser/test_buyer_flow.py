"""A buyer in real Chromium: sign up, buy, watch it become ready live, use it, delete it."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from tests.helpers import DEFAULT_PASSWORD
from vpsshop.models import User, VpsSession
from vpsshop.services import ledger

pytestmark = pytest.mark.browser

SCRIPT_LINE = "<script>window.__pwned = 1</script><b>not bold</b>"
FAST_JOBS = {"WATCH_INTERVAL_SECONDS": 0.5, "STOP_RETRY_BASE_SECONDS": 0.2}


@pytest.fixture
def app_config() -> dict:
    return dict(FAST_JOBS)


@pytest.fixture
def shop(make_sim_node, make_worker, make_product, rq_worker_process):
    """A node that boots in a few seconds and logs a line with markup, and its product."""
    node = make_sim_node(boot_seconds=4, extra_log_lines=[SCRIPT_LINE])
    product = make_product([make_worker(node.url)], price=5, action=2, name="Windows Desktop")
    return node, product


def watch_console(page: Page) -> list[str]:
    """Console errors and page errors (a CSP violation is reported as one)."""
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on(
        "response",
        lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400 else None,
    )
    return problems


def mark_page(page: Page) -> None:
    # Survives only as long as the document does: proof that nothing reloaded it.
    page.evaluate("window.__noReload = 'still here'")


def assert_not_reloaded(page: Page) -> None:
    assert page.evaluate("window.__noReload") == "still here"


def test_sign_up_buy_watch_ready_use_and_delete(
    live_server, page: Page, shop, artifacts_dir: Path, db
):
    node, product = shop
    problems = watch_console(page)
    base = live_server.url
    email = f"buyer-{uuid.uuid4().hex[:8]}@example.com"

    # Sign up.
    page.goto(f"{base}/register")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password", exact=True).fill(DEFAULT_PASSWORD)
    page.get_by_label("Repeat the password").fill(DEFAULT_PASSWORD)
    page.get_by_role("button", name="Create account").click()
    # A sign-up does not sign in (a taken address must get the same answer): sign in.
    expect(page).to_have_url(re.compile(r"/login$"))
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_test_id("balance")).to_have_text("0 coins")

    # Coins arrive through the ledger, as an admin grant would.
    user = db.session.execute(select(User).where(User.email == email)).scalar_one()
    ledger.add(user.id, 20, reason="browser test grant")
    db.session.commit()

    # Buy from the catalogue through the confirmation page.
    page.goto(f"{base}/")
    expect(page.get_by_test_id("balance")).to_have_text("20 coins")
    page.get_by_role("link", name="Buy Windows Desktop").click()
    expect(page.get_by_test_id("balance-now")).to_have_text("20 coins")
    expect(page.get_by_test_id("balance-after")).to_have_text("15 coins")
    page.get_by_role("button", name="Pay and create the server").click()
    expect(page).to_have_url(re.compile(r"/vps/sessions/[0-9a-f-]{36}$"))
    expect(page.get_by_test_id("balance")).to_have_text("15 coins")
    paid = page.get_by_text("Paid 5 coins. Your server is being created.")
    expect(paid).to_be_visible()
    session_id = uuid.UUID(page.url.rsplit("/", 1)[1])

    # The status reaches ready without a reload; the log grows on its own too.
    mark_page(page)
    status = page.get_by_test_id("status")
    expect(status).to_have_text(re.compile("pending|provisioning"))
    expect(status).to_have_text("ready", timeout=30_000)
    assert_not_reloaded(page)
    # The purchase's message was about the step before: gone once the status moved on.
    expect(paid).to_have_count(0)
    expect(page.locator(".step-done")).to_have_count(4)
    log = page.locator("#log-text")
    expect(log).to_contain_text("VM ready", timeout=10_000)
    expect(log).to_contain_text(SCRIPT_LINE)  # shown as text ...
    assert page.locator("#log-text script, #log-text b").count() == 0  # ... not as markup
    assert page.evaluate("window.__pwned") is None

    # Reveal and copy the password.
    db.session.expire_all()
    row = db.session.get(VpsSession, session_id)
    password = node.vm(row.worker_route)["password"]
    secret = page.locator("#cred-password")
    expect(secret).to_be_hidden()
    expect(log).not_to_contain_text(password)  # the log panel masks it too
    page.get_by_text("Show password").click()
    expect(secret).to_be_visible()
    expect(secret).to_have_text(password)
    page.get_by_role("button", name="Copy password").click()
    expect(page.get_by_role("button", name="Copied")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == password

    page.screenshot(path=artifacts_dir / "ready.png", full_page=True)
    page.set_viewport_size({"width": 375, "height": 800})
    page.screenshot(path=artifacts_dir / "ready-phone.png", full_page=True)
    # Nothing overflows sideways at phone width.
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    page.set_viewport_size({"width": 1200, "height": 900})
    print(f"screenshots of the ready page: {artifacts_dir}")

    # Download the .rdp file: address and user name, never the password.
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download .rdp file").click()
    download = download_info.value
    assert download.suggested_filename.endswith(".rdp")
    rdp = Path(download.path()).read_text()
    assert f"full address:s:{row.rdp_host}:{row.rdp_port}" in rdp
    assert f"username:s:{row.rdp_user}" in rdp
    assert password not in rdp

    # Delete behind a confirmation, then watch it end without reloading.
    page.get_by_role("link", name="Delete this server…").click()
    page.get_by_role("button", name="Yes, delete this server").click()
    expect(page).to_have_url(f"{base}/vps/sessions/{session_id}")
    mark_page(page)
    expect(page.get_by_test_id("status")).to_have_text("deleted", timeout=30_000)
    assert_not_reloaded(page)
    expect(page.get_by_role("link", name="Delete this server…")).to_have_count(0)
    page.goto(f"{base}/vps/sessions")
    expect(page.get_by_test_id("session-row")).to_have_count(1)
    expect(page.get_by_test_id("session-row")).to_contain_text("deleted")
    assert node.active_vms == []
    assert problems == [], problems


@pytest.fixture
def no_js_page(browser, browser_context_args) -> Page:
    context = browser.new_context(**browser_context_args, java_script_enabled=False)
    yield context.new_page()
    context.close()


def test_without_javascript_the_pages_still_work(
    live_server, no_js_page: Page, shop, runner, db, artifacts_dir: Path
):
    """A CLI-made account with coins buys and follows its server by plain reloads."""
    page = no_js_page
    _, product = shop
    email = f"cli-{uuid.uuid4().hex[:8]}@example.com"
    result = runner.invoke(
        args=["create-user", email, "--password", DEFAULT_PASSWORD, "--coins", "12"]
    )
    assert result.exit_code == 0, result.output
    base = live_server.url

    page.goto(f"{base}/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_test_id("balance")).to_have_text("12 coins")
    page.goto(f"{base}/buy/{product.id}")
    page.get_by_role("button", name="Pay and create the server").click()
    expect(page.get_by_test_id("balance")).to_have_text("7 coins")

    refresh = page.get_by_role("link", name="Refresh this page")
    for _ in range(60):  # bounded: 60 reloads at most
        if page.get_by_test_id("status").inner_text() == "ready":
            break
        page.wait_for_timeout(500)
        # The next look must read the reloaded page, not the one it is replacing:
        # wait_for_load_state() alone can return for the old page before the click's
        # navigation has begun, and a later look then races that navigation.
        with page.expect_navigation(wait_until="load"):
            refresh.click()
    expect(page.get_by_test_id("status")).to_have_text("ready")
    # <details> reveals the password without any script.
    expect(page.locator("#cred-password")).to_be_hidden()
    page.get_by_text("Show password").click()
    expect(page.locator("#cred-password")).to_be_visible()
    expect(page.locator("#log-text")).to_contain_text(SCRIPT_LINE)
    page.screenshot(path=artifacts_dir / "ready-no-js.png", full_page=True)
