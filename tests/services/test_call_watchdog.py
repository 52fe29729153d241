"""The node calls' watchdog: one thread, each callback at its deadline, disarmed ones never."""

from __future__ import annotations

import threading
import time
import uuid

import pytest

from vpsshop.models import Worker
from vpsshop.services import call_watchdog, node_client
from vpsshop.services.call_watchdog import Watchdog
from vpsshop.services.node_client import NodeUnreachable

# Slack for a loaded machine: the callbacks must run, and in their order, not fast.
SLACK = 1.5


def _recorder():
    fired: list[tuple[str, float]] = []
    done = threading.Event()

    def record(name: str, last: bool = False):
        def callback() -> None:
            fired.append((name, time.monotonic()))
            if last:
                done.set()

        return callback

    return fired, done, record


@pytest.fixture
def watchdog():
    own = Watchdog()
    yield own
    own.close()


def test_a_later_armed_earlier_deadline_runs_first_and_on_time(watchdog):
    fired, done, record = _recorder()
    start = time.monotonic()
    watchdog.arm(start + 1.2, record("late", last=True))
    watchdog.arm(start + 0.2, record("early"))  # the thread sleeps towards "late" now
    assert done.wait(1.2 + SLACK)
    assert [name for name, _ in fired] == ["early", "late"]
    early_at = fired[0][1] - start
    assert 0.2 <= early_at < 0.2 + SLACK
    assert fired[1][1] - start >= 1.2


def test_a_disarmed_callback_never_runs_and_the_others_still_do(watchdog):
    fired, done, record = _recorder()
    start = time.monotonic()
    first = watchdog.arm(start + 0.1, record("disarmed"))
    watchdog.arm(start + 0.3, record("kept", last=True))
    watchdog.disarm(first)
    assert watchdog.pending() == 1
    assert done.wait(0.3 + SLACK)
    time.sleep(0.2)
    assert [name for name, _ in fired] == ["kept"]
    assert watchdog.pending() == 0


def test_a_failing_callback_does_not_stop_the_next(watchdog):
    fired, done, record = _recorder()
    start = time.monotonic()

    def broken() -> None:
        raise RuntimeError("a bug in one callback")

    watchdog.arm(start + 0.05, broken)
    watchdog.arm(start + 0.2, record("after", last=True))
    assert done.wait(0.2 + SLACK)
    assert [name for name, _ in fired] == ["after"]


def test_many_armed_callbacks_share_one_thread(watchdog):
    fired, done, record = _recorder()
    before = {thread.ident for thread in threading.enumerate()}
    start = time.monotonic()
    for index in range(50):
        watchdog.arm(start + 0.1 + index * 0.005, record(f"c{index}", last=index == 49))
    new = [t for t in threading.enumerate() if t.ident not in before]
    assert [t.name for t in new] == ["node-call-watchdog"]
    assert done.wait(0.35 + SLACK)
    assert [name for name, _ in fired] == [f"c{index}" for index in range(50)]


@pytest.fixture
def app_config() -> dict:
    return {"NODE_CONNECT_TIMEOUT": 0.5, "NODE_READ_TIMEOUT": 0.5, "NODE_LOG_READ_TIMEOUT": 0.5}


def test_concurrent_node_calls_start_no_timer_thread_each(app, make_sim_node):
    """Eight dribbled log reads at once: no timer threads, all cut off at their deadline."""
    node = make_sim_node(dribble_seconds=0.1, hang_max_seconds=30)
    worker = Worker(name=f"node-{uuid.uuid4().hex[:6]}", base_url=node.url)
    route = node_client.create_vm(worker, 2, uuid.uuid4())
    node.set_fault("log", "dribble_headers")
    outcomes: list[BaseException | None] = []
    in_flight = threading.Barrier(9)

    def read() -> None:
        with app.app_context():
            in_flight.wait(10)
            try:
                node_client.fetch_log(worker, route)
                outcomes.append(None)
            except NodeUnreachable as exc:
                outcomes.append(exc)

    before = {thread.ident for thread in threading.enumerate()}
    threads = [threading.Thread(target=read) for _ in range(8)]
    for thread in threads:
        thread.start()
    in_flight.wait(10)
    time.sleep(0.3)  # all eight are inside their calls, the node trickling to each
    timers = [t for t in threading.enumerate() if isinstance(t, threading.Timer)]
    watchdogs = [t for t in threading.enumerate() if t.name == "node-call-watchdog"]
    started_here = [t for t in watchdogs if t.ident not in before]
    assert call_watchdog.watchdog().pending() == 8
    for thread in threads:
        thread.join(node_client.call_budget(0.5) + 10)
    assert timers == []
    assert len(watchdogs) >= 1 and len(started_here) <= 1  # the process's one, lazily
    assert len(outcomes) == 8
    assert all(isinstance(o, NodeUnreachable) and "longer than" in o.message for o in outcomes)
    assert call_watchdog.watchdog().pending() == 0
