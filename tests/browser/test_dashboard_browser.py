"""The admin dashboard in real Chromium: the charts draw under the CSP, with data."""

from __future__ import annotations

import pytest

from tests.fixtures.dashboard_data import seed_dashboard
from tests.helpers import DEFAULT_PASSWORD

pytestmark = pytest.mark.browser


def test_dashboard_charts_render_with_data(browser, live_server, make_user, db, artifacts_dir):
    seed_dashboard()
    admin = make_user("chart-admin@example.com", admin=True)
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    problems: list[str] = []
    page.on("console", lambda msg: msg.type == "error" and problems.append(msg.text))
    page.on("pageerror", lambda error: problems.append(str(error)))
    try:
        page.goto("/admin/")
        page.fill("input[name=email]", admin.email)
        page.fill("input[name=password]", DEFAULT_PASSWORD)
        page.click("[type=submit]")
        page.wait_for_selector("[data-testid=charts]")
        images = page.locator("[data-testid=charts] img")
        assert images.count() == 5
        for n in range(5):
            # Decoded and drawn: an image the CSP blocked has no natural size.
            width = images.nth(n).evaluate("img => img.complete && img.naturalWidth")
            assert width and width > 100
        assert page.locator("[data-testid=alerts] li").count() >= 2
        page.locator("[data-chart=slots] summary").click()
        assert page.locator("#table-slots tbody tr").count() == 3
        page.screenshot(path=str(artifacts_dir / "admin-dashboard-charts.png"), full_page=True)
        assert not problems, problems  # no CSP violation, no script error
    finally:
        context.close()
