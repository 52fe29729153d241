"""HTTP client for worker nodes (shared/worker-api.md); server-side only."""

from __future__ import annotations

import http.client
import json
import os
import re
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
import urllib3
from flask import current_app
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from vpsshop.models import Worker
from vpsshop.services import call_watchdog
from vpsshop.services.redaction import redact_answer


class NodeError(Exception):
    """A node misbehaved; ``kind`` classifies it for failover, health and messages."""

    kind = "error"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class NodeBusy(NodeError):
    """409/429/503: no free slot or token on the node. Not a health failure."""

    kind = "busy"


class NodeUnauthorized(NodeError):
    """401/403: the node's token is wrong (misconfigured node)."""

    kind = "unauthorized"


class NodeUnreachable(NodeError):
    """Connection refused, DNS, TLS error or timeout."""

    kind = "unreachable"


class NodeBadAnswer(NodeError):
    """Any answer outside the contract: other 4xx/5xx, non-JSON, bad or missing logUrl."""

    kind = "bad_answer"


class NodeNotFound(NodeError):
    """404 for a route: the node does not know this VM."""

    kind = "not_found"


@dataclass(frozen=True)
class NodeAnswer:
    status: int
    body: Any  # parsed JSON when the node sent JSON, else text


ROUTE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
BUSY_STATUSES = frozenset({409, 429, 503})
UNAUTHORIZED_STATUSES = frozenset({401, 403})
# JSON answers (create, login) are small; anything bigger is outside the contract.
MAX_ANSWER_BYTES = 64 * 1024
MAX_LOGIN_TEXT_CHARS = 4000
MAX_LOG_URL_CHARS = 2048
READ_CHUNK = 64 * 1024
# A whole call (headers and body) may take this many read timeouts plus the connect
# timeout before it is cut off: the read timeout alone only bounds the gap between two
# packets, so a node trickling one byte at a time could otherwise hold a thread forever.
DEADLINE_FACTOR = 2.0


def call_budget(read_timeout: float, connect_timeout: float | None = None) -> float:
    """Seconds a node call with these timeouts may last in all, whatever the node sends."""
    connect = float(
        connect_timeout if connect_timeout is not None else _config("NODE_CONNECT_TIMEOUT")
    )
    return connect + DEADLINE_FACTOR * float(read_timeout)


# CSI (ESC [ ... final), OSC (ESC ] ... BEL or ESC \), other two-byte escapes, and the
# 8-bit CSI form; a lone ESC left over is dropped too.
_ANSI_RE = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]"
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"
    r"|\x1b[@-Z\\-_]"
    r"|\x1b"
)

_CONTROL_RE = re.compile(r"[\x00-\x20\x7f]")

_sessions_lock = threading.Lock()
_sessions: dict[int, requests.Session] = {}
# The call being made by this thread: the connections it opens report their sockets to it.
_current = threading.local()


class _DeadlineMixin:
    """A urllib3 connection that hands its socket to the calling thread's ``_Call``.

    The call's watchdog shuts that socket down at the deadline, which ends any blocking
    read at once (headers included), whatever the node trickles.
    """

    def connect(self) -> None:
        super().connect()  # type: ignore[misc]
        call = getattr(_current, "call", None)
        if call is not None:
            call.attach(self.sock)  # type: ignore[attr-defined]


class _DeadlineHTTPConnection(_DeadlineMixin, HTTPConnection):
    pass


class _DeadlineHTTPSConnection(_DeadlineMixin, HTTPSConnection):
    pass


class _DeadlineHTTPPool(HTTPConnectionPool):
    ConnectionCls = _DeadlineHTTPConnection


class _DeadlineHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _DeadlineHTTPSConnection


class _DeadlineAdapter(HTTPAdapter):
    """requests' adapter with the deadline-aware connection pools (its documented hook)."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": _DeadlineHTTPPool,
            "https": _DeadlineHTTPSPool,
        }


def _reset_after_fork() -> None:
    # A lock held by another thread at fork time would stay locked forever in the child,
    # and pooled sockets must not be shared with the parent: start afresh.
    global _sessions_lock
    _sessions_lock = threading.Lock()
    _sessions.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)


def _http() -> requests.Session:
    """The process's ``requests.Session`` (created lazily, one per pid)."""
    pid = os.getpid()
    session = _sessions.get(pid)
    if session is not None:
        return session
    with _sessions_lock:
        session = _sessions.get(pid)
        if session is None:
            session = requests.Session()
            # Never route node calls through environment proxies or add .netrc credentials.
            session.trust_env = False
            # Identity encoding keeps byte limits honest (no decompression bombs).
            # A fresh connection per call: its socket belongs to that call alone, so the
            # watchdog that shuts it down at the deadline can never hit another call's.
            session.headers.update(
                {"Accept-Encoding": "identity", "User-Agent": "vpsshop", "Connection": "close"}
            )
            adapter = _DeadlineAdapter()
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            _sessions.clear()  # sessions inherited from a parent process are not ours
            _sessions[pid] = session
    return session


def strip_ansi(text: str) -> str:
    """Remove ANSI escape sequences (colours, cursor moves, titles) from ``text``."""
    return _ANSI_RE.sub("", text)


def validate_route(route: object) -> str:
    """Return ``route`` when it is a valid node route, else raise NodeBadAnswer."""
    if not isinstance(route, str) or route in (".", "..") or not ROUTE_RE.fullmatch(route):
        raise NodeBadAnswer("the node gave an invalid VM route")
    return route


def route_from_log_url(log_url: object) -> str:
    """The validated last path segment of a node's ``logUrl``; any host in it is ignored."""
    if not isinstance(log_url, str) or not log_url or len(log_url) > MAX_LOG_URL_CHARS:
        raise NodeBadAnswer("the node's answer has no usable logUrl")
    # urlsplit silently drops tabs and newlines; a logUrl carrying them is off contract.
    if _CONTROL_RE.search(log_url):
        raise NodeBadAnswer("the node's logUrl contains spaces or control characters")
    try:
        path = urlsplit(log_url).path
    except ValueError:
        raise NodeBadAnswer("the node's logUrl is not a URL") from None
    return validate_route(path.rsplit("/", 1)[-1])


def _config(name: str) -> Any:
    return current_app.config[name]


def _token(worker: Worker) -> str | None:
    if not worker.token_encrypted:
        return None
    from vpsshop.services import crypto, workers

    try:
        return workers.worker_token(worker)
    except crypto.InvalidToken:
        raise NodeUnauthorized(
            "the stored node token cannot be decrypted (ENCRYPTION_KEYS changed?)"
        ) from None


def _url(worker: Worker, path: str) -> str:
    return worker.base_url.rstrip("/") + path


class _Call:
    """One HTTP exchange with a node, bounded by a wall-clock deadline.

    The process's watchdog (call_watchdog) shuts the call's socket down at the deadline;
    a read blocked in the headers or the body then ends at once and the call fails as
    NodeUnreachable.
    """

    def __init__(
        self, worker: Worker, what: str, read_timeout: float, connect_timeout: float | None = None
    ):
        self.worker = worker
        self.what = what
        self.connect_timeout = float(
            connect_timeout if connect_timeout is not None else _config("NODE_CONNECT_TIMEOUT")
        )
        self.read_timeout = float(read_timeout)
        self.budget = call_budget(self.read_timeout, self.connect_timeout)
        self.deadline = time.monotonic() + self.budget
        self.expired = False
        self._guard = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._done = False

    def attach(self, sock: socket.socket | None) -> None:
        """Called by the connection once connected: shut ``sock`` down at the deadline."""
        if sock is None:
            return
        with self._guard:
            self._sockets.append(sock)
            late = self.expired
        if late:  # connected after the deadline: cut it off now
            self._expire()

    def _expire(self) -> None:
        with self._guard:
            if self._done:
                return
            self.expired = True
            sockets = list(self._sockets)
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:  # already closed
                pass

    @contextmanager
    def watched(self) -> Iterator[None]:
        """Run the block with the watchdog armed: its sockets are shut at the deadline."""
        _current.call = self
        watchdog = call_watchdog.watchdog()
        armed = watchdog.arm(self.deadline, self._expire)
        try:
            yield
        finally:
            _current.call = None
            with self._guard:
                self._done = True
            watchdog.disarm(armed)

    def past_deadline(self) -> NodeUnreachable:
        return NodeUnreachable(f"{self.what}: the node's answer took longer than {self.budget:g}s")

    def send(self, method: str, path: str, json_body: Any = None) -> requests.Response:
        headers = {}
        token = _token(self.worker)
        if token:
            headers["Authorization"] = f"Bearer {token}"
        try:
            return _http().request(
                method,
                _url(self.worker, path),
                json=json_body,
                headers=headers,
                timeout=(self.connect_timeout, self.read_timeout),
                allow_redirects=False,
                stream=True,
            )
        except Exception as exc:  # classified below; unknown ones re-raised
            raise self.classify(exc) from None

    def classify(self, exc: BaseException) -> NodeError:
        """Map a transport exception to a short NodeError (no URL, header or body in it)."""
        what = self.what
        if isinstance(exc, NodeError):
            return exc
        if self.expired:  # whatever broke, it broke because the watchdog cut the socket
            return self.past_deadline()
        if isinstance(exc, requests.ConnectTimeout | urllib3.exceptions.ConnectTimeoutError):
            return NodeUnreachable(f"{what}: connection timed out after {self.connect_timeout:g}s")
        if isinstance(exc, requests.Timeout | urllib3.exceptions.TimeoutError | TimeoutError):
            return NodeUnreachable(f"{what}: the node did not answer within {self.read_timeout:g}s")
        if isinstance(exc, requests.exceptions.SSLError | urllib3.exceptions.SSLError):
            return NodeUnreachable(f"{what}: TLS error")
        if isinstance(
            exc,
            requests.exceptions.ChunkedEncodingError
            | urllib3.exceptions.ProtocolError
            | urllib3.exceptions.DecodeError
            | http.client.HTTPException,
        ):
            return NodeBadAnswer(f"{what}: the node broke off or garbled its answer")
        if isinstance(
            exc,
            requests.exceptions.InvalidURL
            | requests.exceptions.InvalidSchema
            | requests.exceptions.MissingSchema
            | urllib3.exceptions.LocationParseError,
        ):
            return NodeUnreachable(f"{what}: the node's base URL is not usable")
        if isinstance(exc, requests.exceptions.InvalidHeader):
            return NodeUnauthorized(f"{what}: the node's token cannot be sent in a header")
        if isinstance(exc, requests.ConnectionError | urllib3.exceptions.HTTPError | OSError):
            return NodeUnreachable(f"{what}: cannot connect to the node")
        if isinstance(exc, requests.RequestException | UnicodeError):
            return NodeBadAnswer(f"{what}: the request to the node failed")
        raise exc  # a bug of ours, not a misbehaving node: keep the traceback

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def iter_body(self, response: requests.Response) -> Iterator[bytes]:
        """Yield the body in chunks as they arrive; NodeUnreachable past the deadline."""
        raw = response.raw
        while True:
            if self.remaining() <= 0:
                raise self.past_deadline()
            try:
                # read1 returns as soon as some bytes arrived, so the deadline is checked
                # between packets even when a node trickles its answer.
                chunk = raw.read1(READ_CHUNK)
            except Exception as exc:  # classified below
                raise self.classify(exc) from None
            if not chunk:
                if self.expired:  # the watchdog's shutdown reads as a clean end
                    raise self.past_deadline()
                return
            yield chunk

    def read_small(self, response: requests.Response, *, truncate: bool = False) -> bytes:
        """The whole body, at most MAX_ANSWER_BYTES (cut there when ``truncate``)."""
        parts: list[bytes] = []
        size = 0
        for chunk in self.iter_body(response):
            size += len(chunk)
            if size > MAX_ANSWER_BYTES:
                if not truncate:
                    raise NodeBadAnswer(f"{self.what}: the node's answer is too large")
                parts.append(chunk[: MAX_ANSWER_BYTES - (size - len(chunk))])
                break
            parts.append(chunk)
        return b"".join(parts)

    def read_tail(self, response: requests.Response, limit: int) -> tuple[bytes, int]:
        """The body's last ``limit`` bytes as ``(data, start)``: they are ``data[start:]``.

        ``start`` > 0 means the beginning was cut off. Only about ``2 * limit + READ_CHUNK``
        bytes are held at any time, however much the node sends.
        """
        chunks: deque[bytes] = deque()
        held = 0
        dropped = False
        for chunk in self.iter_body(response):
            chunks.append(chunk)
            held += len(chunk)
            while chunks and held - len(chunks[0]) >= limit:
                held -= len(chunks.popleft())
                dropped = True
        data = b"".join(chunks)
        chunks.clear()
        start = max(0, len(data) - limit)
        if dropped and start == 0:
            start = -1  # cut exactly at a chunk boundary: still a cut
        return data, start

    def run(self, method: str, path: str, handle: Callable[[requests.Response], Any], **kw):
        """Send, hand the streamed response to ``handle``, always close it."""
        with self.watched():
            response = self.send(method, path, **kw)
            try:
                return self._checked(response, handle)
            finally:
                response.close()

    def _checked(self, response: requests.Response, handle: Callable[[requests.Response], Any]):
        if self.expired:  # headers cut short by the watchdog may still parse as an answer
            raise self.past_deadline()
        if 300 <= response.status_code < 400:
            raise NodeBadAnswer(
                f"{self.what}: the node answered with a redirect "
                f"(HTTP {response.status_code}), which is not followed"
            )
        if response.status_code in UNAUTHORIZED_STATUSES:
            raise NodeUnauthorized(
                f"{self.what}: the node refused our token (HTTP {response.status_code})"
            )
        return handle(response)


def create_vm(worker: Worker, action: int, session_id: uuid.UUID) -> str:
    """POST /vm-loso; returns the validated route (last segment of logUrl)."""
    call = _Call(worker, "create", _config("NODE_READ_TIMEOUT"))

    def handle(response: requests.Response) -> str:
        status = response.status_code
        if status in BUSY_STATUSES:
            raise NodeBusy(f"create: the node is busy (HTTP {status})")
        if status not in (200, 201):
            raise NodeBadAnswer(f"create: the node answered HTTP {status}")
        body = call.read_small(response)
        try:
            data = json.loads(body)
        except (ValueError, RecursionError):
            raise NodeBadAnswer("create: the node's answer is not JSON") from None
        if not isinstance(data, dict) or "logUrl" not in data:
            raise NodeBadAnswer("create: the node's answer has no logUrl")
        return route_from_log_url(data["logUrl"])

    return call.run(
        "POST", "/vm-loso", handle, json_body={"action": int(action), "session": str(session_id)}
    )


def _decode_tail(data: bytes, start: int) -> str:
    """Decode ``data[start:]`` (start < 0: cut exactly at 0), tolerating bad UTF-8."""
    if start != 0:
        # After a cut the first line is a fragment (maybe half a UTF-8 character or half
        # a "Password:" key); drop it so the parser only sees whole lines. With no newline
        # at all, keep everything.
        start = max(0, start)
        newline = data.find(b"\n", start)
        if newline != -1:
            start = newline + 1
    # A memoryview slice decodes without one more copy of up to NODE_LOG_MAX_BYTES.
    return str(memoryview(data)[start:], "utf-8", "replace")


def fetch_log(worker: Worker, route: str) -> str:
    """GET /log/<route>; the tail (<= NODE_LOG_MAX_BYTES), UTF-8 replaced, ANSI stripped."""
    validate_route(route)
    call = _Call(worker, "log", _config("NODE_LOG_READ_TIMEOUT"))
    limit = max(1, int(_config("NODE_LOG_MAX_BYTES")))

    def handle(response: requests.Response) -> str:
        status = response.status_code
        if status == 404:
            raise NodeNotFound("log: the node does not know this VM (HTTP 404)")
        if status != 200:
            raise NodeBadAnswer(f"log: the node answered HTTP {status}")
        # No name keeps the raw bytes alive while ANSI codes are stripped (peak memory).
        return strip_ansi(_decode_tail(*call.read_tail(response, limit)))

    return call.run("GET", f"/log/{route}", handle)


def stop_vm(worker: Worker, route: str) -> None:
    """POST /stop/<route>; 2xx or 404 are success, anything else raises NodeError."""
    validate_route(route)
    call = _Call(worker, "stop", _config("NODE_READ_TIMEOUT"))

    def handle(response: requests.Response) -> None:
        status = response.status_code
        if 200 <= status < 300 or status == 404:
            return
        raise NodeBadAnswer(f"stop: the node answered HTTP {status}")

    call.run("POST", f"/stop/{route}", handle)


def login(worker: Worker, email: str, password: str) -> NodeAnswer:
    """POST /yud-ranyisi with the admin-typed credentials; never stored or logged.

    Any HTTP answer except a redirect or 401/403 comes back as a NodeAnswer (the caller
    shows its status and body to the admin); JSON is parsed, other bodies are text cut
    to MAX_LOGIN_TEXT_CHARS.
    """
    call = _Call(worker, "login", _config("NODE_READ_TIMEOUT"))

    def handle(response: requests.Response) -> NodeAnswer:
        body = call.read_small(response, truncate=True)
        # A node echoing the admin's password back must not carry it into our pages.
        answer: Any
        try:
            answer = redact_answer(json.loads(body), password)
        except (ValueError, RecursionError):  # not JSON, or nested too deeply: text
            text = strip_ansi(body.decode("utf-8", errors="replace"))
            # A cut may leave the start of the password at the end: redact_answer knows.
            cut = len(body) >= MAX_ANSWER_BYTES or len(text) > MAX_LOGIN_TEXT_CHARS
            answer = redact_answer(text[:MAX_LOGIN_TEXT_CHARS], password, cut=cut)
        return NodeAnswer(status=response.status_code, body=answer)

    return call.run(
        "POST", "/yud-ranyisi", handle, json_body={"email": email, "password": password}
    )


def probe(worker: Worker) -> None:
    """GET {base}/ within the connect timeout; any HTTP status is success."""
    connect = float(_config("NODE_CONNECT_TIMEOUT"))
    call = _Call(worker, "probe", connect, connect_timeout=connect)
    with call.watched():
        call.send("GET", "/").close()
        if call.expired:
            raise call.past_deadline()
