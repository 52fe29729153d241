"""Commands run as one group: each in its own process group, output prefixed, stopped together."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from typing import IO

# gunicorn's graceful_timeout (gunicorn.conf.py) is below this; RQ finishes its job.
DEFAULT_STOP_GRACE_SECONDS = 25.0
KILL_WAIT_SECONDS = 5.0
POLL_SECONDS = 0.1


def _signal_group(pgid: int, signum: int) -> None:
    try:
        os.killpg(pgid, signum)
    except (ProcessLookupError, PermissionError):
        pass  # gone already (or a recycled id that is not ours)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class ProcessGroup:
    """Named commands started with :meth:`start`; :meth:`wait` until one exits, then :meth:`stop`.

    Each command leads a new session, so its pid is its process-group id: a stop reaches
    whatever it forked too (gunicorn's workers, RQ's scheduler), and a terminal's Ctrl-C
    reaches only the launcher, which then stops the group in order.
    """

    def __init__(self, out: IO[str] | None = None, *, width: int = 0):
        """``width``: the longest name to come, so every prefix lines up from the start."""
        self._out = out if out is not None else sys.stdout
        self._write_lock = threading.Lock()
        self._children: dict[str, subprocess.Popen] = {}
        self._relays: list[threading.Thread] = []
        self._width = max(width, len("system"))

    def say(self, name: str, text: str) -> None:
        """Print ``text`` as a line of ``name``'s output."""
        with self._write_lock:
            self._out.write(f"{name:<{self._width}} | {text.rstrip()}\n")
            self._out.flush()

    def start(
        self, name: str, argv: Sequence[str], *, env: Mapping[str, str], cwd: str
    ) -> subprocess.Popen:
        """Start ``argv`` (no shell) in its own session, its output relayed with ``name``."""
        if name in self._children:
            raise ValueError(f"a process named {name!r} is already running")
        self._width = max(self._width, len(name))
        proc = subprocess.Popen(
            list(argv),
            env=dict(env),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._children[name] = proc
        relay = threading.Thread(target=self._relay, args=(name, proc), daemon=True)
        relay.start()
        self._relays.append(relay)
        self.say("system", f"{name} started (pid={proc.pid})")
        return proc

    def _relay(self, name: str, proc: subprocess.Popen) -> None:
        assert proc.stdout is not None
        with proc.stdout:
            for raw in iter(proc.stdout.readline, b""):
                self.say(name, raw.decode(errors="replace"))

    @property
    def pids(self) -> dict[str, int]:
        """Each started process's pid, which is also its process-group id."""
        return {name: proc.pid for name, proc in self._children.items()}

    def wait(self) -> tuple[str, int]:
        """Block until one process exits; its name and exit code."""
        while True:
            for name, proc in self._children.items():
                code = proc.poll()
                if code is not None:
                    self.say("system", f"{name} stopped (rc={code})")
                    return name, code
            time.sleep(POLL_SECONDS)

    def stop(self, grace: float = DEFAULT_STOP_GRACE_SECONDS) -> None:
        """SIGTERM every group, then SIGKILL the groups still alive after ``grace`` seconds.

        Waits on whole groups, not only their leaders: a child the leader did not reap
        would otherwise outlive the demo. Safe to call more than once.
        """
        pending = self._still_alive(self._children, 0)
        for name, proc in pending.items():
            self.say("system", f"sending SIGTERM to {name} (pid {proc.pid})")
            _signal_group(proc.pid, signal.SIGTERM)
        pending = self._still_alive(pending, grace)
        for name, proc in pending.items():
            self.say("system", f"sending SIGKILL to {name} (pid {proc.pid})")
            _signal_group(proc.pid, signal.SIGKILL)
        # SIGKILL is delivered, and orphans reaped by init, a moment later: wait for it.
        self._still_alive(pending, KILL_WAIT_SECONDS)
        for proc in self._children.values():
            proc.wait()  # reap the leaders; SIGKILL has made this prompt
        for relay in self._relays:
            relay.join(timeout=5)

    @staticmethod
    def _still_alive(
        processes: dict[str, subprocess.Popen], timeout: float
    ) -> dict[str, subprocess.Popen]:
        """The processes whose group is still alive after waiting up to ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            alive = {}
            for name, proc in processes.items():
                # The leader's exit (poll reaps it) does not end a group whose children
                # live on: the group counts.
                proc.poll()
                if _group_alive(proc.pid):
                    alive[name] = proc
            if not alive or time.monotonic() >= deadline:
                return alive
            time.sleep(POLL_SECONDS)
