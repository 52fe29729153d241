"""Worker-node registry and capacity-safe selection.

STUB: interface fixed, implementation pending (issue 3).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from vpsshop.models import VpsProduct, Worker


def normalise_base_url(raw: object) -> str:
    """http(s) with a host; no user-info, query or fragment; no trailing slash.
    Raises ValidationError(code="invalid_base_url")."""
    raise NotImplementedError


def register_worker(
    name: str,
    base_url: str,
    *,
    max_sessions: int = 3,
    token: str | None = None,
    actor_id: uuid.UUID | None = None,
) -> Worker:
    """Validate and insert a worker (token stored encrypted); audit-logged; caller commits."""
    raise NotImplementedError


def update_worker(worker: Worker, changes: dict, *, actor_id: uuid.UUID | None = None) -> Worker:
    """Apply any of name, base_url, max_sessions, token ("" or None clears), status."""
    raise NotImplementedError


def set_worker_status(worker: Worker, status: str, *, actor_id: uuid.UUID | None = None) -> Worker:
    """Enable ("active") or disable ("disabled") a worker; caller commits."""
    raise NotImplementedError


def worker_token(worker: Worker) -> str | None:
    """The decrypted node token, for the node client only."""
    raise NotImplementedError


def is_healthy(worker: Worker) -> bool:
    """Fewer than NODE_UNHEALTHY_AFTER consecutive failures."""
    raise NotImplementedError


def active_session_counts(worker_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, int]:
    """Sessions in pending/provisioning/ready/stopping per worker."""
    raise NotImplementedError


def reserve_slot(product: VpsProduct, exclude: Iterable[uuid.UUID] = ()) -> Worker | None:
    """Lock the product's eligible workers (FOR UPDATE, in id order), return the least
    loaded one with a free slot (random among ties) or None. The caller assigns the
    session to it in the same transaction; the locks hold until it commits."""
    raise NotImplementedError


def product_available(product: VpsProduct) -> bool:
    """True when one of the product's active, healthy workers has a free slot (no lock)."""
    raise NotImplementedError


def record_success(worker: Worker) -> None:
    """A good call or probe: reset failures, set last_seen_at. Caller commits."""
    raise NotImplementedError


def record_failure(worker: Worker, error: str) -> None:
    """A failed call or probe: count it, keep last_error/last_error_at. Caller commits."""
    raise NotImplementedError
