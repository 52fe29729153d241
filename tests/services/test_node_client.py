"""The node client against a real simulated node on 127.0.0.1, in every fault mode."""

from __future__ import annotations

import re
import select
import subprocess
import sys
import time
import tracemalloc
import uuid
from pathlib import Path

import pytest
import requests

from vpsshop.models import Worker
from vpsshop.services import crypto, node_client
from vpsshop.services.node_client import (
    NodeAnswer,
    NodeBadAnswer,
    NodeBusy,
    NodeError,
    NodeNotFound,
    NodeUnauthorized,
    NodeUnreachable,
)

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 1.0
# connect + DEADLINE_FACTOR * read, plus one read timeout of slack for the last packet
BOUND = TIMEOUT + node_client.DEADLINE_FACTOR * TIMEOUT + TIMEOUT + 0.5
ROUTE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")


@pytest.fixture
def app_config() -> dict:
    return {
        "NODE_CONNECT_TIMEOUT": TIMEOUT,
        "NODE_READ_TIMEOUT": TIMEOUT,
        "NODE_LOG_READ_TIMEOUT": TIMEOUT,
    }


def worker_for(node_or_url, token: str | None = None) -> Worker:
    url = node_or_url if isinstance(node_or_url, str) else node_or_url.url
    return Worker(
        name=f"node-{uuid.uuid4().hex[:6]}",
        base_url=url,
        token_encrypted=crypto.encrypt(token) if token else None,
    )


def create(worker: Worker, action: int = 2) -> str:
    return node_client.create_vm(worker, action, uuid.uuid4())


def assert_fails(error_class, call, *args, bound: float = BOUND) -> NodeError:
    started = time.monotonic()
    with pytest.raises(error_class) as info:
        call(*args)
    elapsed = time.monotonic() - started
    assert elapsed < bound, f"{call.__name__} took {elapsed:.2f}s"
    assert info.value.message and len(info.value.message) < 200
    return info.value


# ----- the happy path ---------------------------------------------------------------


def test_create_log_stop_round_trip(app, sim_node):
    worker = worker_for(sim_node)
    session_id = uuid.uuid4()
    route = node_client.create_vm(worker, 1, session_id)
    assert ROUTE_RE.fullmatch(route)
    assert sim_node.requests[-1]["json"] == {"action": 1, "session": str(session_id)}

    log = node_client.fetch_log(worker, route)
    vm = sim_node.vm(route)
    assert "VM ready" in log
    assert vm["password"] in log
    assert "\x1b" not in log

    node_client.stop_vm(worker, route)
    assert sim_node.vm(route)["stopped"]
    assert sim_node.stats == {"create": 1, "log": 1, "stop": 1, "login": 0, "probe": 0}


def test_no_authorization_header_without_token(app, sim_node):
    create(worker_for(sim_node))
    assert "Authorization" not in sim_node.requests[-1]["headers"]


def test_token_is_sent_as_bearer(app, make_sim_node):
    node = make_sim_node(token="tok")
    worker = worker_for(node, token="tok")
    route = create(worker)
    node_client.fetch_log(worker, route)
    node_client.stop_vm(worker, route)
    node_client.probe(worker)
    node_client.login(worker, "ops@example.com", "pw-123456")
    assert {r["headers"].get("Authorization") for r in node.requests} == {"Bearer tok"}


@pytest.mark.parametrize("token", [None, "Wr0ng-t0k3n"])
def test_refused_token_is_unauthorized_and_never_in_messages(app, make_sim_node, token):
    node = make_sim_node(token="S3cret-t0k3n")
    worker = worker_for(node, token=token)
    errors = [
        assert_fails(NodeUnauthorized, create, worker),
        assert_fails(NodeUnauthorized, node_client.fetch_log, worker, "quack_1"),
        assert_fails(NodeUnauthorized, node_client.stop_vm, worker, "quack_1"),
        assert_fails(NodeUnauthorized, node_client.login, worker, "a@b.co", "pw"),
    ]
    for error in errors:
        assert "t0k3n" not in str(error)
        assert error.kind == "unauthorized"
    node_client.probe(worker)  # a 401 is still an HTTP answer: the node is reachable


def test_undecryptable_token_is_unauthorized(app, sim_node):
    worker = worker_for(sim_node)
    worker.token_encrypted = "not-a-fernet-token"
    assert_fails(NodeUnauthorized, create, worker)
    assert sim_node.stats["create"] == 0


# ----- create ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "error_class"),
    [
        ("500", NodeBadAnswer),
        ("non_json", NodeBadAnswer),
        ("missing_log_url", NodeBadAnswer),
        ("bad_route", NodeBadAnswer),
        ("truncated", NodeBadAnswer),
        ("redirect", NodeBadAnswer),
        ("busy", NodeBusy),
        ("hang", NodeUnreachable),
        ("slow", NodeUnreachable),  # slow_seconds is 3, longer than the read timeout
    ],
)
def test_create_faults(app, make_sim_node, fault, error_class):
    node = make_sim_node(faults={"create": fault})
    assert_fails(error_class, create, worker_for(node))
    assert node.stats["create"] == 1


def test_create_when_full_is_busy_and_stop_frees_the_slot(app, make_sim_node):
    node = make_sim_node(capacity=1)
    worker = worker_for(node)
    route = create(worker)
    error = assert_fails(NodeBusy, create, worker)
    assert error.kind == "busy"
    node_client.stop_vm(worker, route)
    assert create(worker) != route


def test_redirect_is_not_followed(app, make_sim_node):
    elsewhere = make_sim_node()
    node = make_sim_node(faults={"create": "redirect", "log": "redirect", "stop": "redirect"})
    node.configure(redirect_to=f"{elsewhere.url}/vm-loso")
    worker = worker_for(node)
    assert "redirect" in assert_fails(NodeBadAnswer, create, worker).message
    assert_fails(NodeBadAnswer, node_client.fetch_log, worker, "quack_1")
    assert_fails(NodeBadAnswer, node_client.stop_vm, worker, "quack_1")
    assert sum(elsewhere.stats.values()) == 0


def test_absolute_log_url_keeps_only_the_route(app, make_sim_node):
    other = make_sim_node()
    node = make_sim_node(log_url_prefix=f"{other.url}/elsewhere")
    worker = worker_for(node)
    route = create(worker)
    assert node.vm(route) is not None
    assert "VM ready" in node_client.fetch_log(worker, route)
    node_client.stop_vm(worker, route)
    assert sum(other.stats.values()) == 0
    assert node.stats["log"] == 1


@pytest.mark.parametrize(
    ("log_url", "route"),
    [
        ("/log/quack_8f3a1c", "quack_8f3a1c"),
        ("http://198.51.100.9:8080/log/r1", "r1"),
        ("https://x.example/deep/path/v1.2-a_b?x=1#f", "v1.2-a_b"),
        ("r" * 128, "r" * 128),
    ],
)
def test_route_from_log_url_accepts(log_url, route):
    assert node_client.route_from_log_url(log_url) == route


@pytest.mark.parametrize(
    "log_url",
    [
        "/log/..",
        "/log/.",
        "/log/",
        "/log/_starts-with-underscore",
        "/log/has space",
        "/log/%2e%2e",
        "/log/a%2Fb",
        "/log/" + "r" * 129,
        "/log/quack\n",
        "",
        None,
        42,
        ["/log/a"],
        "http://[::1/log/a",
    ],
)
def test_route_from_log_url_rejects(log_url):
    with pytest.raises(NodeBadAnswer):
        node_client.route_from_log_url(log_url)


@pytest.mark.parametrize("route", ["..", ".", "", "a/b", "../etc", "_x", "a b", "é"])
def test_bad_routes_are_rejected_without_calling_the_node(app, sim_node, route):
    worker = worker_for(sim_node)
    assert_fails(NodeBadAnswer, node_client.fetch_log, worker, route)
    assert_fails(NodeBadAnswer, node_client.stop_vm, worker, route)
    assert sum(sim_node.stats.values()) == 0


# ----- log ---------------------------------------------------------------------------


def test_unknown_route_log_is_not_found(app, sim_node):
    error = assert_fails(NodeNotFound, node_client.fetch_log, worker_for(sim_node), "quack_0")
    assert error.kind == "not_found"


def test_log_grows_while_booting(app, make_sim_node):
    node = make_sim_node(boot_seconds=0.6)
    worker = worker_for(node)
    route = create(worker)
    assert "VM ready" not in node_client.fetch_log(worker, route)
    time.sleep(0.7)
    assert "VM ready" in node_client.fetch_log(worker, route)


@pytest.mark.parametrize(
    ("fault", "error_class"),
    [
        ("500", NodeBadAnswer),
        ("truncated", NodeBadAnswer),
        ("hang", NodeUnreachable),
        ("slow", NodeUnreachable),  # trickles for 30 s, each packet within the timeout
    ],
)
def test_log_faults(app, make_sim_node, fault, error_class):
    node = make_sim_node(slow_seconds=30)
    worker = worker_for(node)
    route = create(worker)
    node.set_fault("log", fault)
    assert_fails(error_class, node_client.fetch_log, worker, route)


def test_slow_log_within_the_deadline_is_read(app, make_sim_node):
    node = make_sim_node(slow_seconds=0.8, faults={"log": "slow"})
    worker = worker_for(node)
    assert "VM ready" in node_client.fetch_log(worker, create(worker))


def test_failure_line_comes_through(app, make_sim_node):
    node = make_sim_node(faults={"log": "failure_line"})
    worker = worker_for(node)
    log = node_client.fetch_log(worker, create(worker))
    assert "ERROR: " in log
    assert "VM ready" not in log


def test_ansi_codes_are_stripped_and_other_text_kept(app, make_sim_node):
    node = make_sim_node(extra_log_lines=["\x1b[31;1mred\x1b[0m <script>alert(1)</script>"])
    worker = worker_for(node)
    log = node_client.fetch_log(worker, create(worker))
    assert "red <script>alert(1)</script>" in log
    assert "\x1b" not in log and "[0m" not in log


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("\x1b[1;32mVM ready\x1b[0m", "VM ready"),
        ("\x1b[38;5;196mx\x1b[m", "x"),
        ("\x1b]0;title\x07after", "after"),
        ("\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\", "link"),
        ("a\x1b[2Kb\x1b[1Ac", "abc"),
        ("\x9b31mx", "x"),
        ("lone \x1b escape", "lone  escape"),
        ("plain [12:00:01] text", "plain [12:00:01] text"),
    ],
)
def test_strip_ansi(text, expected):
    assert node_client.strip_ansi(text) == expected


def test_undecodable_bytes_are_replaced(app, make_sim_node):
    node = make_sim_node(extra_log_lines=["café \udcff\udcfe!"])  # raw bytes 0xff 0xfe
    worker = worker_for(node)
    log = node_client.fetch_log(worker, create(worker))
    assert "café \ufffd\ufffd!" in log


# The node runs in its own process here: tracemalloc counts every thread, and werkzeug's
# server thread briefly allocates 10 MB when it drains a closed connection.
_SPAWN_HUGE_NODE = (
    "import sys\n"
    "from vpsshop.simulator import SimulatedNode\n"
    "node = SimulatedNode(boot_seconds=0, huge_log_mb=50).start()\n"
    "print(node.url, flush=True)\n"
    "sys.stdin.read()\n"  # serve until the test closes our stdin
    "node.stop()\n"
)


def _read_url(process: subprocess.Popen, timeout: float) -> str:
    ready, _, _ = select.select([process.stdout], [], [], timeout)
    line = process.stdout.readline().decode() if ready else ""
    assert line.startswith("http://127.0.0.1:"), f"node did not start: {line!r}"
    return line.strip()


def test_huge_log_keeps_the_tail_in_bounded_memory(app):
    limit = 256 * 1024
    app.config.update(NODE_LOG_MAX_BYTES=limit, NODE_LOG_READ_TIMEOUT=10.0)
    process = subprocess.Popen(
        [sys.executable, "-c", _SPAWN_HUGE_NODE],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        url = _read_url(process, timeout=30)
        worker = worker_for(url)
        route = create(worker)
        response = requests.post(f"{url}/_sim/config", json={"faults": {"log": "huge"}}, timeout=5)
        assert response.status_code == 200
        vms = requests.get(f"{url}/_sim/stats", timeout=5).json()["vms"]
        password = vms[0]["password"]
        tracemalloc.start()
        try:
            log = node_client.fetch_log(worker, route)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    finally:
        process.stdin.close()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
        process.stdout.close()
    assert len(log.encode()) <= limit
    assert len(log.encode()) > limit - 1024
    assert log.endswith("VM ready\n")
    assert password in log
    assert log.startswith("[00:00:00] progress")  # the cut line fragment was dropped
    assert peak < 2 * 1024 * 1024, f"peak {peak} bytes for a 50 MiB log"


def test_huge_log_past_the_deadline_is_unreachable(app, make_sim_node):
    # The deadline is the connect timeout plus twice the read timeout; the log (generated
    # on the fly, 1 TiB) cannot arrive within it on any machine, however fast its loopback.
    app.config.update(NODE_CONNECT_TIMEOUT=0.2, NODE_LOG_READ_TIMEOUT=0.2)
    node = make_sim_node(huge_log_mb=1024 * 1024)
    worker = worker_for(node)
    route = create(worker)
    node.set_fault("log", "huge")
    assert_fails(NodeUnreachable, node_client.fetch_log, worker, route, bound=3.0)


# ----- stop --------------------------------------------------------------------------


def test_stop_of_unknown_route_is_success(app, sim_node):
    node_client.stop_vm(worker_for(sim_node), "quack_0")
    assert sim_node.stats["stop"] == 1


@pytest.mark.parametrize(
    ("fault", "error_class"), [("500", NodeBadAnswer), ("hang", NodeUnreachable)]
)
def test_stop_faults(app, make_sim_node, fault, error_class):
    node = make_sim_node()
    worker = worker_for(node)
    route = create(worker)
    node.set_fault("stop", fault)
    assert_fails(error_class, node_client.stop_vm, worker, route)
    assert not node.vm(route)["stopped"]


def test_fail_stops_then_success(app, make_sim_node):
    node = make_sim_node(fail_stops=2)
    worker = worker_for(node)
    route = create(worker)
    assert_fails(NodeBadAnswer, node_client.stop_vm, worker, route)
    assert_fails(NodeBadAnswer, node_client.stop_vm, worker, route)
    node_client.stop_vm(worker, route)
    assert node.vm(route)["stopped"]


# ----- unreachable nodes -------------------------------------------------------------


def test_refused_connection_is_unreachable_everywhere(app, closed_port):
    worker = worker_for(f"http://127.0.0.1:{closed_port}")
    assert_fails(NodeUnreachable, create, worker)
    assert_fails(NodeUnreachable, node_client.fetch_log, worker, "quack_1")
    assert_fails(NodeUnreachable, node_client.stop_vm, worker, "quack_1")
    assert_fails(NodeUnreachable, node_client.probe, worker)
    error = assert_fails(NodeUnreachable, node_client.login, worker, "ops@x.co", "s3cret-PW")
    assert "s3cret-PW" not in str(error) and "ops@x.co" not in str(error)


@pytest.mark.parametrize("base_url", ["ftp://127.0.0.1/", "not a url", "http://"])
def test_unusable_base_url_is_a_node_error(app, base_url):
    assert_fails(NodeError, create, worker_for(base_url))


# ----- probe and login ---------------------------------------------------------------


def test_probe_accepts_any_http_status(app, make_sim_node):
    node = make_sim_node(faults={"probe": "500"})
    node_client.probe(worker_for(node))
    assert node.stats["probe"] == 1


def test_probe_of_a_hanging_node_is_unreachable_within_the_connect_timeout(app, make_sim_node):
    node = make_sim_node(faults={"probe": "hang"})
    assert_fails(NodeUnreachable, node_client.probe, worker_for(node), bound=TIMEOUT * 3 + 0.5)


def test_login_forwards_credentials_and_returns_the_answer(app, sim_node):
    answer = node_client.login(worker_for(sim_node), "ops@example.com", "pw-123456")
    assert isinstance(answer, NodeAnswer)
    assert answer.status == 200
    assert answer.body["ok"] is True
    assert sim_node.requests[-1]["json"] == {"email": "ops@example.com", "password": "pw-123456"}


def test_login_text_and_error_answers(app, make_sim_node):
    node = make_sim_node(faults={"login": "text"})
    worker = worker_for(node)
    answer = node_client.login(worker, "ops@example.com", "pw-123456")
    assert answer.status == 200 and answer.body.startswith("Logged in as ops@example.com")
    node.set_fault("login", "500")
    assert node_client.login(worker, "ops@example.com", "pw-123456").status == 500
    node.set_fault("login", None)
    assert node_client.login(worker, "", "").status == 400
    node.set_fault("login", "hang")
    assert_fails(NodeUnreachable, node_client.login, worker, "ops@example.com", "pw")
