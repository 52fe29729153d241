"""Coin packs on sale for money: validated and audit-logged (admin panel and API)."""

from __future__ import annotations

import re
import uuid
from typing import Any

from sqlalchemy import select

from vpsshop.errors import ValidationError
from vpsshop.extensions import db
from vpsshop.models import CoinPack
from vpsshop.services import audit
from vpsshop.services.products import check_is_active, whole_number
from vpsshop.services.text import required_text

PACK_FIELDS = ("name", "coins", "price_minor", "currency", "is_active")
MAX_PACK_COINS = 10_000_000
# Stripe's own ceiling for one charge is 99,999,999 minor units.
MAX_PRICE_MINOR = 99_999_999
_CURRENCY = re.compile(r"^[a-z]{3}$")


def check_currency(value: object) -> str:
    """An ISO 4217 code (``eur``, ``USD``), stored lower case as Stripe writes it."""
    if not isinstance(value, str) or not _CURRENCY.match(value.strip().lower()):
        raise ValidationError(
            "currency must be a three-letter ISO 4217 code such as eur or usd.",
            code="invalid_currency",
        )
    return value.strip().lower()


def check_pack(data: dict[str, Any]) -> dict[str, Any]:
    """The pack fields of ``data``, each validated; unknown fields are a 400."""
    unknown = sorted(set(data) - set(PACK_FIELDS))
    if unknown:
        raise ValidationError(f"Unknown field: {unknown[0]}.", code="unknown_field")
    missing = [name for name in ("name", "coins", "price_minor", "currency") if name not in data]
    if missing:
        raise ValidationError(f"{missing[0]} is required.", code=f"invalid_{missing[0]}")
    return {
        "name": required_text(
            data["name"],
            what="name",
            max_length=120,
            code="invalid_name",
            missing="A coin pack needs a name.",
        ),
        "coins": whole_number(data["coins"], "coins", 1, MAX_PACK_COINS),
        "price_minor": whole_number(data["price_minor"], "price_minor", 1, MAX_PRICE_MINOR),
        "currency": check_currency(data["currency"]),
        "is_active": check_is_active(data.get("is_active", True)),
    }


def create_pack(data: dict[str, Any], actor_id: uuid.UUID | None) -> CoinPack:
    """Add a pack (audited); the caller commits."""
    pack = CoinPack(**check_pack(data))
    db.session.add(pack)
    db.session.flush()
    audit.record(actor_id, "coin_pack.create", "coin_pack", pack.id, **pack_snapshot(pack))
    return pack


def pack_snapshot(pack: CoinPack) -> dict[str, Any]:
    return {
        "name": pack.name,
        "coins": pack.coins,
        "price_minor": pack.price_minor,
        "currency": pack.currency,
        "is_active": pack.is_active,
    }


def active_packs() -> list[CoinPack]:
    """Packs on sale, cheapest first."""
    return list(
        db.session.execute(
            select(CoinPack)
            .where(CoinPack.is_active.is_(True))
            .order_by(CoinPack.price_minor, CoinPack.coins, CoinPack.id)
        ).scalars()
    )


# Currencies Stripe counts in whole units (no cents).
ZERO_DECIMAL = frozenset("bif clp djf gnf jpy kmf krw mga pyg rwf ugx vnd vuv xaf xof xpf".split())


def format_price(amount_minor: int, currency: str) -> str:
    """``1000, "eur"`` -> "10.00 EUR"; ``500, "jpy"`` -> "500 JPY"."""
    if currency.lower() in ZERO_DECIMAL:
        return f"{amount_minor:,} {currency.upper()}"
    return f"{amount_minor // 100:,}.{amount_minor % 100:02d} {currency.upper()}"


def update_pack(pack: CoinPack, changes: dict[str, Any], actor_id: uuid.UUID | None) -> CoinPack:
    """Change a pack's fields (audited); payments already made keep what they bought."""
    checked = check_pack({**pack_snapshot(pack), **changes})
    before = pack_snapshot(pack)
    for name, value in checked.items():
        setattr(pack, name, value)
    after = pack_snapshot(pack)
    changed = {name: [before[name], after[name]] for name in after if before[name] != after[name]}
    if changed:
        audit.record(actor_id, "coin_pack.update", "coin_pack", pack.id, changes=changed)
    return pack
