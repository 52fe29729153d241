"""The dashboard's charts: script-free SVG images, escaped labels, tables, the alert band."""

from __future__ import annotations

import base64
import re

from tests.fixtures.dashboard_data import seed_dashboard


def _images(body: str) -> list[str]:
    return [
        base64.b64decode(data).decode()
        for data in re.findall(r'src="data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)"', body)
    ]


def test_dashboard_draws_charts_with_tables_and_alerts(admin_client, db):
    seed_dashboard()
    response = admin_client.get("/admin/")
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    svgs = _images(body)
    assert len(svgs) == 5
    for svg in svgs:
        assert svg.startswith("<svg") and "<script" not in svg
        assert "http://127.0.0.1:9" not in svg  # node URLs never drawn
    # Labels are escaped inside the SVG and in the page.
    slots = svgs[3]  # the page order: coins in, coins out, sessions, slots, provisioning
    assert "node-&lt;b&gt;sick&lt;/b&gt; (unhealthy)" in slots and "<b>" not in slots
    assert "node-off (disabled)" in slots
    assert "node-&lt;b&gt;sick&lt;/b&gt;" in body and "<b>sick" not in body
    # The alert band names what needs attention.
    alerts = body[body.index('data-testid="alerts"') : body.index('data-testid="dashboard"')]
    assert "Sold out: Windows &lt;XL&gt;" in alerts
    assert 'data-alert="node_unhealthy"' in alerts
    # Each chart's table: coins in by kind, coins out, outcomes, nodes, provisioning.
    for key in ("coins-in", "coins-out", "sessions", "slots", "provisioning"):
        assert f'id="table-{key}"' in body
    assert '<th scope="col">Vouchers</th>' in body
    assert '<th scope="col">Top-ups</th>' in body
    assert '<th scope="col">Extensions</th>' in body
    assert '<th scope="col">stopped before ready</th>' in body
    # No inline script or style on the page beyond Flask-Admin's nonce'd ones.
    assert "<style" not in body
    assert all("nonce=" in tag for tag in re.findall(r"<script[^>]*>", body) if "src=" not in tag)
    assert "data:" in response.headers["Content-Security-Policy"]


def test_empty_dashboard_has_no_alert_band_and_empty_charts(admin_client, db):
    body = admin_client.get("/admin/").get_data(as_text=True)
    assert 'data-testid="alerts"' not in body
    assert len(_images(body)) == 5
    assert "no data yet" in body


def test_failed_jobs_raise_an_alert(admin_client, db, run_jobs):
    from vpsshop.queue import get_queue

    get_queue().enqueue("builtins.int", "x", job_timeout=5, failure_ttl=600)
    assert run_jobs()
    body = admin_client.get("/admin/").get_data(as_text=True)
    assert "1 failed job(s) in the queue." in body
