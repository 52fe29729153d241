"""RQ entry points of the waitlist: serve the line when slots free."""

from __future__ import annotations

import uuid

from vpsshop.services import capacity, waitlist


def slots_freed(worker_ids: list[str], product_ids: list[str]) -> int:
    """Serve every product with people waiting that the freed workers (or products) touch."""
    products = set(capacity.products_with_waiters([uuid.UUID(w) for w in worker_ids]))
    products |= {uuid.UUID(p) for p in product_ids}
    made = 0
    for product_id in sorted(products):
        made += len(waitlist.fulfil(product_id).fulfilled)
    return made


def fulfil_product(product_id: str) -> int:
    return len(waitlist.fulfil(uuid.UUID(product_id)).fulfilled)
