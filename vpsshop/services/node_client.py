"""HTTP client for worker nodes (shared/worker-api.md); server-side only.

STUB: interface fixed, implementation pending (issue 3).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from vpsshop.models import Worker


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


def create_vm(worker: Worker, action: int, session_id: uuid.UUID) -> str:
    """POST /vm-loso; returns the validated route (last segment of logUrl)."""
    raise NotImplementedError


def fetch_log(worker: Worker, route: str) -> str:
    """GET /log/<route>; the tail (<= NODE_LOG_MAX_BYTES), UTF-8 replaced, ANSI stripped."""
    raise NotImplementedError


def stop_vm(worker: Worker, route: str) -> None:
    """POST /stop/<route>; 2xx or 404 are success, anything else raises NodeError."""
    raise NotImplementedError


def login(worker: Worker, email: str, password: str) -> NodeAnswer:
    """POST /yud-ranyisi with the admin-typed credentials; never stored or logged."""
    raise NotImplementedError


def probe(worker: Worker) -> None:
    """GET {base}/ within the connect timeout; any HTTP status is success."""
    raise NotImplementedError
