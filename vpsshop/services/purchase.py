"""Buying a session: charge, reserve a slot, insert, enqueue (DESIGN.md "Purchase").

STUB: interface fixed, implementation pending (issue 4).
"""

from __future__ import annotations

import uuid

from vpsshop.models import User, VpsSession


def purchase(
    user: User, product_id: uuid.UUID | str, idempotency_key: str | None = None
) -> VpsSession:
    """Charge ``user`` and create a pending session, then enqueue its provision job.

    Commits. Raises ServiceError subclasses (nothing charged in every case):
    NotFound (unknown/inactive product, 404), ValidationError (bad id or key, 400),
    InsufficientCoins (402), NoCapacity (409), ServiceError code "idempotency_mismatch"
    (422, same key used for another product), ServiceUnavailable (503, Redis down:
    refunded at once, session failed, "you were not charged").
    The same ``idempotency_key`` again returns the same session and charges nothing.
    """
    raise NotImplementedError
