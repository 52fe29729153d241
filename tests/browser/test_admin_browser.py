"""Browser test in real Chromium: an admin sets up a node and a product, funds a user,
and sees that user's session in the admin sessions view."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from tests.helpers import DEFAULT_PASSWORD, assert_ledger_invariant
from vpsshop.extensions import db as _db
from vpsshop.models import User, VpsProduct, VpsSession
from vpsshop.services.purchase import purchase

pytestmark = pytest.mark.browser


def _list_of(view: str) -> re.Pattern:
    # Flask-Admin returns to the list with its paging arguments.
    return re.compile(rf"/admin/{view}/(\?.*)?$")


@pytest.fixture
def admin_page(browser, live_server) -> Iterator:
    """A page of the shared Chromium (tests/browser/conftest.py) on the live server."""
    context = browser.new_context(base_url=live_server.url)
    page = context.new_page()
    page.set_default_timeout(10_000)
    errors: list[str] = []
    page.on("console", lambda msg: msg.type == "error" and errors.append(msg.text))
    page.console_errors = errors
    yield page
    context.close()


def test_admin_sets_up_node_product_and_coins_then_sees_the_session(
    admin_page, app, make_user, sim_node, run_jobs, artifacts_dir
):
    page = admin_page
    admin = make_user("boss@example.com", admin=True)
    customer = make_user("buyer@example.com")

    page.goto("/admin/workers/")
    assert "/login" in page.url  # anonymous visitors are sent to sign in
    page.fill("input[name=email]", admin.email)
    page.fill("input[name=password]", DEFAULT_PASSWORD)
    page.click("[type=submit]")
    page.wait_for_url(_list_of("workers"))

    # Register the simulated node.
    page.click("text=Create")
    page.fill("input[name=name]", "sim-1")
    page.fill("input[name=base_url]", sim_node.url)
    page.fill("input[name=max_sessions]", "2")
    page.fill("input[name=token]", "browser-node-token")
    page.click("input[type=submit][value=Save]")
    page.wait_for_url(_list_of("workers"))
    assert page.locator("td", has_text="sim-1").count() == 1
    assert "browser-node-token" not in page.content()

    # Probe it from its row: the node answers.
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("form.vps-row-action button:has-text('Probe now')")
    page.wait_for_selector("text=answered")

    # A product on that node.
    page.goto("/admin/products/new/")
    page.fill("input[name=name]", "Test box")
    page.fill("input[name=price_coins]", "4")
    page.select_option("select[name=provision_action]", label="Test")
    page.fill("input[name=duration_minutes]", "30")
    # The workers multi-select is a select2 widget: pick the node as a user would.
    page.click("#s2id_workers .select2-choices")
    page.click(".select2-result-label:has-text('sim-1')")
    page.click("input[type=submit][value=Save]")
    page.wait_for_url(_list_of("products"))
    row = page.locator("tr", has_text="Test box")
    assert "sim-1" in row.inner_text() and "available" in row.inner_text()

    # Give the user coins.
    page.goto("/admin/users/")
    page.locator("tr", has_text=customer.email).locator("text=Adjust coins").click()
    page.select_option("select[name=op]", value="add")
    page.fill("input[name=amount]", "10")
    page.fill("input[name=reason]", "welcome credit")
    page.click("button:has-text('Apply')")
    page.wait_for_selector(f"text={customer.email}: +10 coins, balance 10 coins.")
    _db.session.expire_all()
    assert _db.session.get(User, customer.id).coins == 10

    # The user buys; the job runs against the simulated node.
    product = _db.session.query(VpsProduct).filter_by(name="Test box").one()
    session = purchase(_db.session.get(User, customer.id), product.id)

    def is_ready() -> bool:
        _db.session.expire_all()
        return _db.session.get(VpsSession, session.id).status == "ready"

    assert run_jobs(until=is_ready, timeout=20)

    page.goto("/admin/sessions/")
    row = page.locator("tr", has_text=customer.email)
    assert row.count() == 1
    text = row.inner_text()
    assert "Test box" in text and "sim-1" in text and "ready" in text
    # The session's short id and its "log" link both open the session's page.
    assert row.locator(f"a[href='/vps/sessions/{session.id}']").count() == 2

    # The ledger shows both movements, newest first.
    page.goto("/admin/ledger/")
    kinds = page.locator("td.col-kind").all_inner_texts()
    assert [kind.strip() for kind in kinds[:2]] == ["purchase", "admin_add"]

    # A bulk action works under the strict CSP (our script replaces the inline onclick).
    page.goto("/admin/workers/")
    page.check("input.action-checkbox")
    page.click("text=With selected")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("a.vps-bulk-action[data-action=disable]")
    page.wait_for_selector("text=1 worker(s) disabled.")
    page.screenshot(path=str(artifacts_dir / "admin-workers.png"), full_page=True)
    assert page.locator("tr", has_text="sim-1").locator("text=disabled").count() >= 1

    assert not [e for e in page.console_errors if "Content Security Policy" in e]
    assert_ledger_invariant()
