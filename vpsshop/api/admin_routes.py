"""The admin API: users and coins, workers, products."""

from __future__ import annotations

import uuid
from typing import Any

from flask import jsonify, request
from flask_login import current_user
from sqlalchemy import select

from vpsshop.api import bp
from vpsshop.api.helpers import admin_required
from vpsshop.api.openapi import body, documented, responses, sent_fields
from vpsshop.api.schemas import (
    AdminProductBody,
    AdminProductsBody,
    CoinsBody,
    CoinsRequest,
    NodeLoginBody,
    NodeLoginRequest,
    ProductFields,
    RegisterWorkerRequest,
    UpdateProductRequest,
    UpdateWorkerRequest,
    UsersBody,
    UsersQuery,
    WorkerBody,
    WorkersBody,
)
from vpsshop.api.serializers import iso, my_transaction_json
from vpsshop.errors import NotFound, ServiceError
from vpsshop.extensions import db
from vpsshop.models import CoinTransaction, User, VpsProduct, Worker
from vpsshop.services import audit, ledger, node_client
from vpsshop.services import products as product_service
from vpsshop.services import workers as worker_service

USER_LIST_LIMIT = 100
ADMIN = ("admin",)


class NodeFailed(ServiceError):
    """The node could not be reached or answered outside the contract."""

    code = "node_error"
    status = 502


def _get(model: type, row_id: uuid.UUID, what: str) -> Any:
    row = db.session.get(model, row_id)
    if row is None:
        raise NotFound(f"No such {what}.")
    return row


def admin_user_json(user: User) -> dict[str, Any]:
    """A user as the admin API shows it."""
    return {
        "id": str(user.id),
        "email": user.email,
        "coins": user.coins,
        "is_admin": user.is_admin,
        "created_at": iso(user.created_at),
        "suspended": user.is_suspended,
        "suspended_reason": user.suspended_reason,
        "two_factor": user.has_2fa,
    }


def transaction_json(entry: CoinTransaction) -> dict[str, Any]:
    """One ledger row, with whose it is and which admin made it."""
    return {
        **my_transaction_json(entry),
        "user_id": str(entry.user_id),
        "actor_id": str(entry.actor_id) if entry.actor_id else None,
    }


def worker_json(worker: Worker, active_sessions: int) -> dict[str, Any]:
    """A worker with its load and health; the token only as ``has_token``, never its value."""
    return {
        "id": str(worker.id),
        "name": worker.name,
        "base_url": worker.base_url,
        "status": worker.status,
        "max_sessions": worker.max_sessions,
        "active_sessions": active_sessions,
        "has_token": bool(worker.token_encrypted),
        "healthy": worker_service.is_healthy(worker),
        "consecutive_failures": worker.consecutive_failures,
        "last_seen_at": iso(worker.last_seen_at),
        "last_error": worker.last_error,
        "last_error_at": iso(worker.last_error_at),
        "created_at": iso(worker.created_at),
    }


def _one_worker_json(worker: Worker) -> dict[str, Any]:
    counts = worker_service.active_session_counts([worker.id])
    return worker_json(worker, counts.get(worker.id, 0))


def admin_product_json(product: VpsProduct) -> dict[str, Any]:
    """A product with every editable field, its worker ids and current availability."""
    return {
        "id": str(product.id),
        **product_service.product_snapshot(product),
        "available": worker_service.product_available(product),
    }


# --- users and coins -----------------------------------------------------------------


@bp.get("/admin/users")
@admin_required
@documented(query=UsersQuery, resp=responses({200: UsersBody}, errors=(403,)), tags=ADMIN)
def admin_list_users():
    """Users whose email contains ``?email=`` (case-insensitive), at most 100."""
    query = select(User).order_by(User.email).limit(USER_LIST_LIMIT)
    email = request.args.get("email", "").strip().lower()
    if email:
        escaped = email.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(User.email.ilike(f"%{escaped}%", escape="\\"))
    users = db.session.execute(query).scalars().all()
    return jsonify(users=[admin_user_json(user) for user in users])


@bp.patch("/admin/users/<uuid:user_id>/coins")
@admin_required
@documented(json=CoinsRequest, resp=responses({200: CoinsBody}, errors=(402, 403)), tags=ADMIN)
def admin_adjust_coins(user_id: uuid.UUID):
    """``{op: add|sub|set, amount, reason}`` through the ledger service."""
    user = _get(User, user_id, "user")
    change = body(CoinsRequest)
    entry = ledger.adjust(
        user.id, change.op, change.amount, reason=change.reason, actor_id=current_user.id
    )
    db.session.commit()
    db.session.refresh(user)
    return jsonify(
        user={"id": str(user.id), "coins": user.coins}, transaction=transaction_json(entry)
    )


# --- workers -------------------------------------------------------------------------


@bp.get("/admin/workers")
@admin_required
@documented(resp=responses({200: WorkersBody}, errors=(403,)), tags=ADMIN)
def admin_list_workers():
    """Every node with its load and health (its token only as ``has_token``)."""
    workers = db.session.execute(select(Worker).order_by(Worker.name)).scalars().all()
    counts = worker_service.active_session_counts([worker.id for worker in workers])
    return jsonify(workers=[worker_json(w, counts.get(w.id, 0)) for w in workers])


@bp.post("/admin/workers/register")
@admin_required
@documented(
    json=RegisterWorkerRequest,
    resp=responses({201: WorkerBody}, errors=(403, 409)),
    tags=ADMIN,
)
def admin_register_worker():
    """Register a node (``max_sessions`` defaults to 3)."""
    fields = sent_fields(RegisterWorkerRequest)
    worker = worker_service.register_worker(
        fields.get("name"),
        fields.get("base_url"),
        max_sessions=fields.get("max_sessions", 3),
        token=fields.get("token"),
        actor_id=current_user.id,
    )
    db.session.commit()
    return jsonify(worker=worker_json(worker, 0)), 201


@bp.patch("/admin/workers/<uuid:worker_id>")
@admin_required
@documented(
    json=UpdateWorkerRequest,
    resp=responses({200: WorkerBody}, errors=(403, 409)),
    tags=ADMIN,
)
def admin_update_worker(worker_id: uuid.UUID):
    """Change any of a node's fields; ``token`` "" or null clears it."""
    worker = _get(Worker, worker_id, "worker")
    changes = sent_fields(UpdateWorkerRequest)
    worker_service.update_worker(worker, changes, actor_id=current_user.id)
    db.session.commit()
    return jsonify(worker=_one_worker_json(worker))


def _set_worker_status(worker_id: uuid.UUID, status: str):
    worker = _get(Worker, worker_id, "worker")
    worker_service.set_worker_status(worker, status, actor_id=current_user.id)
    db.session.commit()
    return jsonify(worker=_one_worker_json(worker))


@bp.post("/admin/workers/<uuid:worker_id>/disable")
@admin_required
@documented(resp=responses({200: WorkerBody}, errors=(403,)), tags=ADMIN)
def admin_disable_worker(worker_id: uuid.UUID):
    return _set_worker_status(worker_id, "disabled")


@bp.post("/admin/workers/<uuid:worker_id>/enable")
@admin_required
@documented(resp=responses({200: WorkerBody}, errors=(403,)), tags=ADMIN)
def admin_enable_worker(worker_id: uuid.UUID):
    return _set_worker_status(worker_id, "active")


@bp.post("/admin/workers/<uuid:worker_id>/login")
@admin_required
@documented(
    json=NodeLoginRequest,
    resp=responses({200: NodeLoginBody}, errors=(403, 502)),
    tags=ADMIN,
)
def admin_worker_login(worker_id: uuid.UUID):
    """Forward ``{email, password}`` to the node's /yud-ranyisi; neither is kept or logged."""
    worker = _get(Worker, worker_id, "worker")
    login = body(NodeLoginRequest)
    try:
        reply = node_client.login(worker, login.email, login.password)
    except node_client.NodeError as error:
        audit.record(current_user.id, "worker.cloud_login", "worker", worker.id, outcome=error.kind)
        db.session.commit()
        raise NodeFailed(
            f"The node did not answer usefully: {error.message}", code=f"node_{error.kind}"
        ) from None
    audit.record(
        current_user.id, "worker.cloud_login", "worker", worker.id, node_status=reply.status
    )
    db.session.commit()
    return jsonify(ok=200 <= reply.status < 300, node_status=reply.status, answer=reply.body)


# --- products ------------------------------------------------------------------------


@bp.get("/admin/products")
@admin_required
@documented(resp=responses({200: AdminProductsBody}, errors=(403,)), tags=ADMIN)
def admin_list_products():
    """Every product with its worker ids and whether it can be bought now."""
    products = db.session.execute(select(VpsProduct).order_by(VpsProduct.name)).scalars().all()
    return jsonify(products=[admin_product_json(product) for product in products])


@bp.post("/admin/products")
@admin_required
@documented(
    json=ProductFields,
    resp=responses({201: AdminProductBody}, errors=(403, 409)),
    tags=ADMIN,
)
def admin_create_product():
    """Create a product sold on the given workers."""
    fields = sent_fields(ProductFields)
    product = product_service.create_product(
        fields.get("name"),
        fields.get("price_coins"),
        fields.get("provision_action"),
        duration_minutes=fields.get("duration_minutes"),
        is_active=fields.get("is_active", True),
        worker_ids=list(fields.get("worker_ids", [])),
        **{field: fields.get(field) for field in product_service.EXTENSION_FIELDS},
        actor_id=current_user.id,
    )
    db.session.commit()
    return jsonify(product=admin_product_json(product)), 201


@bp.patch("/admin/products/<uuid:product_id>")
@admin_required
@documented(
    json=UpdateProductRequest,
    resp=responses({200: AdminProductBody}, errors=(403, 409)),
    tags=ADMIN,
)
def admin_update_product(product_id: uuid.UUID):
    """Change any of a product's fields."""
    product = _get(VpsProduct, product_id, "product")
    changes = sent_fields(UpdateProductRequest)
    product_service.update_product(product, changes, actor_id=current_user.id)
    db.session.commit()
    return jsonify(product=admin_product_json(product))
