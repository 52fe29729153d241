"""Every node call ends by its deadline whatever the node trickles, headers included."""

from __future__ import annotations

import threading
import time
import uuid

import pytest

from vpsshop.models import Worker
from vpsshop.services import log_proxy, node_client
from vpsshop.services.node_client import NodeError, NodeUnreachable
from vpsshop.services.purchase import purchase

CONNECT, READ = 0.5, 0.5
# The call's budget, plus slack for a loaded machine: bounded, not fast.
BOUND = node_client.DEADLINE_FACTOR * READ + CONNECT + 1.5
DRIBBLES = ("dribble_headers", "dribble_body")


@pytest.fixture
def app_config() -> dict:
    return {
        "NODE_CONNECT_TIMEOUT": CONNECT,
        "NODE_READ_TIMEOUT": READ,
        "NODE_LOG_READ_TIMEOUT": READ,
        "LOG_CACHE_SECONDS": 0.2,
    }


@pytest.fixture
def dribbling(make_sim_node):
    # A byte every 0.1 s: always inside the per-recv read timeout, never a whole answer.
    return make_sim_node(dribble_seconds=0.1, hang_max_seconds=30)


def _worker(node) -> Worker:
    return Worker(name=f"node-{uuid.uuid4().hex[:6]}", base_url=node.url)


def _calls(worker: Worker, route: str) -> dict:
    return {
        "create": lambda: node_client.create_vm(worker, 2, uuid.uuid4()),
        "log": lambda: node_client.fetch_log(worker, route),
        "stop": lambda: node_client.stop_vm(worker, route),
        "login": lambda: node_client.login(worker, "a@example.com", "secret-pass"),
        "probe": lambda: node_client.probe(worker),
    }


@pytest.mark.parametrize("mode", DRIBBLES)
@pytest.mark.parametrize("endpoint", ["create", "log", "stop", "login", "probe"])
def test_every_call_ends_by_its_deadline(app, dribbling, endpoint, mode):
    worker = _worker(dribbling)
    route = node_client.create_vm(worker, 2, uuid.uuid4())
    dribbling.set_fault(endpoint, mode)
    call = _calls(worker, route)[endpoint]
    started = time.monotonic()
    if endpoint in ("probe", "stop") and mode == "dribble_body":
        call()  # the status line is the whole answer here: a 200 is a 200
    else:
        with pytest.raises(NodeUnreachable) as info:
            call()
        assert "longer than" in info.value.message
    assert time.monotonic() - started < BOUND
    assert dribbling.stats[endpoint] >= 1


def test_the_node_is_used_again_after_a_cut_off_call(app, dribbling):
    """The watchdog shuts only its own call's socket: the next call works."""
    worker = _worker(dribbling)
    route = node_client.create_vm(worker, 2, uuid.uuid4())
    dribbling.set_fault("log", "dribble_headers")
    with pytest.raises(NodeError):
        node_client.fetch_log(worker, route)
    dribbling.set_fault("log", None)
    assert "Starting VM" in node_client.fetch_log(worker, route)


def test_log_viewers_of_a_dribbling_node_wait_at_most_one_fetch(
    app, dribbling, make_worker, make_product, make_user
):
    """The coalescing lock outlives the fetch: one node call, every viewer bounded."""
    from vpsshop.extensions import db
    from vpsshop.models import VpsSession
    from vpsshop.services import provisioning

    user = make_user(coins=5)
    sid = purchase(user, make_product([make_worker(dribbling.url)]).id).id
    provisioning.provision(sid)
    dribbling.reset_stats()
    dribbling.set_fault("log", "dribble_headers")
    budget = node_client.call_budget(READ)
    results: list[tuple[str, float]] = []

    def view(delay: float) -> None:
        time.sleep(delay)
        with app.app_context():
            started = time.monotonic()
            state = log_proxy.read_log(db.session.get(VpsSession, sid)).state
            results.append((state, time.monotonic() - started))

    # Viewers arrive over the whole fetch, the last one just before it must end.
    threads = [threading.Thread(target=view, args=(i * budget / 6,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(results) == 6
    assert all(seconds < budget + 2.0 for _, seconds in results), results
    assert {state for state, _ in results} == {"unavailable"}
    assert dribbling.stats["log"] == 1
