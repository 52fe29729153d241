"""The simulated worker node itself: contract, timing, capacity, faults, stats and CLI."""

from __future__ import annotations

import http.client
import os
import re
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from vpsshop.simulator import FAULTS, SimulatedNode

ROOT = Path(__file__).resolve().parents[2]
TIMESTAMP_RE = re.compile(r"^\[\d\d:\d\d:\d\d\] ")
# Keys of worker-api.md's connection-details table, lower-cased.
CONTRACT_KEYS = {
    "rdp host", "rdp", "host", "ip", "ip address", "public ip", "address", "server",
    "rdp port", "port",
    "username", "user", "login", "rdp user", "rdp username",
    "password", "pass", "rdp password",
}  # fmt: skip
DETAIL_RE = re.compile(r"^\[\d\d:\d\d:\d\d\] (?:[-*>] )?([A-Za-z ]+?)\s*[:=]\s*(\S+)$")


def create(node: SimulatedNode, action: int = 2, **kwargs) -> requests.Response:
    return requests.post(
        f"{node.url}/vm-loso", json={"action": action, "session": "s-1"}, **{"timeout": 5, **kwargs}
    )


def route_of(response: requests.Response) -> str:
    return response.json()["logUrl"].rsplit("/", 1)[-1]


def get_log(node: SimulatedNode, route: str, **kwargs) -> requests.Response:
    return requests.get(f"{node.url}/log/{route}", **{"timeout": 5, **kwargs})


def stop(node: SimulatedNode, route: str, **kwargs) -> requests.Response:
    return requests.post(f"{node.url}/stop/{route}", **{"timeout": 5, **kwargs})


def strip(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


def test_listens_on_loopback_ephemeral_port(sim_node):
    parts = urlsplit(sim_node.url)
    assert parts.hostname == "127.0.0.1" and parts.port and parts.port > 0
    assert requests.get(sim_node.url + "/", timeout=5).status_code == 200
    assert sim_node.stats["probe"] == 1


def test_log_grows_over_boot_seconds_then_shows_details(make_sim_node):
    node = make_sim_node(boot_seconds=0.8)
    response = create(node, action=2)
    assert response.status_code == 200
    route = route_of(response)
    assert re.fullmatch(r"[a-z]+_[0-9a-f]{6}", route)
    assert response.json()["logUrl"] == f"/log/{route}"

    early = get_log(node, route)
    assert early.status_code == 200
    assert early.headers["Content-Type"].startswith("text/plain")
    assert "Starting VM (action=2)" in early.text
    assert "VM ready" not in early.text

    time.sleep(0.9)
    text = get_log(node, route).text
    lines = text.splitlines()
    assert len(lines) >= 6
    assert all(TIMESTAMP_RE.match(line) for line in lines)
    assert "\x1b[" in text  # colour codes, as real nodes send
    assert strip(lines[-1]).endswith("VM ready")
    vm = node.vm(route)
    for value in (vm["host"], vm["username"], vm["password"]):
        assert value in text
    assert node.vm(route)["outcome"] == "ready"


HOST_KEYS = {"rdp host", "rdp", "host", "ip", "ip address", "public ip", "address", "server"}
USER_KEYS = {"username", "user", "login", "rdp user", "rdp username"}
PASSWORD_KEYS = {"password", "pass", "rdp password"}


@pytest.mark.parametrize("action", [1, 2, 3])
def test_details_use_only_contract_keys(make_sim_node, action):
    node = make_sim_node(capacity=20)
    for _ in range(12):  # several VMs, so that every spelling variant turns up
        route = route_of(create(node, action=action))
        vm = node.vm(route)
        values: dict[str, str] = {}
        for line in strip(get_log(node, route).text).splitlines():
            match = DETAIL_RE.match(line)
            if match:
                key = match.group(1).lower()
                assert key in CONTRACT_KEYS, line
                values[key] = match.group(2)
        host, _, port_in_host = next(v for k, v in values.items() if k in HOST_KEYS).partition(":")
        default_port = "22" if action == 1 else "3389"
        port = values.get("rdp port") or values.get("port") or port_in_host or default_port
        assert (host, int(port)) == (vm["host"], vm["port"])
        assert next(v for k, v in values.items() if k in USER_KEYS) == vm["username"]
        assert next(v for k, v in values.items() if k in PASSWORD_KEYS) == vm["password"]


def test_failure_line_ends_the_log(make_sim_node):
    node = make_sim_node(faults={"log": "failure_line"})
    text = strip(get_log(node, route_of(create(node))).text)
    assert text.splitlines()[-1].split("] ", 1)[1].startswith("ERROR: ")
    assert "VM ready" not in text


def test_capacity_busy_and_stop_frees_a_slot(make_sim_node):
    node = make_sim_node(capacity=2)
    first, second = route_of(create(node)), route_of(create(node))
    assert create(node).status_code == 409
    assert sorted(node.active_vms) == sorted([first, second])

    assert stop(node, first).status_code == 200
    assert get_log(node, first).status_code == 404
    assert stop(node, first).status_code == 404  # already stopped
    assert create(node).status_code == 200
    assert stop(node, "quack_000000").status_code == 404
    assert get_log(node, "quack_000000").status_code == 404


def test_create_validates_its_body(sim_node):
    url = f"{sim_node.url}/vm-loso"
    assert requests.post(url, json={"action": 4}, timeout=5).status_code == 400
    assert requests.post(url, json={"action": True}, timeout=5).status_code == 400
    assert requests.post(url, data="nope", timeout=5).status_code == 400
    assert requests.post(url, json={"action": 3}, timeout=5).status_code == 200


def test_token_required_when_set(make_sim_node):
    node = make_sim_node(token="node-secret")
    good = {"Authorization": "Bearer node-secret"}
    assert create(node).status_code == 401
    assert create(node, headers={"Authorization": "Bearer other"}).status_code == 401
    route = route_of(create(node, headers=good))
    assert get_log(node, route).status_code == 401
    assert get_log(node, route, headers=good).status_code == 200
    assert stop(node, route).status_code == 401
    assert requests.get(f"{node.url}/_sim/stats", timeout=5).status_code == 401
    assert requests.get(node.url + "/", timeout=5).status_code == 200  # probe needs none
    assert stop(node, route, headers=good).status_code == 200


def test_faults_switch_at_runtime_on_the_object(sim_node):
    sim_node.set_fault("create", "500")
    assert create(sim_node).status_code == 500
    sim_node.configure(faults={"create": "busy"})
    assert create(sim_node).status_code == 503
    sim_node.configure(faults={"create": "non_json"})
    response = create(sim_node)
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/html")
    sim_node.set_fault("create", "missing_log_url")
    assert "logUrl" not in create(sim_node).json()
    sim_node.set_fault("create", "bad_route")
    assert create(sim_node).json()["logUrl"] == "/log/.."
    sim_node.set_fault("create", "redirect")
    response = create(sim_node, allow_redirects=False)
    assert response.status_code == 302 and response.headers["Location"]
    sim_node.clear_faults()
    assert create(sim_node).status_code == 200


def test_faults_switch_at_runtime_over_http(sim_node):
    url = f"{sim_node.url}/_sim/config"
    response = requests.post(url, json={"faults": {"create": "500"}, "capacity": 5}, timeout=5)
    assert response.status_code == 200
    assert response.json()["config"]["faults"] == {"create": "500"}
    assert create(sim_node).status_code == 500
    requests.post(url, json={"faults": {"create": None}}, timeout=5)
    assert create(sim_node).status_code == 200
    assert requests.post(url, json={"faults": {"create": "nope"}}, timeout=5).status_code == 400
    assert requests.post(url, json={"bogus": 1}, timeout=5).status_code == 400
    assert requests.post(url, json={"capacity": -1}, timeout=5).status_code == 400
    assert sim_node.capacity == 5


def test_invalid_options_are_refused():
    with pytest.raises(ValueError):
        SimulatedNode(faults={"create": "huge"})
    with pytest.raises(ValueError):
        SimulatedNode(faults={"nowhere": "500"})
    with pytest.raises(ValueError):
        SimulatedNode(boot_seconds=-1)
    assert "hang" in FAULTS["create"] and "huge" in FAULTS["log"]


def test_stats_and_recorded_requests(make_sim_node):
    node = make_sim_node(token="node-secret")
    auth = {"Authorization": "Bearer node-secret"}
    route = route_of(create(node, headers=auth))
    get_log(node, route, headers=auth)
    stop(node, route, headers=auth)
    requests.post(
        f"{node.url}/yud-ranyisi", json={"email": "a@b.co", "password": "pw"}, headers=auth
    )
    requests.get(node.url + "/", timeout=5)
    expected = {"create": 1, "log": 1, "stop": 1, "login": 1, "probe": 1}
    assert node.stats == expected
    stop_calls = [r for r in node.requests if r["endpoint"] == "stop"]
    assert stop_calls[0]["route"] == route
    assert stop_calls[0]["headers"]["Authorization"] == "Bearer node-secret"

    document = requests.get(f"{node.url}/_sim/stats", headers=auth, timeout=5).json()
    assert document["stats"] == expected
    assert document["active_vms"] == 0
    assert [vm["route"] for vm in document["vms"]] == [route]
    assert "node-secret" not in str(document["requests"])
    login_call = next(r for r in document["requests"] if r["endpoint"] == "login")
    assert login_call["json"]["password"] == "<redacted>"
    node.reset_stats()
    assert node.stats == dict.fromkeys(expected, 0) and node.requests == []


def test_fail_stops_then_succeeds(make_sim_node):
    node = make_sim_node(fail_stops=2)
    route = route_of(create(node))
    assert [stop(node, route).status_code for _ in range(3)] == [500, 500, 200]


def test_login_answers(make_sim_node):
    node = make_sim_node()
    url = f"{node.url}/yud-ranyisi"
    ok = requests.post(url, json={"email": "ops@x.co", "password": "pw"}, timeout=5)
    assert ok.status_code == 200 and ok.json()["ok"] is True
    assert "pw" not in ok.text.replace("ops@x.co", "")
    assert requests.post(url, json={"email": "ops@x.co"}, timeout=5).status_code == 400
    node.set_fault("login", "text")
    text = requests.post(url, json={"email": "ops@x.co", "password": "pw"}, timeout=5)
    assert text.headers["Content-Type"].startswith("text/plain")


def test_extra_log_lines_and_absolute_log_url(make_sim_node):
    node = make_sim_node(
        extra_log_lines=["<script>alert(1)</script>"], log_url_prefix="http://198.51.100.7"
    )
    response = create(node)
    assert response.json()["logUrl"].startswith("http://198.51.100.7/log/")
    assert "<script>alert(1)</script>" in get_log(node, route_of(response)).text


def test_huge_log_is_streamed_with_the_real_log_at_the_end(make_sim_node):
    node = make_sim_node(huge_log_mb=3, faults={"log": "huge"})
    route = route_of(create(node))
    with get_log(node, route, stream=True) as response:
        assert int(response.headers["Content-Length"]) > 3 * 1024 * 1024
        size, tail = 0, b""
        for chunk in response.iter_content(65536):
            size += len(chunk)
            tail = (tail + chunk)[-4096:]
    assert size == int(response.headers["Content-Length"])
    assert strip(tail.decode()).rstrip().endswith("VM ready")


def test_slow_log_trickles(make_sim_node):
    node = make_sim_node(slow_seconds=0.6, faults={"log": "slow"})
    route = route_of(create(node))
    started = time.monotonic()
    with get_log(node, route, stream=True) as response:
        pieces = list(iter(lambda: response.raw.read1(65536), b""))
    assert time.monotonic() - started >= 0.5
    assert len(pieces) > 3
    assert "VM ready" in b"".join(pieces).decode()


@pytest.mark.parametrize(("endpoint", "path"), [("create", "/vm-loso"), ("log", "/log/{route}")])
def test_truncated_answers_break_off(make_sim_node, endpoint, path):
    node = make_sim_node()
    route = route_of(create(node))
    node.set_fault(endpoint, "truncated")
    connection = http.client.HTTPConnection("127.0.0.1", node.port, timeout=5)
    try:
        method = "POST" if endpoint == "create" else "GET"
        connection.request(method, path.format(route=route), body=b'{"action": 2}')
        response = connection.getresponse()
        assert response.status == 200
        with pytest.raises(http.client.IncompleteRead):
            response.read()
    finally:
        connection.close()


def test_hanging_call_is_released_by_stop():
    node = SimulatedNode(faults={"create": "hang"}).start()
    outcome: dict[str, object] = {}

    def call() -> None:
        try:
            outcome["status"] = create(node, timeout=30).status_code
        except requests.RequestException as error:
            outcome["error"] = error

    thread = threading.Thread(target=call, daemon=True)
    thread.start()
    deadline = time.monotonic() + 5
    while node.stats["create"] == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.3)
    assert thread.is_alive()  # it really hangs
    started = time.monotonic()
    node.stop()
    assert time.monotonic() - started < 3
    thread.join(timeout=5)
    assert not thread.is_alive()
    with pytest.raises(requests.ConnectionError):
        requests.get(node.url + "/", timeout=2)


def _read_line(stream, deadline: float) -> str:
    line = b""
    while time.monotonic() < deadline and not line.endswith(b"\n"):
        ready, _, _ = select.select([stream], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            break
        byte = os.read(stream.fileno(), 1)
        if not byte:
            break
        line += byte
    return line.decode()


# The Flask CLI command, and the same command without the shop's app (the bench's nodes).
ENTRY_POINTS = {
    "flask": ["-m", "flask", "--app", "wsgi", "simulate-worker"],
    "module": ["-m", "vpsshop.simulator"],
}


@pytest.mark.parametrize("entry", sorted(ENTRY_POINTS))
def test_cli_starts_serves_and_exits_on_sigterm(tmp_path, entry):
    env = {
        **os.environ,
        "VPSSHOP_ENV": "development",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'cli.sqlite3'}",
        "PYTHONUNBUFFERED": "1",
    }
    command = [sys.executable, *ENTRY_POINTS[entry]]
    process = subprocess.Popen(
        [*command, "--port", "0", "--boot-seconds", "0", "--capacity", "1"]
        + ["--fault", "stop=500", "--record-requests", "2"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 20
        url = None
        while url is None and time.monotonic() < deadline and process.poll() is None:
            match = re.search(r"http://127\.0\.0\.1:\d+", _read_line(process.stdout, deadline))
            url = match.group(0) if match else None
        assert url, process.stderr.read().decode() if process.poll() is not None else "no URL"

        assert requests.get(url + "/", timeout=5).status_code == 200
        route = requests.post(f"{url}/vm-loso", json={"action": 1}, timeout=5).json()["logUrl"]
        assert requests.post(f"{url}/vm-loso", json={"action": 1}, timeout=5).status_code == 409
        assert requests.post(f"{url}/stop/{route.rsplit('/', 1)[-1]}", timeout=5).status_code == 500
        stats = requests.get(f"{url}/_sim/stats", timeout=5).json()
        assert stats["stats"]["create"] == 2 and stats["config"]["faults"] == {"stop": "500"}
        # Three node calls were made; --record-requests 2 keeps the latest two.
        assert [r["endpoint"] for r in stats["requests"]] == ["create", "stop"]

        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=5)
        process.stdout.close()
        process.stderr.close()


def test_cli_refuses_unknown_faults():
    env = {**os.environ, "VPSSHOP_ENV": "development"}
    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "simulate-worker", "--port", "0",
         "--fault", "create=explode"],
        cwd=ROOT, env=env, capture_output=True, timeout=30,
    )  # fmt: skip
    assert result.returncode == 2
    assert b"create=explode" in result.stderr
