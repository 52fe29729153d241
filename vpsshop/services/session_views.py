"""What a buyer sees of a session, as one plain value: built from the row or from the cache."""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from vpsshop.models import SessionStatus, VpsSession
from vpsshop.services import ledger


@dataclass(frozen=True)
class ProductView:
    name: str
    provision_action: int


@dataclass(frozen=True)
class SessionView:
    """The fields the status card and the API show; duck-types a ``VpsSession`` for them.

    The RDP password stays encrypted here (and so in Redis); ``sessions.credentials``
    decrypts it per answer, as for a row.
    """

    id: uuid.UUID
    user_id: uuid.UUID
    product_id: uuid.UUID
    product: ProductView
    status: str
    price_coins: int
    worker_route: str | None
    error: str | None
    rdp_host: str | None
    rdp_port: int | None
    rdp_user: str | None
    rdp_password_encrypted: str | None
    created_at: datetime
    updated_at: datetime | None
    ready_at: datetime | None
    expires_at: datetime | None
    ended_at: datetime | None
    refunded: bool


_UUIDS = ("id", "user_id", "product_id")
_TIMES = ("created_at", "updated_at", "ready_at", "expires_at", "ended_at")


def from_session(session: VpsSession) -> SessionView:
    """The view of a row (its product loaded); one more query only for a failed session."""
    refunded = session.status == SessionStatus.FAILED and ledger.is_refunded(session.id)
    return SessionView(
        id=session.id,
        user_id=session.user_id,
        product_id=session.product_id,
        product=ProductView(session.product.name, session.product.provision_action),
        status=str(session.status),
        price_coins=session.price_coins,
        worker_route=session.worker_route,
        error=session.error,
        rdp_host=session.rdp_host,
        rdp_port=session.rdp_port,
        rdp_user=session.rdp_user,
        rdp_password_encrypted=session.rdp_password_encrypted,
        created_at=session.created_at,
        updated_at=session.updated_at,
        ready_at=session.ready_at,
        expires_at=session.expires_at,
        ended_at=session.ended_at,
        refunded=refunded,
    )


def to_entry(view: SessionView) -> dict[str, Any]:
    """JSON-ready fields for the read cache."""
    entry = asdict(view)
    for name in _UUIDS:
        entry[name] = str(entry[name])
    for name in _TIMES:
        value = entry[name]
        entry[name] = value.isoformat() if value is not None else None
    return entry


def from_entry(entry: dict[str, Any]) -> SessionView:
    """The view back from ``to_entry``'s fields."""
    fields = {name: entry[name] for name in SessionView.__dataclass_fields__}
    for name in _UUIDS:
        fields[name] = uuid.UUID(fields[name])
    for name in _TIMES:
        value = fields[name]
        fields[name] = datetime.fromisoformat(value) if value is not None else None
    fields["product"] = ProductView(**fields["product"])
    return SessionView(**fields)
