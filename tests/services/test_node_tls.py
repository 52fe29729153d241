"""Nodes over https: a trickled TLS handshake ends in time; certificates are verified.

The handshake runs inside urllib3's connect, before the call's watchdog has the socket.
It is bounded all the same: since Python 3.5 the socket timeout (here the connect
timeout) is "the maximum total duration of the handshake" (``SSLSocket.do_handshake``),
not a per-recv limit. These tests hold that promise to account.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.fixtures.smtp import self_signed_cert
from vpsshop.models import Worker
from vpsshop.services import node_client
from vpsshop.services.node_client import NodeUnreachable

CONNECT, READ = 0.5, 0.5
# The call's budget, plus slack for a loaded machine: bounded, not fast.
BOUND = node_client.DEADLINE_FACTOR * READ + CONNECT + 1.5
DRIBBLE_SECONDS = 0.1
DRIBBLE_FOR_SECONDS = 20.0


@pytest.fixture
def app_config() -> dict:
    return {
        "NODE_CONNECT_TIMEOUT": CONNECT,
        "NODE_READ_TIMEOUT": READ,
        "NODE_LOG_READ_TIMEOUT": READ,
    }


class _Listener:
    """A TCP server on loopback running ``serve(conn)`` per connection in a thread."""

    def __init__(self, serve):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self.bytes_sent = 0
        self.stop = threading.Event()
        self._serve = serve
        self._threads: list[threading.Thread] = []
        self._loop = threading.Thread(target=self._accept, daemon=True)
        self._loop.start()

    def _accept(self) -> None:
        self.sock.settimeout(0.2)
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.accepted += 1
            thread = threading.Thread(target=self._serve, args=(self, conn, self.stop), daemon=True)
            thread.start()
            self._threads.append(thread)

    def close(self) -> None:
        self.stop.set()
        self.sock.close()
        self._loop.join(5)
        for thread in self._threads:
            thread.join(5)


def _dribble_handshake(server: _Listener, conn: socket.socket, stop: threading.Event) -> None:
    """Read the ClientHello, then send a 16 KB handshake record one byte at a time."""
    with conn:
        conn.settimeout(2)
        try:
            conn.recv(4096)
            conn.sendall(b"\x16\x03\x03\x40\x00")  # handshake record header, 16,384 bytes
            ends = time.monotonic() + DRIBBLE_FOR_SECONDS
            while not stop.is_set() and time.monotonic() < ends:
                conn.sendall(b"\x02")
                server.bytes_sent += 1
                time.sleep(DRIBBLE_SECONDS)
        except OSError:  # the client gave up and closed: what the test wants
            return


@pytest.fixture
def listener() -> Iterator[Callable[..., _Listener]]:
    made: list[_Listener] = []

    def make(serve) -> _Listener:
        made.append(_Listener(serve))
        return made[-1]

    yield make
    for server in made:
        server.close()


def _self_signed(tmp_path: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*self_signed_cert(tmp_path))
    return context


def _worker(port: int) -> Worker:
    return Worker(name=f"node-{uuid.uuid4().hex[:6]}", base_url=f"https://127.0.0.1:{port}")


def _calls(worker: Worker) -> dict:
    return {
        "create": lambda: node_client.create_vm(worker, 2, uuid.uuid4()),
        "log": lambda: node_client.fetch_log(worker, "vm-1"),
        "stop": lambda: node_client.stop_vm(worker, "vm-1"),
        "login": lambda: node_client.login(worker, "a@example.com", "secret-pass"),
        "probe": lambda: node_client.probe(worker),
    }


@pytest.mark.parametrize("endpoint", ["create", "log", "stop", "login", "probe"])
def test_a_trickled_tls_handshake_ends_by_the_deadline(app, listener, endpoint):
    """Each byte comes well within the per-recv timeout; the whole call is still cut off."""
    server = listener(_dribble_handshake)
    call = _calls(_worker(server.port))[endpoint]
    started = time.monotonic()
    with pytest.raises(NodeUnreachable):
        call()
    assert time.monotonic() - started < BOUND
    server.close()
    assert server.accepted == 1
    # The node kept sending inside every per-recv timeout: only a total bound ended it.
    assert server.bytes_sent >= 2


def test_a_node_with_an_untrusted_certificate_is_refused(app, listener, tmp_path):
    """The watched context is urllib3's own: a self-signed certificate still fails."""
    tls = _self_signed(tmp_path)
    handshakes: list[str] = []

    def serve(server: _Listener, conn: socket.socket, stop: threading.Event) -> None:
        conn.settimeout(5)
        try:
            with tls.wrap_socket(conn, server_side=True) as wrapped:
                wrapped.recv(1024)
                handshakes.append("completed")
        except (ssl.SSLError, OSError) as exc:
            handshakes.append(type(exc).__name__)

    server = listener(serve)
    with pytest.raises(NodeUnreachable) as info:
        node_client.create_vm(_worker(server.port), 2, uuid.uuid4())
    assert info.value.message == "create: TLS error"
    server.close()
    assert handshakes and "completed" not in handshakes
