"""The real stack on 127.0.0.1: its own database and Redis index, Procfile processes, nodes."""

from __future__ import annotations

import os
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import redis
import requests
from cryptography.fernet import Fernet
from honcho.environ import parse_procfile

REPO = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
PG_SERVER = "postgresql://root@127.0.0.1:5432"
BENCH_DATABASE = "vpsshop_bench"
# The large data of measurement 5: a copy of the bench database, served beside it.
LARGE_DATABASE = "vpsshop_bench_large"
# Neither 0 (development) nor the test suite's indexes.
BENCH_REDIS_URL = "redis://127.0.0.1:6379/12"
LARGE_REDIS_URL = "redis://127.0.0.1:6379/11"
# Every call a node gets in a run stays in its record (the boot test reads them all back;
# the simulator's default keeps only the last 1,000).
RECORDED_REQUESTS = 20_000
STOP_TIMEOUT = 25.0  # gunicorn's graceful_timeout is 20 s
READY_TIMEOUT = 60.0
# The bench's 16 buyers make hundreds of purchases a minute, far past the production
# limit of a person; the limiter still runs (and costs what it costs) on every purchase.
BENCH_PURCHASE_LIMIT = "1000000 per minute"


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def procfile() -> dict[str, str]:
    """The Procfile's commands by process name."""
    return parse_procfile((REPO / "Procfile").read_text()).processes


def worker_command(worker_class: str, *extra: str) -> str:
    """The Procfile's ``worker`` line with ``--worker-class`` set to ``worker_class``."""
    words = shlex.split(procfile()["worker"])
    if "--worker-class" in words:  # the Procfile may already choose one: replace it
        at = words.index("--worker-class")
        del words[at : at + 2]
    words = [w for w in words if not w.startswith("--worker-class=")]
    return shlex.join([*words, "--worker-class", worker_class, *extra])


def hello_command() -> str:
    """The Procfile's ``web`` line serving bench/hello_app.py instead of the shop."""
    words = shlex.split(procfile()["web"])
    if "wsgi:app" not in words:
        raise RuntimeError(f"cannot find wsgi:app in the Procfile web line: {words}")
    return shlex.join(["bench.hello_app:app" if w == "wsgi:app" else w for w in words])


@dataclass
class Process:
    """One process (group) started by the bench, its output in a log file."""

    name: str
    command: str
    log_path: Path
    popen: subprocess.Popen
    port: int | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def alive(self) -> bool:
        return self.popen.poll() is None

    def tail(self, lines: int = 30) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return f"--- {self.name} ({self.command}) ---\n" + "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """SIGTERM to the group, as a platform stops a dyno; SIGKILL what is left."""
        self.terminate()
        self.finish(timeout)

    def terminate(self) -> None:
        """SIGTERM to the group, without waiting."""
        try:
            os.killpg(self.popen.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass

    def finish(self, timeout: float = STOP_TIMEOUT) -> None:
        """Wait up to ``timeout`` for a terminated group's leader, then SIGKILL the rest."""
        pgid = self.popen.pid
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(pgid, signal.SIGKILL)  # stragglers (gunicorn workers, RQ horses)
        except ProcessLookupError:
            pass
        if self.popen.poll() is None:
            self.popen.wait(10)


@dataclass
class Stack:
    """Everything the bench starts; ``close()`` stops it all (also on Ctrl-C)."""

    workdir: Path
    env: dict[str, str] = field(default_factory=dict)
    processes: list[Process] = field(default_factory=list)
    database_url: str = f"postgresql+psycopg://root@127.0.0.1:5432/{BENCH_DATABASE}"
    redis_url: str = BENCH_REDIS_URL

    def __post_init__(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.env = {
            "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
            "HOME": os.environ.get("HOME", "/tmp"),
            "LANG": os.environ.get("LANG", "C.UTF-8"),
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis_url,
            "SECRET_KEY": secrets.token_urlsafe(32),
            "ENCRYPTION_KEYS": Fernet.generate_key().decode(),
            "HOST": "127.0.0.1",
            "PYTHONUNBUFFERED": "1",
            "RATELIMIT_PURCHASES_PER_USER": BENCH_PURCHASE_LIMIT,
            # The bench times admin pages, not the 2FA gate in front of them (tested in
            # tests/reliability/test_access_matrix.py): its seeded admin has no 2FA.
            "ADMIN_REQUIRE_2FA": "0",
        }

    @property
    def dsn(self) -> str:
        """The bench database for psycopg."""
        return f"{PG_SERVER}/{BENCH_DATABASE}"

    @property
    def large_dsn(self) -> str:
        """The large-data copy for psycopg."""
        return f"{PG_SERVER}/{LARGE_DATABASE}"

    @property
    def large_env(self) -> dict[str, str]:
        """What a process serving the large-data copy has in place of the bench's own."""
        return {
            "DATABASE_URL": f"postgresql+psycopg://root@127.0.0.1:5432/{LARGE_DATABASE}",
            "REDIS_URL": LARGE_REDIS_URL,
        }

    def reset_data(self) -> None:
        """A fresh, empty database and empty Redis db indexes, then the release phase."""
        with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{LARGE_DATABASE}" WITH (FORCE)')
            conn.execute(f'DROP DATABASE IF EXISTS "{BENCH_DATABASE}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{BENCH_DATABASE}"')
        for url in (self.redis_url, LARGE_REDIS_URL):
            client = redis.Redis.from_url(url)
            client.flushdb()
            client.close()
        release = subprocess.run(
            procfile()["release"],
            shell=True,  # as a platform runs a Procfile line
            cwd=REPO,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if release.returncode != 0:
            raise RuntimeError(f"release failed:\n{release.stdout}\n{release.stderr}")

    def copy_to_large(self) -> None:
        """The bench database as it is now, copied to the large-data database (nothing may
        be connected to it: call before the web and worker processes start)."""
        with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{LARGE_DATABASE}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{LARGE_DATABASE}" TEMPLATE "{BENCH_DATABASE}"')

    def start(self, name: str, command: str, port: int | None = None, **env: str) -> Process:
        """Start ``command`` as a platform runs a Procfile line, in its own process group."""
        log_path = self.workdir / f"{name}.log"
        process_env = {**self.env, **env}
        if port is not None:
            process_env["PORT"] = str(port)
        log = open(log_path, "ab")  # noqa: SIM115 - the child keeps it; closed with us
        try:
            popen = subprocess.Popen(
                ["bash", "-c", f"exec {command}"],
                cwd=REPO,
                env=process_env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C reaches the bench only; it stops the group
            )
        finally:
            log.close()
        process = Process(name, command, log_path, popen, port)
        self.processes.append(process)
        return process

    def wait_http(self, process: Process, path: str = "/", timeout: float = READY_TIMEOUT) -> None:
        """Wait until ``process`` answers ``path`` with a non-5xx status."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not process.alive():
                raise RuntimeError(f"{process.name} exited\n{process.tail()}")
            try:
                if requests.get(process.url + path, timeout=2).status_code < 500:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{process.name} did not answer {path}\n{process.tail()}")

    def start_web(self, name: str = "web", **env: str) -> Process:
        """gunicorn exactly as the Procfile's ``web`` line runs it (gunicorn.conf.py)."""
        process = self.start(name, procfile()["web"], port=free_port(), **env)
        self.wait_http(process, "/healthz")
        return process

    def start_hello(self, **env: str) -> Process:
        """The bare Flask app under the same gunicorn command and configuration."""
        process = self.start("hello", hello_command(), port=free_port(), **env)
        self.wait_http(process, "/")
        return process

    def start_nodes(self, indexes: range, boot_seconds: float = 0.0) -> list[Process]:
        """Simulated worker nodes answering at once (room for everything; their VMs boot
        in ``boot_seconds``), started together and then each waited for. The node's
        command without the shop's app: 24 of them start in half the time."""
        processes = []
        for index in indexes:
            port = free_port()
            command = (
                f"python -m vpsshop.simulator --host 127.0.0.1 --port {port} "
                f"--boot-seconds {boot_seconds:g} --capacity 100000 --quiet "
                f"--record-requests {RECORDED_REQUESTS}"
            )
            processes.append(self.start(f"node-{index}", command, port=port))
        for process in processes:
            self.wait_http(process, "/")
        return processes

    def start_mail_sink(self) -> Process:
        """An SMTP server that accepts and drops every mail (aiosmtpd's ``Sink``), as
        every process's ``MAIL_URL``: a shop sends its notices, and without a server each
        one would fail and be retried. Call before the web and worker processes start."""
        port = free_port()
        command = f"python -m aiosmtpd -n -c aiosmtpd.handlers.Sink -l 127.0.0.1:{port}"
        process = self.start("smtp", command, port=port)
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=2):
                    break
            except OSError:
                if not process.alive() or time.monotonic() > deadline:
                    raise RuntimeError(f"the SMTP sink did not start\n{process.tail()}") from None
                time.sleep(0.1)
        self.env["MAIL_URL"] = f"smtp://127.0.0.1:{port}"
        return process

    def start_worker(self, worker_class: str, *extra: str, name: str = "", **env: str) -> Process:
        """The Procfile's ``worker`` line with the given RQ worker class."""
        client = redis.Redis.from_url(env.get("REDIS_URL", self.redis_url))
        before = client.smembers("rq:workers")
        process = self.start(
            name or f"worker-{worker_class}", worker_command(worker_class, *extra), **env
        )
        deadline = time.monotonic() + READY_TIMEOUT
        try:
            # A new name in RQ's registry: it listens on the queue now.
            while not client.smembers("rq:workers") - before:
                if not process.alive() or time.monotonic() > deadline:
                    raise RuntimeError(f"{process.name} did not start\n{process.tail()}")
                time.sleep(0.1)
        finally:
            client.close()
        return process

    def stop(self, process: Process) -> None:
        """Stop one process group the bench started."""
        process.stop()
        if process in self.processes:
            self.processes.remove(process)

    def close(self) -> None:
        """Stop every process group the bench started: all told at once, then each waited
        for (two dozen nodes and the webs stop in parallel)."""
        processes, self.processes = self.processes[::-1], []
        for process in processes:
            process.terminate()
        for process in processes:
            process.finish()
