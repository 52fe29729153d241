"""Creating and changing products on sale, validated and audit-logged (admin panel and API)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select

from vpsshop.errors import ValidationError
from vpsshop.extensions import db
from vpsshop.models import VpsProduct, Worker
from vpsshop.models.product import PROVISION_ACTIONS
from vpsshop.services import audit, workers
from vpsshop.services.text import required_text

MAX_PRICE = 1_000_000_000
MAX_DURATION_MINUTES = 60 * 24 * 366
PRODUCT_FIELDS = (
    "name",
    "price_coins",
    "provision_action",
    "duration_minutes",
    "is_active",
    "worker_ids",
    "extend_minutes",
    "extend_price_coins",
    "max_total_minutes",
)
EXTENSION_FIELDS = ("extend_minutes", "extend_price_coins", "max_total_minutes")


def whole_number(value: object, field: str, low: int, high: int) -> int:
    # bool is an int subclass in Python; JSON ``true`` must not pass as 1.
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(f"{field} must be a whole number.", code=f"invalid_{field}")
    if value < low or value > high:
        raise ValidationError(
            f"{field} must be between {low} and {high:,}.", code=f"invalid_{field}"
        )
    return value


def check_name(name: object) -> str:
    """A product name: 1-100 characters after trimming."""
    return required_text(
        name, what="name", max_length=100, code="invalid_name", missing="A product needs a name."
    )


def check_price(price: object) -> int:
    """A price in coins: a whole number above zero."""
    return whole_number(price, "price_coins", 1, MAX_PRICE)


def check_provision_action(action: object) -> int:
    """1 (Linux), 2 (Windows) or 3 (Test)."""
    if isinstance(action, bool) or not isinstance(action, int) or action not in PROVISION_ACTIONS:
        raise ValidationError(
            "provision_action must be 1 (Linux), 2 (Windows) or 3 (Test).",
            code="invalid_provision_action",
        )
    return action


def check_duration(duration: object) -> int | None:
    """Minutes the VM lives, or None for "until the user deletes it"."""
    if duration is None:
        return None
    return whole_number(duration, "duration_minutes", 1, MAX_DURATION_MINUTES)


def check_extend_minutes(minutes: object) -> int | None:
    """Minutes one extension adds, or None for "not extendable"."""
    if minutes is None:
        return None
    return whole_number(minutes, "extend_minutes", 1, MAX_DURATION_MINUTES)


def check_extend_price(price: object) -> int | None:
    """What one extension costs in coins (None only for a product that is not extendable)."""
    if price is None:
        return None
    return whole_number(price, "extend_price_coins", 1, MAX_PRICE)


def check_max_total(minutes: object) -> int | None:
    """The most minutes a session may run in all, extensions included (None: no cap)."""
    if minutes is None:
        return None
    return whole_number(minutes, "max_total_minutes", 1, MAX_DURATION_MINUTES)


def check_extension_rules(values: dict[str, Any]) -> None:
    """The extension fields must agree with each other and with the duration."""
    extend, price = values.get("extend_minutes"), values.get("extend_price_coins")
    duration, cap = values.get("duration_minutes"), values.get("max_total_minutes")
    if extend is not None and duration is None:
        raise ValidationError(
            "Only a product with a duration can be extended.", code="invalid_extend_minutes"
        )
    if extend is not None and price is None:
        raise ValidationError(
            "An extendable product needs extend_price_coins.", code="invalid_extend_price_coins"
        )
    if cap is not None and duration is not None and cap < duration:
        raise ValidationError(
            "max_total_minutes cannot be shorter than duration_minutes.",
            code="invalid_max_total_minutes",
        )


def check_is_active(value: object) -> bool:
    if not isinstance(value, bool):
        raise ValidationError("is_active must be true or false.", code="invalid_is_active")
    return value


def resolve_workers(worker_ids: object) -> list[Worker]:
    """The workers named by ``worker_ids`` (UUIDs or their text); unknown ids are a 400."""
    if not isinstance(worker_ids, list | tuple | set):
        raise ValidationError("worker_ids must be a list of worker ids.", code="invalid_worker_ids")
    wanted: list[uuid.UUID] = []
    for raw in worker_ids:
        try:
            wanted.append(raw if isinstance(raw, uuid.UUID) else uuid.UUID(str(raw)))
        except (ValueError, TypeError, AttributeError):
            raise ValidationError(f"Unknown worker id: {raw!r}.", code="unknown_worker") from None
    wanted = list(dict.fromkeys(wanted))
    if not wanted:
        return []
    found = db.session.execute(select(Worker).where(Worker.id.in_(wanted))).scalars().all()
    by_id = {worker.id: worker for worker in found}
    missing = [str(worker_id) for worker_id in wanted if worker_id not in by_id]
    if missing:
        raise ValidationError(f"Unknown worker id: {missing[0]}.", code="unknown_worker")
    return [by_id[worker_id] for worker_id in wanted]


def create_product(
    name: object,
    price_coins: object,
    provision_action: object,
    *,
    duration_minutes: object = None,
    is_active: object = True,
    worker_ids: Iterable[Any] = (),
    extend_minutes: object = None,
    extend_price_coins: object = None,
    max_total_minutes: object = None,
    actor_id: uuid.UUID | None = None,
) -> VpsProduct:
    """Validate and insert a product with its workers; audit-logged. The caller commits."""
    product = VpsProduct(
        name=check_name(name),
        price_coins=check_price(price_coins),
        provision_action=check_provision_action(provision_action),
        duration_minutes=check_duration(duration_minutes),
        is_active=check_is_active(is_active),
        extend_minutes=check_extend_minutes(extend_minutes),
        extend_price_coins=check_extend_price(extend_price_coins),
        max_total_minutes=check_max_total(max_total_minutes),
    )
    check_extension_rules(product_snapshot(product, with_workers=False))
    product.workers = resolve_workers(list(worker_ids))
    db.session.add(product)
    db.session.flush()
    audit.record(actor_id, "product.create", "product", product.id, **product_snapshot(product))
    return product


def update_product(
    product: VpsProduct, changes: dict[str, Any], *, actor_id: uuid.UUID | None = None
) -> VpsProduct:
    """Apply any of the product fields in ``changes``; audit-logged. The caller commits.

    Everything is validated before anything is changed, so a refusal leaves the row as is.
    """
    unknown = sorted(set(changes) - set(PRODUCT_FIELDS))
    if unknown:
        raise ValidationError(f"Unknown field: {unknown[0]}.", code="unknown_field")
    checks = {
        "name": check_name,
        "price_coins": check_price,
        "provision_action": check_provision_action,
        "duration_minutes": check_duration,
        "is_active": check_is_active,
        "extend_minutes": check_extend_minutes,
        "extend_price_coins": check_extend_price,
        "max_total_minutes": check_max_total,
    }
    clean: dict[str, Any] = {}
    for field, value in changes.items():
        clean[field] = resolve_workers(value) if field == "worker_ids" else checks[field](value)
    before = product_snapshot(product)
    check_extension_rules({**before, **clean})
    for field, value in clean.items():
        if field == "worker_ids":
            product.workers = value
        else:
            setattr(product, field, value)
    db.session.flush()
    after = product_snapshot(product)
    changed = {key: [before[key], after[key]] for key in after if before[key] != after[key]}
    if changed:
        audit.record(actor_id, "product.update", "product", product.id, changes=changed)
    return product


def product_snapshot(product: VpsProduct, *, with_workers: bool = True) -> dict[str, Any]:
    """The product's editable fields as plain values (audit details and API answers)."""
    snapshot = {
        "name": product.name,
        "price_coins": product.price_coins,
        "provision_action": product.provision_action,
        "duration_minutes": product.duration_minutes,
        "is_active": product.is_active,
        **{field: getattr(product, field) for field in EXTENSION_FIELDS},
    }
    if with_workers:
        snapshot["worker_ids"] = sorted(str(worker.id) for worker in product.workers)
    return snapshot


def catalogue() -> list[tuple[VpsProduct, bool]]:
    """The products on sale, cheapest first, each with whether a slot is free now."""
    products = (
        db.session.execute(
            select(VpsProduct)
            .where(VpsProduct.is_active.is_(True))
            .order_by(VpsProduct.price_coins, VpsProduct.name)
        )
        .scalars()
        .all()
    )
    available = workers.available_product_ids(product.id for product in products)
    return [(product, product.id in available) for product in products]
