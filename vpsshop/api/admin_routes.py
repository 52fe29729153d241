"""The admin API: users and coins, workers, products."""

from __future__ import annotations

import uuid
from typing import Any

from flask import jsonify, request
from flask_login import current_user
from sqlalchemy import select

from vpsshop.api import bp
from vpsshop.api.helpers import admin_required, json_body
from vpsshop.api.serializers import iso
from vpsshop.errors import NotFound, ServiceError, ValidationError
from vpsshop.extensions import db
from vpsshop.models import CoinTransaction, User, VpsProduct, Worker
from vpsshop.services import audit, ledger, node_client
from vpsshop.services import products as product_service
from vpsshop.services import workers as worker_service

USER_LIST_LIMIT = 100
REGISTER_FIELDS = frozenset({"name", "base_url", "max_sessions", "token"})


class NodeFailed(ServiceError):
    """The node could not be reached or answered outside the contract."""

    code = "node_error"
    status = 502


def _reject_unknown(body: dict[str, Any], allowed: frozenset[str] | tuple[str, ...]) -> None:
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise ValidationError(f"Unknown field: {unknown[0]}.", code="unknown_field")


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
    }


def transaction_json(entry: CoinTransaction) -> dict[str, Any]:
    """One ledger row."""
    return {
        "id": entry.id,
        "user_id": str(entry.user_id),
        "delta": entry.delta,
        "balance_after": entry.balance_after,
        "kind": entry.kind,
        "reason": entry.reason,
        "actor_id": str(entry.actor_id) if entry.actor_id else None,
        "session_id": str(entry.session_id) if entry.session_id else None,
        "created_at": iso(entry.created_at),
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
def admin_adjust_coins(user_id: uuid.UUID):
    """``{op: add|sub|set, amount, reason}`` through the ledger service."""
    user = _get(User, user_id, "user")
    body = json_body()
    _reject_unknown(body, ("op", "amount", "reason"))
    op = body.get("op")
    if not isinstance(op, str):
        raise ValidationError("The operation must be add, sub or set.", code="invalid_op")
    entry = ledger.adjust(
        user.id, op, body.get("amount"), reason=body.get("reason"), actor_id=current_user.id
    )
    db.session.commit()
    db.session.refresh(user)
    return jsonify(
        user={"id": str(user.id), "coins": user.coins}, transaction=transaction_json(entry)
    )


# --- workers -------------------------------------------------------------------------


@bp.get("/admin/workers")
@admin_required
def admin_list_workers():
    workers = db.session.execute(select(Worker).order_by(Worker.name)).scalars().all()
    counts = worker_service.active_session_counts([worker.id for worker in workers])
    return jsonify(workers=[worker_json(w, counts.get(w.id, 0)) for w in workers])


@bp.post("/admin/workers/register")
@admin_required
def admin_register_worker():
    body = json_body()
    _reject_unknown(body, REGISTER_FIELDS)
    worker = worker_service.register_worker(
        body.get("name"),
        body.get("base_url"),
        max_sessions=body.get("max_sessions", 3),
        token=body.get("token"),
        actor_id=current_user.id,
    )
    db.session.commit()
    return jsonify(worker=worker_json(worker, 0)), 201


@bp.patch("/admin/workers/<uuid:worker_id>")
@admin_required
def admin_update_worker(worker_id: uuid.UUID):
    worker = _get(Worker, worker_id, "worker")
    worker_service.update_worker(worker, json_body(), actor_id=current_user.id)
    db.session.commit()
    return jsonify(worker=_one_worker_json(worker))


def _set_worker_status(worker_id: uuid.UUID, status: str):
    worker = _get(Worker, worker_id, "worker")
    worker_service.set_worker_status(worker, status, actor_id=current_user.id)
    db.session.commit()
    return jsonify(worker=_one_worker_json(worker))


@bp.post("/admin/workers/<uuid:worker_id>/disable")
@admin_required
def admin_disable_worker(worker_id: uuid.UUID):
    return _set_worker_status(worker_id, "disabled")


@bp.post("/admin/workers/<uuid:worker_id>/enable")
@admin_required
def admin_enable_worker(worker_id: uuid.UUID):
    return _set_worker_status(worker_id, "active")


@bp.post("/admin/workers/<uuid:worker_id>/login")
@admin_required
def admin_worker_login(worker_id: uuid.UUID):
    """Forward ``{email, password}`` to the node's /yud-ranyisi; neither is kept or logged."""
    worker = _get(Worker, worker_id, "worker")
    body = json_body()
    _reject_unknown(body, ("email", "password"))
    email, password = body.get("email"), body.get("password")
    if not isinstance(email, str) or "@" not in email or len(email) > 254:
        raise ValidationError("email must be an email address.", code="invalid_email")
    if not isinstance(password, str) or not password:
        raise ValidationError("password is required.", code="invalid_password")
    try:
        reply = node_client.login(worker, email.strip(), password)
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
def admin_list_products():
    products = db.session.execute(select(VpsProduct).order_by(VpsProduct.name)).scalars().all()
    return jsonify(products=[admin_product_json(product) for product in products])


@bp.post("/admin/products")
@admin_required
def admin_create_product():
    body = json_body()
    _reject_unknown(body, product_service.PRODUCT_FIELDS)
    product = product_service.create_product(
        body.get("name"),
        body.get("price_coins"),
        body.get("provision_action"),
        duration_minutes=body.get("duration_minutes"),
        is_active=body.get("is_active", True),
        worker_ids=_worker_ids(body.get("worker_ids", [])),
        **{field: body.get(field) for field in product_service.EXTENSION_FIELDS},
        actor_id=current_user.id,
    )
    db.session.commit()
    return jsonify(product=admin_product_json(product)), 201


@bp.patch("/admin/products/<uuid:product_id>")
@admin_required
def admin_update_product(product_id: uuid.UUID):
    product = _get(VpsProduct, product_id, "product")
    body = json_body()
    if "worker_ids" in body:
        body["worker_ids"] = _worker_ids(body["worker_ids"])
    product_service.update_product(product, body, actor_id=current_user.id)
    db.session.commit()
    return jsonify(product=admin_product_json(product))


def _worker_ids(raw: object) -> list[uuid.UUID | str]:
    # Only strings are ids in JSON; a number or an object is refused, not coerced.
    if not isinstance(raw, list) or not all(isinstance(item, str) for item in raw):
        raise ValidationError("worker_ids must be a list of worker ids.", code="invalid_worker_ids")
    return list(raw)
