"""The Procfile as a platform runs it: release, then web and worker, only documented variables."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import redis
import requests
from cryptography.fernet import Fernet
from honcho.environ import parse_procfile
from sqlalchemy.engine import make_url

from tests.conftest import TEST_DATABASE_URL, TEST_REDIS_URL, ensure_database

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
# The suite's own database server, a database of this test's own, and the suite's Redis
# db index (no other test uses it while this one runs; flushed before and after).
PROCFILE_DATABASE = make_url(TEST_DATABASE_URL).set(
    database=f"{make_url(TEST_DATABASE_URL).database}_procfile"
)
READY_TIMEOUT = 60
STOP_TIMEOUT = 25  # gunicorn's graceful_timeout is 20 s


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def heroku_style_database_url() -> str:
    """``postgres://…`` as Heroku hands it out: the app must rewrite it for psycopg 3."""
    return PROCFILE_DATABASE.set(drivername="postgres").render_as_string(hide_password=False)


@pytest.fixture
def empty_database() -> str:
    url = PROCFILE_DATABASE.render_as_string(hide_password=False)
    ensure_database(url)
    dsn = PROCFILE_DATABASE.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("CREATE SCHEMA public")
    return heroku_style_database_url()


@pytest.fixture
def clean_redis() -> Iterator[str]:
    client = redis.Redis.from_url(TEST_REDIS_URL)
    client.flushdb()
    yield TEST_REDIS_URL
    client.flushdb()
    client.close()


@pytest.fixture
def platform_env(empty_database, clean_redis) -> dict[str, str]:
    """Exactly the variables README's Deploy section documents, plus PATH."""
    return {
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
        "DATABASE_URL": empty_database,
        "REDIS_URL": clean_redis,
        "SECRET_KEY": secrets.token_urlsafe(32),
        "ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "PORT": str(_free_port()),
        "HOST": "127.0.0.1",
        # Set by Heroku's Python buildpack; here it keeps the logs complete on failure.
        "PYTHONUNBUFFERED": "1",
    }


class Dyno:
    """One Procfile process in its own process group, output to a file."""

    def __init__(self, name: str, command: str, env: dict[str, str], log_dir: Path):
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            command,
            shell=True,  # as a platform runs a Procfile line
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def tail(self, lines: int = 40) -> str:
        text = self.log_path.read_text(errors="replace")
        return f"--- {self.name} ---\n" + "\n".join(text.splitlines()[-lines:])

    def group_alive(self) -> bool:
        try:
            os.killpg(self.proc.pid, 0)
        except ProcessLookupError:
            return False
        return True

    def terminate(self, timeout: float = STOP_TIMEOUT) -> int | None:
        """SIGTERM to the whole group, as a platform stops a dyno; the leader's exit code."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill(self) -> None:
        if self.group_alive():
            os.killpg(self.proc.pid, signal.SIGKILL)
        if self.proc.poll() is None:
            self.proc.wait(10)
        self._log.close()


@pytest.fixture
def dynos(tmp_path) -> Iterator:
    started: list[Dyno] = []

    def start(name: str, command: str, env: dict[str, str]) -> Dyno:
        dyno = Dyno(name, command, env, tmp_path)
        started.append(dyno)
        return dyno

    yield start
    for dyno in started:
        dyno.kill()


def wait_until(check, timeout: float, what: str, logs) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.25)
    raise AssertionError(f"{what} not within {timeout}s\n{logs()}")


def test_release_web_and_worker_complete_a_purchase(platform_env, dynos):
    started = time.monotonic()
    processes = parse_procfile((REPO / "Procfile").read_text()).processes
    assert set(processes) == {"release", "web", "worker"}

    release = subprocess.run(
        processes["release"],
        shell=True,
        cwd=REPO,
        env=platform_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert release.returncode == 0, release.stdout + release.stderr

    def flask_cli(*args: str) -> None:
        result = subprocess.run(
            [str(VENV_BIN / "flask"), "--app", "wsgi", *args],
            cwd=REPO,
            env=platform_env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stdout + result.stderr

    admin_password, user_password = secrets.token_urlsafe(12), secrets.token_urlsafe(12)
    flask_cli("create-user", "ops@example.com", "--password", admin_password, "--admin")
    flask_cli("create-user", "buyer@example.com", "--password", user_password, "--coins", "50")

    node_port = _free_port()
    node = dynos(
        "node",
        f"exec flask --app wsgi simulate-worker --host 127.0.0.1 --port {node_port} "
        "--boot-seconds 2 --quiet",
        platform_env,
    )
    # bash -c, as platforms run a Procfile line, execs a lone command: do the same, so
    # the exit codes below are gunicorn's and the worker's, not a shell's.
    web = dynos("web", "exec " + processes["web"], platform_env)
    worker = dynos("worker", "exec " + processes["worker"], platform_env)

    def logs() -> str:
        return "\n".join(d.tail() for d in (web, worker, node))

    base = f"http://127.0.0.1:{platform_env['PORT']}"

    def healthy() -> bool:
        try:
            return requests.get(f"{base}/healthz", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    booted = time.monotonic()
    wait_until(healthy, 60, "web answering /healthz with 200", logs)
    boot_time = time.monotonic() - booted
    health = requests.get(f"{base}/healthz", timeout=5).json()
    assert health == {"status": "ok", "database": "ok", "redis": "ok"}

    def token(email: str, password: str) -> dict[str, str]:
        response = requests.post(
            f"{base}/api/v1/auth/token", json={"email": email, "password": password}, timeout=10
        )
        assert response.status_code == 201, response.text
        return {"Authorization": f"Bearer {response.json()['token']}"}

    admin = token("ops@example.com", admin_password)
    response = requests.post(
        f"{base}/api/v1/admin/workers/register",
        json={"name": "node-1", "base_url": f"http://127.0.0.1:{node_port}", "max_sessions": 2},
        headers=admin,
        timeout=10,
    )
    assert response.status_code == 201, response.text
    worker_id = response.json()["worker"]["id"]
    response = requests.post(
        f"{base}/api/v1/admin/products",
        json={
            "name": "Windows VPS",
            "price_coins": 20,
            "provision_action": 2,
            "duration_minutes": 60,
            "is_active": True,
            "worker_ids": [worker_id],
        },
        headers=admin,
        timeout=10,
    )
    assert response.status_code == 201, response.text
    product_id = response.json()["product"]["id"]

    buyer = token("buyer@example.com", user_password)
    response = requests.post(
        f"{base}/api/v1/vps/purchase-and-create",
        json={"product_id": product_id},
        headers=buyer,
        timeout=10,
    )
    assert response.status_code == 202, response.text
    session_id = response.json()["session"]["id"]
    bought = time.monotonic()

    session: dict = {}

    def ready() -> bool:
        nonlocal session
        answer = requests.get(f"{base}/api/v1/vps/sessions/{session_id}", headers=buyer, timeout=10)
        session = answer.json()["session"]
        assert session["status"] not in {"failed", "deleted", "expired"}, session
        return session["status"] == "ready"

    wait_until(ready, READY_TIMEOUT, "the session ready", logs)
    to_ready = time.monotonic() - bought
    credentials = session["credentials"]
    assert credentials["host"] and credentials["username"] and credentials["password"]
    me = requests.get(f"{base}/api/v1/me", headers=buyer, timeout=10).json()
    assert me["coins"] == 30

    # A platform stops dynos with SIGTERM: both must exit cleanly, leaving nothing behind.
    stop_times = {}
    for dyno in (web, worker):
        stopping = time.monotonic()
        code = dyno.terminate()
        stop_times[dyno.name] = time.monotonic() - stopping
        assert code == 0, f"{dyno.name} exited with {code} after SIGTERM\n{logs()}"
        wait_until(lambda d=dyno: not d.group_alive(), 10, f"{dyno.name}'s group gone", logs)
    print(
        f"\nprocfile: whole test {time.monotonic() - started:.1f}s, web up {boot_time:.1f}s, "
        f"ready {to_ready:.1f}s after purchase (boot 2 s), stop "
        + ", ".join(f"{name} {seconds:.1f}s" for name, seconds in stop_times.items())
    )
