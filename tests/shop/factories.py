"""Session rows for the buyer-side tests: written directly, or backed by a real VM."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from vpsshop.extensions import db as _db
from vpsshop.models import SessionStatus, VpsSession
from vpsshop.services import crypto, node_client

READY_PASSWORD = "s3cret-Pa55!"


def add_session(user, product, status=SessionStatus.PENDING, **fields) -> VpsSession:
    """A session row in any state, written directly (no node, no job)."""
    now = datetime.now(UTC)
    values = {
        "id": uuid.uuid4(),
        "user_id": user.id,
        "product_id": product.id,
        "price_coins": product.price_coins,
        "status": status,
        "created_at": now - timedelta(seconds=90),
    }
    if status in (SessionStatus.READY, SessionStatus.STOPPING, SessionStatus.DELETED):
        values.update(
            worker_id=product.workers[0].id if product.workers else None,
            worker_route="quack_abc123",
            rdp_host="203.0.113.7",
            rdp_port=3389,
            rdp_user="Administrator",
            rdp_password_encrypted=crypto.encrypt(READY_PASSWORD),
            ready_at=now - timedelta(seconds=30),
        )
    values.update(fields)
    session = VpsSession(**values)
    _db.session.add(session)
    _db.session.commit()
    return session


def add_node_session(user, product, status=SessionStatus.PROVISIONING) -> VpsSession:
    """A session whose VM really exists on the product's first (simulated) node."""
    worker = product.workers[0]
    session_id = uuid.uuid4()
    route = node_client.create_vm(worker, product.provision_action, session_id)
    return add_session(
        user, product, status, id=session_id, worker_id=worker.id, worker_route=route
    )
