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


def _node(name: str, used: int, *, enabled: bool = True, healthy: bool = True):
    import uuid

    from vpsshop.services.stats import NodeSlots

    return NodeSlots(uuid.uuid4(), name, used, 4, enabled, healthy)


def test_the_slots_chart_draws_the_unavailable_then_the_fullest_nodes_in_their_order():
    from vpsshop.admin.charts import nodes_to_draw

    nodes = [
        _node("a", 0),
        _node("b", 4),
        _node("c", 1, healthy=False),
        _node("d", 3),
        _node("e", 0, enabled=False),
        _node("f", 2),
    ]
    assert [n.name for n in nodes_to_draw(nodes, limit=3)] == ["b", "c", "e"]
    assert [n.name for n in nodes_to_draw(nodes, limit=4)] == ["b", "c", "d", "e"]
    assert nodes_to_draw(nodes, limit=6) == nodes


def test_a_fleet_past_the_chart_limit_is_drawn_in_part_and_listed_whole(admin_client, db):
    from vpsshop.admin.charts import SLOTS_CHART_NODES
    from vpsshop.models import Worker

    count = SLOTS_CHART_NODES + 6
    for n in range(count):
        db.session.add(
            Worker(name=f"node-{n:02d}", base_url=f"http://127.0.0.1:9/{n}", max_sessions=4)
        )
    sick = Worker(name="node-zz-sick", base_url="http://127.0.0.1:9/sick", max_sessions=4)
    sick.consecutive_failures = 99
    db.session.add(sick)
    db.session.commit()
    body = admin_client.get("/admin/").get_data(as_text=True)
    slots = _images(body)[3]
    drawn = set(re.findall(r"node-\d\d", slots))
    assert len(drawn) == SLOTS_CHART_NODES - 1 and "node-zz-sick (unhealthy)" in slots
    assert f"({SLOTS_CHART_NODES} of {count + 1} nodes: the unavailable, then the fullest)" in body
    table = body[body.index('id="table-slots"') :]
    table = table[: table.index("</table>")]
    assert len(re.findall(r"node-\d\d", table)) == count and "node-zz-sick" in table
