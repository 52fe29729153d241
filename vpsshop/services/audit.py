"""Records admin changes (workers, products, session actions) with the acting admin."""

from __future__ import annotations

import json
import uuid

from vpsshop.extensions import db
from vpsshop.models import AuditEntry


def record(
    actor_id: uuid.UUID | None, action: str, target_type: str, target_id: object, **details
) -> AuditEntry:
    """Add an audit row in the caller's transaction. ``details`` must hold no secret."""
    entry = AuditEntry(
        actor_id=actor_id,
        action=action,
        target_type=target_type,
        target_id=str(target_id),
        details=json.dumps(details, default=str, sort_keys=True),
    )
    db.session.add(entry)
    return entry
