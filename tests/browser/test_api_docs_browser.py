"""/api/docs in real Chromium: Swagger UI from the app's own files draws the document."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser


def test_swagger_ui_renders_the_document_under_the_csp(browser, live_server, artifacts_dir):
    context = browser.new_context(base_url=live_server.url)
    page = context.new_page()
    page.set_default_timeout(15_000)
    problems: list[str] = []
    page.on("console", lambda msg: msg.type == "error" and problems.append(msg.text))
    page.on("pageerror", lambda error: problems.append(str(error)))
    outside: list[str] = []
    page.on(
        "request",
        lambda req: None if req.url.startswith(live_server.url) else outside.append(req.url),
    )
    try:
        page.goto("/api/docs")
        page.wait_for_selector(".opblock-summary-path")
        paths = page.locator(".opblock-summary-path").all_inner_texts()
        assert any("/api/v1/vps/purchase-and-create" in path for path in paths), paths
        assert page.locator("text=vpsshop API").count() >= 1
        page.screenshot(path=str(artifacts_dir / "api-docs.png"), full_page=False)
        assert not problems, problems  # no CSP refusal, no script error
        assert not [url for url in outside if not url.startswith("data:")], outside
    finally:
        context.close()
