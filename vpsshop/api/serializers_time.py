"""JSON shapes of a session's time: extension offers, waitlist entries, catalogue slots."""

from __future__ import annotations

from typing import Any

from vpsshop.api.serializers import iso
from vpsshop.models import VpsProduct, WaitlistEntry
from vpsshop.services.waitlist import ProductTime


def product_time_json(product: VpsProduct, time: ProductTime) -> dict[str, Any]:
    """The extension terms and the slots of a product, beside its DESIGN.md fields."""
    return {
        "available": time.available,
        "extend_minutes": product.extend_minutes,
        "extend_price_coins": product.extend_price_coins,
        "max_total_minutes": product.max_total_minutes,
        "free_slots": time.free_slots,
        "waiting": time.waiting,
        "next_slot_expected_at": iso(time.next_slot_at),
        "waitlist_entry_id": str(time.entry.id) if time.entry is not None else None,
        "waitlist_position": time.position,
    }


def entry_json(entry: WaitlistEntry, position: int | None) -> dict[str, Any]:
    """``{"id", "product_id", "position", "status", "created_at"}`` and what else it knows."""
    return {
        "id": str(entry.id),
        "product_id": str(entry.product_id),
        "product_name": entry.product.name if entry.product is not None else None,
        "position": position,
        "status": str(entry.status),
        "created_at": iso(entry.created_at),
        "expires_at": iso(entry.expires_at),
        "session_id": str(entry.session_id) if entry.session_id else None,
        "reason": entry.reason,
    }
