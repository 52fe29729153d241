"""The demo's process group: prefixed output, first exit reported, whole groups stopped."""

from __future__ import annotations

import io
import os
import re
import sys
import time

import psutil
import pytest

from vpsshop.devtools.process_group import ProcessGroup

# Forks a child that ignores SIGTERM (like a straggler a leader does not reap), prints
# its pid, then sleeps; the leader itself ignores SIGTERM too when asked to.
STUBBORN = """
import os, signal, sys, time
if sys.argv[1] == "stubborn":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
pid = os.fork()
if pid == 0:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    time.sleep(120)
    os._exit(0)
print("child", pid, flush=True)
time.sleep(120)
"""


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _wait_for(pattern: str, out: io.StringIO, timeout: float = 20) -> re.Match:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        match = re.search(pattern, out.getvalue())
        if match:
            return match
        time.sleep(0.05)
    raise AssertionError(f"no {pattern!r} in:\n{out.getvalue()}")


@pytest.fixture
def group():
    out = io.StringIO()
    group = ProcessGroup(out, width=len("quitter"))
    yield group, out
    group.stop(grace=1)


def test_output_is_prefixed_and_the_first_exit_is_reported(group):
    group, out = group
    env = dict(os.environ)
    group.start("sleeper", [sys.executable, "-c", "import time; time.sleep(60)"], env=env, cwd=".")
    group.start(
        "quitter", [sys.executable, "-c", "print('bye'); raise SystemExit(3)"], env=env, cwd="."
    )
    assert group.wait() == ("quitter", 3)
    _wait_for(r"(?m)^quitter \| bye$", out)
    assert "system  | sleeper started" in out.getvalue()  # lined up with the longest name
    sleeper = group.pids["sleeper"]
    assert not _gone(sleeper)
    group.stop(grace=10)
    assert _gone(sleeper)
    assert "sending SIGTERM to sleeper" in out.getvalue()
    assert "SIGKILL" not in out.getvalue()  # it stopped on SIGTERM


@pytest.mark.parametrize("mode", ["polite", "stubborn"])
def test_stop_ends_the_whole_group_children_included(group, mode):
    group, out = group
    proc = group.start(
        "forker", [sys.executable, "-c", STUBBORN, mode], env=dict(os.environ), cwd="."
    )
    child = int(_wait_for(r"forker +\| child (\d+)", out).group(1))
    assert os.getpgid(child) == proc.pid  # the leader's pid is the group's id
    started = time.monotonic()
    group.stop(grace=1)
    assert _gone(proc.pid) and _gone(child), out.getvalue()
    assert "sending SIGKILL to forker" in out.getvalue()  # the child ignored SIGTERM
    assert time.monotonic() - started < 15  # bounded: SIGKILL after the grace


def test_a_name_is_started_once(group):
    group, _out = group
    group.start("one", [sys.executable, "-c", "import time; time.sleep(60)"], env={}, cwd=".")
    with pytest.raises(ValueError, match="already running"):
        group.start("one", [sys.executable, "-c", "pass"], env={}, cwd=".")
    assert list(group.pids) == ["one"]
