"""A real HTTP worker node implementing shared/worker-api.md, with switchable faults."""

from __future__ import annotations

import hmac
import json
import secrets
import socket
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

ENDPOINTS = ("create", "log", "stop", "login", "probe")
# Fault modes each endpoint understands; see SimulatedNode for what each one does.
FAULTS: dict[str, frozenset[str]] = {
    "create": frozenset(
        {
            "500",
            "non_json",
            "missing_log_url",
            "bad_route",
            "hang",
            "busy",
            "truncated",
            "slow",
            "redirect",
        }
    ),
    "log": frozenset({"500", "slow", "hang", "huge", "truncated", "failure_line", "redirect"}),
    "stop": frozenset({"500", "hang", "slow", "redirect"}),
    "login": frozenset({"500", "hang", "slow", "text"}),
    "probe": frozenset({"500", "hang"}),
}
# Every endpoint can also trickle its answer one byte per ``dribble_seconds``, forever (until
# the node stops, the client hangs up or ``hang_max_seconds``): in the status line and
# headers, or in a body promised far longer than it will ever be.
DRIBBLES = frozenset({"dribble_headers", "dribble_body"})
FAULTS = {endpoint: modes | DRIBBLES for endpoint, modes in FAULTS.items()}
_NO_FAULT = {None, "", "none", "off"}
_ROUTE_WORDS = ("quack", "honk", "moo", "purr", "hoot", "oink", "baa", "ribbit")
_PASSWORD_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789!#%+-"
_MAX_BODY = 1024 * 1024
_MIB = 1024 * 1024
# 64-byte filler line, repeated to build the "huge" log one 64 KiB block at a time.
_FILLER_LINE = b"[00:00:00] progress: copying image blocks ".ljust(63, b".") + b"\n"
_FILLER_BLOCK = _FILLER_LINE * 1024


@dataclass
class _VM:
    route: str
    action: int
    session: str | None
    created_at: float  # wall clock, for the log's timestamps
    created_mono: float  # monotonic, for boot progress
    boot_seconds: float
    host: str
    port: int
    username: str
    password: str
    detail_lines: list[str]
    outcome: str | None = None  # "ready" or "failed" once booted
    stopped: bool = False

    def snapshot(self) -> dict[str, Any]:
        return {
            "route": self.route,
            "action": self.action,
            "session": self.session,
            "host": self.host,
            "port": self.port,
            "username": self.username,
            "password": self.password,
            "outcome": self.outcome,
            "stopped": self.stopped,
        }


def _password() -> str:
    return "".join(secrets.choice(_PASSWORD_ALPHABET) for _ in range(14))


def _details(action: int) -> tuple[str, int, str, str, list[str]]:
    """Connection details and the log lines announcing them, in one of a few spellings."""
    host = f"203.0.113.{secrets.randbelow(250) + 2}"  # TEST-NET-3: never a real machine
    password = _password()
    variant = secrets.randbelow(3)
    if action == 1:  # Linux
        if variant == 0:
            return (
                host,
                22,
                "root",
                password,
                [f"Host: {host}:22", "User: root", f"Password: {password}"],
            )
        if variant == 1:
            return (
                host,
                40022,
                "ubuntu",
                password,
                [f"IP: {host}", "Port: 40022", "Username: ubuntu", f"Pass: {password}"],
            )
        return (
            host,
            22,
            "root",
            password,
            [f"* Server: {host}", "Login = root", f"Password = {password}"],
        )
    if action == 2:  # Windows
        if variant == 0:
            return (
                host,
                3389,
                "Administrator",
                password,
                [
                    f"RDP Host: {host}",
                    "RDP Port: 3389",
                    "Username: Administrator",
                    f"Password: {password}",
                ],
            )
        return (
            host,
            3389,
            "Administrator",
            password,
            [f"RDP: {host}:3389", "RDP User = Administrator", f"RDP Password = {password}"],
        )
    # Test
    if variant == 0:
        return (
            host,
            3389,
            "tester",
            password,
            [f"- Public IP: {host}", "- Port: 3389", "- Login: tester", f"- Pass: {password}"],
        )
    return (
        host,
        3389,
        "tester",
        password,
        [f"IP Address = {host}", "User = tester", f"Password = {password}"],
    )


class _Handler(WSGIRequestHandler):
    """Werkzeug's handler, silent unless the node was started with ``quiet=False``."""

    def log(self, type: str, message: str, *args: Any) -> None:
        if not getattr(self.server, "sim_quiet", True):
            super().log(type, message, *args)


class _Request(Request):
    max_content_length = _MAX_BODY


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(data), status=status, mimetype="application/json", headers=headers)


class SimulatedNode:
    """A worker node on a real socket; every option can be changed while it runs.

    Options (constructor keywords, ``configure(...)`` or ``POST /_sim/config``):

    - ``boot_seconds``: time from create until the log shows the connection details.
    - ``capacity``: VMs at once; create answers 409 when full, stop frees a slot.
    - ``token``: when set, every call (and ``/_sim/*``) needs ``Authorization: Bearer``
      with it, else 401. ``GET /`` answers without it.
    - ``faults``: ``{endpoint: mode}``; endpoints and modes are in ``FAULTS``:
      ``500``; ``hang`` (never answers until the node stops or ``hang_max_seconds``);
      ``slow`` (waits ``slow_seconds``; for the log, trickles it over ``slow_seconds``);
      ``redirect`` (302 to ``redirect_to``); create: ``non_json``, ``missing_log_url``,
      ``bad_route`` (``/log/..``), ``busy`` (503), ``truncated`` (Content-Length larger
      than the body, then the connection closes); log: ``huge`` (``huge_log_mb`` MiB of
      filler generated on the fly, then the real log), ``truncated``, ``failure_line``
      (the log ends with ``ERROR: ...``); login: ``text`` (a text/plain answer); every
      endpoint: ``dribble_headers`` / ``dribble_body`` (one byte per ``dribble_seconds``
      in the headers or in an endless body, on the raw socket).
    - ``fail_stops``: the next N stop calls answer 500, then stops succeed again.
    - ``extra_log_lines``: lines injected into every log (before the details); a lone
      surrogate ``"\\udcff"`` is sent as the raw byte 0xff (invalid UTF-8).
    - ``log_url_prefix``: put before ``/log/<route>`` in create answers (an absolute URL
      naming another host, to check that clients ignore it).

    ``stats`` counts calls per endpoint (create, log, stop, login, probe); ``requests``
    lists received calls as dicts with endpoint, method, path, route, headers and json.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        boot_seconds: float = 3.0,
        capacity: int = 3,
        token: str | None = None,
        faults: dict[str, str | None] | None = None,
        fail_stops: int = 0,
        extra_log_lines: Iterable[str] = (),
        slow_seconds: float = 3.0,
        huge_log_mb: int = 100,
        hang_max_seconds: float = 60.0,
        dribble_seconds: float = 0.2,
        log_url_prefix: str = "",
        redirect_to: str | None = None,
        quiet: bool = True,
        max_recorded_requests: int = 1000,
    ):
        self.host = host
        self.port = port
        self.quiet = quiet
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._vms: dict[str, _VM] = {}
        self._stats = dict.fromkeys(ENDPOINTS, 0)
        self._requests: deque[dict[str, Any]] = deque(maxlen=max_recorded_requests)
        self._cloud_tokens = 0
        self.boot_seconds = 0.0
        self.capacity = 0
        self.token: str | None = None
        self.faults: dict[str, str] = {}
        self.fail_stops = 0
        self.extra_log_lines: list[str] = []
        self.slow_seconds = 0.0
        self.huge_log_mb = 0
        self.hang_max_seconds = 0.0
        self.dribble_seconds = 0.0
        self.log_url_prefix = ""
        self.redirect_to: str | None = None
        self.configure(
            boot_seconds=boot_seconds,
            capacity=capacity,
            token=token,
            faults=faults or {},
            fail_stops=fail_stops,
            extra_log_lines=list(extra_log_lines),
            slow_seconds=slow_seconds,
            huge_log_mb=huge_log_mb,
            hang_max_seconds=hang_max_seconds,
            dribble_seconds=dribble_seconds,
            log_url_prefix=log_url_prefix,
            redirect_to=redirect_to,
        )

    # ----- control -------------------------------------------------------------------

    def configure(self, **options: Any) -> dict[str, Any]:
        """Change options at runtime (validated); ``faults`` is merged, None clears one."""
        with self._lock:
            for name, value in options.items():
                if name == "faults":
                    if not isinstance(value, dict):
                        raise ValueError("faults must be a mapping of endpoint to mode")
                    for endpoint, mode in value.items():
                        self._set_fault_locked(endpoint, mode)
                elif name in (
                    "boot_seconds",
                    "slow_seconds",
                    "hang_max_seconds",
                    "dribble_seconds",
                ):
                    setattr(self, name, _number(name, value))
                elif name in ("capacity", "fail_stops", "huge_log_mb"):
                    setattr(self, name, int(_number(name, value)))
                elif name == "token":
                    if value is not None and not isinstance(value, str):
                        raise ValueError("token must be a string or null")
                    self.token = value or None
                elif name == "extra_log_lines":
                    if not isinstance(value, list | tuple) or not all(
                        isinstance(line, str) for line in value
                    ):
                        raise ValueError("extra_log_lines must be a list of strings")
                    for line in value:
                        line.encode("utf-8", errors="surrogateescape")  # ValueError if not
                    self.extra_log_lines = list(value)
                elif name in ("log_url_prefix", "redirect_to"):
                    if value is not None and not isinstance(value, str):
                        raise ValueError(f"{name} must be a string")
                    setattr(self, name, value or ("" if name == "log_url_prefix" else None))
                else:
                    raise ValueError(f"unknown option {name!r}")
            return self._config_locked()

    def set_fault(self, endpoint: str, mode: str | None) -> None:
        """Set (or with None clear) the fault mode of one endpoint."""
        with self._lock:
            self._set_fault_locked(endpoint, mode)

    def clear_faults(self) -> None:
        """Back to a well-behaved node (fail_stops too)."""
        with self._lock:
            self.faults = {}
            self.fail_stops = 0

    def _set_fault_locked(self, endpoint: str, mode: str | None) -> None:
        if endpoint not in FAULTS:
            raise ValueError(f"unknown endpoint {endpoint!r}; one of {', '.join(FAULTS)}")
        faults = dict(self.faults)  # handlers read self.faults without the lock: swap whole
        if mode in _NO_FAULT:
            faults.pop(endpoint, None)
        elif mode in FAULTS[endpoint]:
            faults[endpoint] = mode
        else:
            modes = ", ".join(sorted(FAULTS[endpoint]))
            raise ValueError(f"unknown fault {mode!r} for {endpoint}; one of {modes}")
        self.faults = faults

    def _config_locked(self) -> dict[str, Any]:
        return {
            "boot_seconds": self.boot_seconds,
            "capacity": self.capacity,
            "token_required": self.token is not None,
            "faults": dict(self.faults),
            "fail_stops": self.fail_stops,
            "extra_log_lines": list(self.extra_log_lines),
            "slow_seconds": self.slow_seconds,
            "huge_log_mb": self.huge_log_mb,
            "hang_max_seconds": self.hang_max_seconds,
            "dribble_seconds": self.dribble_seconds,
            "log_url_prefix": self.log_url_prefix,
            "redirect_to": self.redirect_to,
        }

    @property
    def stats(self) -> dict[str, int]:
        """Calls received per endpoint (create, log, stop, login, probe), a copy."""
        with self._lock:
            return dict(self._stats)

    @property
    def requests(self) -> list[dict[str, Any]]:
        """Received calls, oldest first (endpoint, method, path, route, headers, json)."""
        with self._lock:
            return list(self._requests)

    def reset_stats(self) -> None:
        with self._lock:
            self._stats = dict.fromkeys(ENDPOINTS, 0)
            self._requests.clear()

    def forget_vms(self) -> None:
        """What a node restart does to its VMs: it no longer knows any (404 for each)."""
        with self._lock:
            self._vms.clear()

    def vm(self, route: str) -> dict[str, Any] | None:
        """What the node knows of a VM (its connection details included), or None."""
        with self._lock:
            vm = self._vms.get(route)
            return vm.snapshot() if vm else None

    @property
    def active_vms(self) -> list[str]:
        """Routes of the VMs that hold a slot (created and not stopped)."""
        with self._lock:
            return [vm.route for vm in self._vms.values() if not vm.stopped]

    # ----- server --------------------------------------------------------------------

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:40123`` (the real port once started)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> SimulatedNode:
        """Bind and serve in a daemon thread; returns self."""
        if self._server is not None:
            raise RuntimeError("the node is already running")
        self._stopping.clear()
        server = make_server(
            self.host, self.port, self.wsgi_app, threaded=True, request_handler=_Handler
        )
        server.sim_quiet = self.quiet  # type: ignore[attr-defined]
        self.port = server.server_port
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=f"simulated-node-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Shut down; hanging or trickling handlers are released at once."""
        self._stopping.set()
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> SimulatedNode:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # ----- HTTP ----------------------------------------------------------------------

    def wsgi_app(self, environ: dict, start_response: Any) -> Iterable[bytes]:
        """The node as a WSGI application."""
        request = _Request(environ)
        try:
            response = self._dispatch(request)
        except ValueError as error:
            response = _json({"error": str(error)}, 400)
        return response(environ, start_response)

    def _dispatch(self, request: Request) -> Response:
        method, path = request.method, request.path
        if path == "/" and method in ("GET", "HEAD"):
            return self._handle("probe", request, None, self._probe)
        if path == "/vm-loso" and method == "POST":
            return self._handle("create", request, None, self._create)
        if path.startswith("/log/") and method == "GET":
            route = path[len("/log/") :]
            return self._handle("log", request, route, self._log)
        if path.startswith("/stop/") and method == "POST":
            route = path[len("/stop/") :]
            return self._handle("stop", request, route, self._stop)
        if path == "/yud-ranyisi" and method == "POST":
            return self._handle("login", request, None, self._login)
        if path in ("/_sim/stats", "/_sim/config"):
            if not self._authorized(request):
                return _json({"error": "unauthorized"}, 401)
            if path == "/_sim/stats" and method == "GET":
                return _json(self._stats_document())
            if path == "/_sim/config" and method == "POST":
                body = _body_json(request)
                if not isinstance(body, dict):
                    return _json({"error": "a JSON object is required"}, 400)
                return _json({"config": self.configure(**body)})
        return _json({"error": "not found"}, 404)

    def _stats_document(self) -> dict[str, Any]:
        with self._lock:
            requests = [_redacted(record) for record in self._requests]
            return {
                "stats": dict(self._stats),
                "requests": requests,
                "vms": [vm.snapshot() for vm in self._vms.values()],
                "active_vms": sum(1 for vm in self._vms.values() if not vm.stopped),
                "config": self._config_locked(),
            }

    def _authorized(self, request: Request) -> bool:
        token = self.token
        if token is None:
            return True
        header = request.headers.get("Authorization", "")
        return hmac.compare_digest(header.encode(), f"Bearer {token}".encode())

    def _handle(self, endpoint: str, request: Request, route: str | None, handler) -> Response:
        record = {
            "endpoint": endpoint,
            "method": request.method,
            "path": request.path,
            "route": route,
            "headers": dict(request.headers),
            "json": _body_json(request),
            "time": time.time(),
        }
        with self._lock:
            self._stats[endpoint] += 1
            self._requests.append(record)
        if endpoint != "probe" and not self._authorized(request):
            return _json({"error": "unauthorized"}, 401)
        fault = self.faults.get(endpoint)
        if fault == "500":
            return _json({"error": "internal error"}, 500)
        if fault == "hang":
            # Accept and say nothing; stop() releases the handler.
            self._stopping.wait(self.hang_max_seconds)
            return _json({"error": "gave up"}, 503)
        if fault in DRIBBLES:
            return self._dribble(request, fault)
        if fault == "redirect":
            target = self.redirect_to or f"{self.url}/moved"
            return Response("", status=302, headers={"Location": target})
        if fault == "slow" and endpoint != "log":
            if self._stopping.wait(self.slow_seconds):
                return _json({"error": "shutting down"}, 503)
        return handler(request, route, fault)

    def _dribble(self, request: Request, fault: str) -> Response:
        """Write the answer on the raw socket one byte at a time, never finishing it."""
        sock = request.environ["werkzeug.socket"]
        if fault == "dribble_headers":
            head, drip = b"HTTP/1.1 200 OK\r\nX-Drip: ", b"a"
        else:
            head = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
            head += b"Content-Length: 100000000\r\n\r\n"
            drip = b" "
        deadline = time.monotonic() + self.hang_max_seconds
        try:
            sock.sendall(head)
            while time.monotonic() < deadline and not self._stopping.wait(self.dribble_seconds):
                sock.sendall(drip)
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:  # the client hung up: what it was meant to do
            pass
        # Werkzeug's own answer after this meets a shut socket and is dropped.
        return Response("", status=204)

    def _probe(self, request: Request, route: str | None, fault: str | None) -> Response:
        with self._lock:
            active = sum(1 for vm in self._vms.values() if not vm.stopped)
        return _json({"status": "ok", "active": active, "capacity": self.capacity})

    def _create(self, request: Request, route: str | None, fault: str | None) -> Response:
        if fault == "busy":
            return _json({"error": "busy"}, 503, headers={"Retry-After": "5"})
        if fault == "non_json":
            return Response("<html><body>Accepted!</body></html>", mimetype="text/html")
        if fault == "missing_log_url":
            return _json({"status": "accepted"})
        if fault == "bad_route":
            return _json({"logUrl": "/log/.."})
        body = _body_json(request)
        if not isinstance(body, dict):
            return _json({"error": "a JSON object is required"}, 400)
        action = body.get("action")
        if isinstance(action, bool) or action not in (1, 2, 3):
            return _json({"error": "action must be 1, 2 or 3"}, 400)
        session = body.get("session")
        session = session if isinstance(session, str) else None
        with self._lock:
            if sum(1 for vm in self._vms.values() if not vm.stopped) >= self.capacity:
                return _json({"error": "no free slot"}, 409)
            new_route = self._new_route_locked()
            host, port, username, password, lines = _details(action)
            self._vms[new_route] = _VM(
                route=new_route,
                action=action,
                session=session,
                created_at=time.time(),
                created_mono=time.monotonic(),
                boot_seconds=self.boot_seconds,
                host=host,
                port=port,
                username=username,
                password=password,
                detail_lines=lines,
            )
        answer = json.dumps({"logUrl": f"{self.log_url_prefix}/log/{new_route}"})
        if fault == "truncated":
            # Promise more than is sent; werkzeug closes the connection after it.
            half = answer[: len(answer) // 2].encode()
            return Response(
                iter([half]),
                mimetype="application/json",
                headers={"Content-Length": str(len(answer) + 100)},
            )
        return Response(answer, status=200, mimetype="application/json")

    def _new_route_locked(self) -> str:
        for _ in range(100):
            route = f"{secrets.choice(_ROUTE_WORDS)}_{secrets.token_hex(3)}"
            if route not in self._vms:
                return route
        raise RuntimeError("no free route name")  # 100 collisions of 24 random bits

    def _log_text(self, vm: _VM, fault: str | None) -> str:
        elapsed = time.monotonic() - vm.created_mono
        boot = vm.boot_seconds
        with self._lock:
            if elapsed >= boot and vm.outcome is None:
                vm.outcome = "failed" if fault == "failure_line" else "ready"
            outcome = vm.outcome
        os_name = {1: "Linux", 2: "Windows", 3: "Test image"}[vm.action]
        script: list[tuple[float, str]] = [
            (0.0, f"Starting VM (action={vm.action})"),
            (0.05, "\x1b[33mAllocating GPU instance...\x1b[0m"),
            (0.2, "Cloning base image"),
        ]
        script += [(0.3, line) for line in self.extra_log_lines]
        script += [(0.5, f"{os_name} is booting"), (0.8, "\x1b[36mConfiguring network\x1b[0m")]
        if outcome == "failed":
            script.append((1.0, "\x1b[31mERROR: no capacity left in the cloud region\x1b[0m"))
        elif outcome == "ready":
            script += [(1.0, line) for line in vm.detail_lines]
            script.append((1.0, "\x1b[1;32mVM ready\x1b[0m"))
        lines = []
        for fraction, text in script:
            offset = fraction * boot
            if offset <= elapsed or fraction == 0.0 or (fraction == 1.0 and outcome):
                stamp = time.strftime("%H:%M:%S", time.gmtime(vm.created_at + offset))
                lines.append(f"[{stamp}] {text}\n")
        return "".join(lines)

    def _log(self, request: Request, route: str | None, fault: str | None) -> Response:
        with self._lock:
            vm = self._vms.get(route or "")
            if vm is None or vm.stopped:
                return Response("unknown route\n", status=404, mimetype="text/plain")
        # surrogateescape lets extra_log_lines carry raw (even invalid UTF-8) bytes.
        body = self._log_text(vm, fault).encode("utf-8", errors="surrogateescape")
        mimetype = "text/plain"
        if fault == "huge":
            filler = self.huge_log_mb * _MIB
            return Response(
                self._huge_body(filler, body),
                mimetype=mimetype,
                headers={"Content-Length": str(filler + len(body))},
            )
        if fault == "slow":
            return Response(
                self._trickle(body, self.slow_seconds),
                mimetype=mimetype,
                headers={"Content-Length": str(len(body))},
            )
        if fault == "truncated":
            return Response(
                iter([body[: len(body) // 2]]),
                mimetype=mimetype,
                headers={"Content-Length": str(len(body) + 100)},
            )
        return Response(body, mimetype=mimetype)

    def _huge_body(self, filler: int, tail: bytes) -> Iterator[bytes]:
        # Generated on the fly: only one 64 KiB block ever exists.
        full, rest = divmod(filler, len(_FILLER_BLOCK))
        for _ in range(full):
            if self._stopping.is_set():
                return
            yield _FILLER_BLOCK
        if rest:
            yield _FILLER_BLOCK[:rest]
        yield tail

    def _trickle(self, body: bytes, seconds: float) -> Iterator[bytes]:
        pieces = max(1, min(len(body), int(seconds * 10)))
        size = -(-len(body) // pieces)
        interval = seconds / pieces
        for start in range(0, len(body), size):
            yield body[start : start + size]
            if self._stopping.wait(interval):
                return

    def _stop(self, request: Request, route: str | None, fault: str | None) -> Response:
        with self._lock:
            if self.fail_stops > 0:
                self.fail_stops -= 1
                return _json({"error": "could not stop the VM"}, 500)
            vm = self._vms.get(route or "")
            if vm is None or vm.stopped:
                return _json({"error": "unknown route"}, 404)
            vm.stopped = True
        return _json({"stopped": vm.route})

    def _login(self, request: Request, route: str | None, fault: str | None) -> Response:
        body = _body_json(request)
        email = body.get("email") if isinstance(body, dict) else None
        password = body.get("password") if isinstance(body, dict) else None
        if not (isinstance(email, str) and email and isinstance(password, str) and password):
            return _json({"error": "email and password are required"}, 400)
        with self._lock:
            self._cloud_tokens += 1
            tokens = self._cloud_tokens
        if fault == "text":
            return Response(f"Logged in as {email}. Token added.\n", mimetype="text/plain")
        return _json(
            {"ok": True, "message": f"Logged in as {email}; token added", "tokens": tokens}
        )


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ValueError(f"{name} must be a number >= 0")
    return float(value)


def _body_json(request: Request) -> Any:
    try:
        return request.get_json(silent=True, force=True)
    except Exception:  # an oversized body is no JSON either
        return None


def _redacted(record: dict[str, Any]) -> dict[str, Any]:
    """A recorded request without secrets, for the HTTP stats document."""
    headers = dict(record["headers"])
    if "Authorization" in headers:
        headers["Authorization"] = headers["Authorization"].split(" ", 1)[0] + " <redacted>"
    body = record["json"]
    if isinstance(body, dict) and "password" in body:
        body = {**body, "password": "<redacted>"}
    return {**record, "headers": headers, "json": body}
