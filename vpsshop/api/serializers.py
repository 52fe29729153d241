"""JSON shapes of the buyer's API (DESIGN.md "HTTP interface" and "Money in")."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from vpsshop.models import CoinTransaction, Voucher, VpsProduct, VpsSession
from vpsshop.services import extension
from vpsshop.services import sessions as session_service


def iso(value: datetime | None) -> str | None:
    """An aware datetime as ISO 8601 (UTC offset included), or None."""
    return value.isoformat() if value is not None else None


def product_json(product: VpsProduct, available: bool) -> dict[str, Any]:
    """``{"id", "name", "price_coins", "provision_action", "duration_minutes", "available"}``."""
    return {
        "id": str(product.id),
        "name": product.name,
        "price_coins": product.price_coins,
        "provision_action": product.provision_action,
        "duration_minutes": product.duration_minutes,
        "available": bool(available),
    }


def session_json(session: VpsSession) -> dict[str, Any]:
    """The session as DESIGN.md lists it; ``credentials`` only while it is ready."""
    details = session_service.credentials(session)
    credentials = None
    if details is not None:
        credentials = {
            "host": details.host,
            "port": details.port,
            "username": details.username,
            "password": details.password,
        }
    return {
        "id": str(session.id),
        "product_id": str(session.product_id),
        "product_name": session.product.name if session.product is not None else None,
        "status": str(session.status),
        "created_at": iso(session.created_at),
        "ready_at": iso(session.ready_at),
        "expires_at": iso(session.expires_at),
        "error": session.error,
        "credentials": credentials,
        "extension": extension_json(session),
    }


def extension_json(session: VpsSession) -> dict[str, Any] | None:
    """What one extension of the session buys now; None when its product sells none."""
    terms = extension.offer(session, session.product)
    if terms is None:
        return None
    return {
        "minutes": terms.minutes,
        "price_coins": terms.price_coins,
        "possible": terms.possible,
        "reason": terms.reason,
    }


def my_transaction_json(entry: CoinTransaction) -> dict[str, Any]:
    """One ledger row as its owner sees it (``GET /me/transactions``)."""
    return {
        "id": entry.id,
        "delta": entry.delta,
        "balance_after": entry.balance_after,
        "kind": entry.kind,
        "reason": entry.reason,
        "session_id": str(entry.session_id) if entry.session_id else None,
        "created_at": iso(entry.created_at),
    }


def voucher_json(voucher: Voucher) -> dict[str, Any]:
    """A voucher as the admin API shows it (DESIGN.md's fields, its note and creation)."""
    return {
        "id": str(voucher.id),
        "code": voucher.code,
        "coins": voucher.coins,
        "max_redemptions": voucher.max_redemptions,
        "redemptions": voucher.redemptions,
        "expires_at": iso(voucher.expires_at),
        "is_active": voucher.is_active,
        "note": voucher.note,
        "batch_id": str(voucher.batch_id),
        "created_at": iso(voucher.created_at),
    }
