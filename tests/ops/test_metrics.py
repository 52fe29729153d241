"""GET /metrics: the token, the scrape over HTTP, and gunicorn's processes added up."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from cryptography.fernet import Fernet

from tests.conftest import TEST_DATABASE_URL, TEST_REDIS_URL
from vpsshop import metrics

TOKEN = "metrics-test-token-1234567890"
REPO = Path(__file__).resolve().parent.parent.parent
GUNICORN = Path(sys.executable).parent / "gunicorn"


@pytest.fixture
def app_config():
    return {"METRICS_TOKEN": TOKEN}


def scrape(base: str, token: str = TOKEN) -> str:
    response = requests.get(
        f"{base}/metrics", headers={"Authorization": f"Bearer {token}"}, timeout=20
    )
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return response.text


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample (0 when the series is not there yet)."""
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        match = re.match(r"^([a-zA-Z_:][\w:]*)(\{(.*)\})? (\S+)$", line)
        if not match or match.group(1) != name:
            continue
        found = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match.group(3) or ""))
        if all(found.get(key) == value for key, value in labels.items()):
            return float(match.group(4))
    return 0.0


def test_metrics_is_404_without_a_token_configured(client, app):
    app.config["METRICS_TOKEN"] = ""
    assert client.get("/metrics", headers={"Authorization": "Bearer anything"}).status_code == 404


@pytest.mark.parametrize(
    "header", [None, "Bearer wrong-token", f"Basic {TOKEN}", f"Bearer {TOKEN}x", "Bearer "]
)
def test_metrics_refuses_a_missing_or_wrong_token(client, header):
    headers = {"Authorization": header} if header is not None else {}
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 401
    assert "vpsshop_" not in response.get_data(as_text=True)


def test_scrape_after_a_purchase_and_a_failure(
    live_server, make_user, make_worker, make_product, api_token, client, app
):
    node = make_worker("http://127.0.0.1:9/secret-node-path", max_sessions=2)
    product = make_product([node], price=5, name="Metered Linux")
    buyer = make_user(coins=5)
    token = api_token(buyer)
    before = scrape(live_server.url)
    api = f"{live_server.url}/api/v1"
    auth = {"Authorization": f"Bearer {token}"}

    bought = requests.post(
        f"{api}/vps/purchase-and-create", json={"product_id": str(product.id)}, headers=auth
    )
    assert bought.status_code == 202, bought.text
    session_id = bought.json()["session"]["id"]
    assert requests.get(f"{api}/vps/sessions/{session_id}", headers=auth).status_code == 200
    # Out of coins now: a failed purchase, counted by its error code.
    refused = requests.post(
        f"{api}/vps/purchase-and-create", json={"product_id": str(product.id)}, headers=auth
    )
    assert refused.status_code == 402, refused.text
    metrics.record_payment("paid")  # the payment code's hook (stripe work)

    after = scrape(live_server.url)
    ok, poor = {"outcome": "ok"}, {"outcome": "insufficient_coins"}
    assert (
        sample(after, "vpsshop_purchases_total", **ok)
        == sample(before, "vpsshop_purchases_total", **ok) + 1
    )
    assert (
        sample(after, "vpsshop_purchases_total", **poor)
        == sample(before, "vpsshop_purchases_total", **poor) + 1
    )
    paid = {"outcome": "paid"}
    assert (
        sample(after, "vpsshop_payments_total", **paid)
        == sample(before, "vpsshop_payments_total", **paid) + 1
    )
    # The histogram is keyed by the URL rule, never the raw path with its id.
    route = {
        "route": "/api/v1/vps/sessions/<uuid:session_id>",
        "method": "GET",
        "status": "200",
    }
    assert sample(after, "vpsshop_http_request_duration_seconds_bucket", le="+Inf", **route) >= 1
    assert sample(after, "vpsshop_http_request_duration_seconds_bucket", le="0.005", **route) >= 0
    assert 'le="0.25"' in after
    assert session_id not in after
    assert (
        sample(
            after,
            "vpsshop_http_request_duration_seconds_count",
            route="/api/v1/vps/purchase-and-create",
            method="POST",
            status="402",
        )
        >= 1
    )
    # Scrape-time values: the session holds a slot on its node, named, never its URL.
    assert sample(after, "vpsshop_sessions", status="pending") == 1
    assert sample(after, "vpsshop_node_used_slots", node=node.name) == 1
    assert sample(after, "vpsshop_node_free_slots", node=node.name) == 1
    assert sample(after, "vpsshop_node_healthy", node=node.name) == 1
    # Each queue a worker serves has its own series: the provision job waits in the
    # lifecycle queue, the mail queue holds only notices.
    lifecycle = {"queue": app.config["RQ_QUEUE_NAME"]}
    mail = {"queue": app.config["RQ_QUEUE_NAME"] + "-mail"}
    assert sample(after, "vpsshop_rq_queue_depth", **lifecycle) == 1
    assert f'vpsshop_rq_queue_depth{{queue="{mail["queue"]}"}}' in after
    assert sample(after, "vpsshop_rq_failed_jobs", **lifecycle) == 0
    assert sample(after, "vpsshop_rq_failed_jobs", **mail) == 0
    assert sample(after, "vpsshop_redis_up") == 1
    assert sample(after, "vpsshop_coins_in_circulation") == 0
    assert "127.0.0.1:9" not in after and "secret-node-path" not in after


def test_unmatched_paths_share_one_series(client):
    client.get("/no/such/page/12345")
    client.get("/another/missing/67890")
    text = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).get_data(
        as_text=True
    )
    assert 'route="<unmatched>"' in text
    assert "12345" not in text and "67890" not in text


def test_provisioning_seconds_and_unhealthy_node(client, db, make_user, make_worker, make_product):
    from datetime import timedelta

    from vpsshop.models import VpsSession
    from vpsshop.models.types import utcnow

    sick = make_worker(max_sessions=4)
    sick.consecutive_failures = 99
    product = make_product([sick])
    user = make_user()
    now = utcnow()
    for seconds in (10, 20, 30, 40):
        db.session.add(
            VpsSession(
                user_id=user.id,
                product_id=product.id,
                worker_id=sick.id,
                price_coins=1,
                status="deleted",
                created_at=now - timedelta(minutes=5),
                ready_at=now - timedelta(minutes=5) + timedelta(seconds=seconds),
            )
        )
    db.session.commit()
    text = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).get_data(
        as_text=True
    )
    assert sample(text, "vpsshop_provisioning_seconds", quantile="0.5") == 20
    assert sample(text, "vpsshop_provisioning_seconds", quantile="0.95") == 40
    assert sample(text, "vpsshop_provisioned_sessions_24h") == 4
    assert sample(text, "vpsshop_node_healthy", node=sick.name) == 0
    assert sample(text, "vpsshop_node_free_slots", node=sick.name) == 0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_gunicorn_processes_are_added_up(app, tmp_path):
    """Two gunicorn processes in multiprocess mode: every scrape, whichever process
    answers it, counts every request of both."""
    port = _free_port()
    multiproc = tmp_path / "prometheus"
    env = {
        "PATH": f"{GUNICORN.parent}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "WEB_CONCURRENCY": "2",
        "WEB_THREADS": "2",
        "DATABASE_URL": TEST_DATABASE_URL,
        "REDIS_URL": TEST_REDIS_URL,
        "SECRET_KEY": "metrics-test-secret",
        "ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "METRICS_TOKEN": TOKEN,
        "PROMETHEUS_MULTIPROC_DIR": str(multiproc),
    }
    log = tmp_path / "web.log"
    with open(log, "wb") as out:
        web = subprocess.Popen(
            [str(GUNICORN), "--config", "gunicorn.conf.py", "wsgi:app"],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        # Both processes import the app first: on a loaded machine that takes a while.
        deadline = time.monotonic() + 60
        while True:
            try:
                requests.get(f"{base}/login", timeout=20)
                break
            except (requests.ConnectionError, requests.Timeout):
                assert web.poll() is None and time.monotonic() < deadline, log.read_text()
                time.sleep(0.2)
        for _ in range(20):  # a new connection each: both processes take some
            requests.get(f"{base}/login", headers={"Connection": "close"}, timeout=20)
        route = {"route": "/login", "method": "GET", "status": "200"}
        seen = {
            sample(scrape(base), "vpsshop_http_request_duration_seconds_count", **route)
            for _ in range(6)
        }
        assert seen == {21.0}, seen
        assert any(name.endswith(".db") for name in os.listdir(multiproc))
    finally:
        web.terminate()
        web.wait(25)
