"""gunicorn trusts no proxy header by itself: TRUST_PROXY_HOPS alone says what is HTTPS."""

from __future__ import annotations

import os
import runpy
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from cryptography.fernet import Fernet

from tests.conftest import TEST_DATABASE_URL, TEST_REDIS_URL

REPO = Path(__file__).resolve().parent.parent.parent
GUNICORN = Path(sys.executable).parent / "gunicorn"
HSTS = "Strict-Transport-Security"  # sent only when the app sees the request as HTTPS


def test_gunicorn_trusts_no_address_unless_told(monkeypatch):
    monkeypatch.delenv("FORWARDED_ALLOW_IPS", raising=False)
    assert runpy.run_path(str(REPO / "gunicorn.conf.py"))["forwarded_allow_ips"] == ""
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "10.0.0.0/8")
    assert runpy.run_path(str(REPO / "gunicorn.conf.py"))["forwarded_allow_ips"] == "10.0.0.0/8"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize(
    ("settings", "https"),
    [
        ({"TRUST_PROXY_HOPS": "0"}, False),  # loopback is no proxy the app was told of
        ({"TRUST_PROXY_HOPS": "1"}, True),  # one trusted hop: its header counts
        ({"TRUST_PROXY_HOPS": "0", "FORWARDED_ALLOW_IPS": "127.0.0.1"}, True),  # opted in
    ],
)
def test_forwarded_proto_from_loopback(tmp_path, settings, https):
    port = _free_port()
    env = {
        "PATH": f"{GUNICORN.parent}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "WEB_CONCURRENCY": "1",
        "WEB_THREADS": "2",
        "DATABASE_URL": TEST_DATABASE_URL,
        "REDIS_URL": TEST_REDIS_URL,
        "SECRET_KEY": "gunicorn-proxy-test-secret",
        "ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        **settings,
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
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                response = requests.get(
                    f"http://127.0.0.1:{port}/healthz",
                    headers={"X-Forwarded-Proto": "https"},
                    timeout=5,
                )
                break
            # The master listens before its worker has imported the app: on a loaded
            # machine the first request can wait longer than its timeout. Ask again.
            except (requests.ConnectionError, requests.Timeout):
                assert web.poll() is None and time.monotonic() < deadline, log.read_text()
                time.sleep(0.2)
        assert "Content-Security-Policy" in response.headers  # the app's own answer
        assert (HSTS in response.headers) is https, dict(response.headers)
    finally:
        web.terminate()
        web.wait(25)
