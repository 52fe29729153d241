"""The buyer's API: products, purchase, sessions, log and events."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator

import redis
from flask import Response, current_app, jsonify, stream_with_context
from flask_login import current_user
from redis.client import PubSub
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from vpsshop.api import bp
from vpsshop.api.errors import error_response
from vpsshop.api.helpers import idempotency_key_header, token_required
from vpsshop.api.openapi import body, documented, responses
from vpsshop.api.schemas import ProductsBody, PurchaseRequest, SessionBody, SessionsBody
from vpsshop.api.serializers import product_json, session_json
from vpsshop.api.serializers_time import product_time_json
from vpsshop.conditional import etag_for, not_modified, revalidated
from vpsshop.extensions import db
from vpsshop.models import FINAL_STATUSES, VpsSession
from vpsshop.queue import get_redis
from vpsshop.services import log_proxy, versions, waitlist
from vpsshop.services import products as products_service
from vpsshop.services import sessions as session_service
from vpsshop.services.log_parser import mask_credentials
from vpsshop.services.purchase import purchase

# Server-Sent Events: how long a stream lives, how often an idle one says it is alive.
EVENTS_MAX_SECONDS = 300.0
EVENTS_KEEPALIVE_SECONDS = 15.0
STREAM_SLOTS = "vpsshop.event_stream_slots"
STREAM_RETRY_AFTER_SECONDS = 5


def _owned(session_id: uuid.UUID) -> VpsSession:
    return session_service.get_owned_session(current_user, session_id)


def _api_viewer() -> tuple[str, ...]:
    return ("user", str(current_user.id))


@bp.get("/vps/products")
@token_required
@documented(resp=responses({200: ProductsBody, 304: None}), tags=("vps",))
def list_products():
    """The catalogue; ``available`` says whether a node has a free slot for it now."""
    # Polled: 304 while nothing the catalogue shows has changed.
    etag = etag_for("api-catalogue", _api_viewer(), [versions.CATALOGUE])
    if (unchanged := not_modified(etag)) is not None:
        return unchanged
    items = products_service.catalogue()
    times = waitlist.catalogue_times([product.id for product, _ in items], current_user.id)
    body = jsonify(
        products=[
            {**product_json(product, free), **product_time_json(product, times[product.id])}
            for product, free in items
        ]
    )
    return revalidated(body, etag)


@bp.post("/vps/purchase-and-create")
@token_required
@documented(
    json=PurchaseRequest,
    resp=responses({202: SessionBody}, errors=(402, 409, 422, 503)),
    tags=("vps",),
)
def purchase_and_create():
    """Buy a session of a product; it starts in ``pending``.

    The same ``Idempotency-Key`` header again answers the same session and charges
    nothing.
    """
    order = body(PurchaseRequest)
    session = purchase(current_user, order.product_id, idempotency_key_header())
    return jsonify(session=session_json(session)), 202


@bp.get("/vps/sessions")
@token_required
@documented(resp=responses({200: SessionsBody}), tags=("vps",))
def list_sessions():
    """The caller's own sessions."""
    sessions = session_service.list_sessions(current_user)
    return jsonify(sessions=[session_json(s) for s in sessions])


@bp.get("/vps/sessions/<uuid:session_id>")
@token_required
@documented(resp=responses({200: SessionBody, 304: None}), tags=("vps",))
def get_session(session_id: uuid.UUID):
    # Polled every few seconds: the versions are read before the database, then the
    # owner check decides, as for every request; unchanged answers are an empty 304.
    etag = etag_for("api-session", _api_viewer(), [versions.session_key(session_id)])
    if (unchanged := not_modified(etag)) is not None:
        session_service.check_owner(current_user, session_id)
        return unchanged
    return revalidated(jsonify(session=session_json(_owned(session_id))), etag)


@bp.delete("/vps/sessions/<uuid:session_id>")
@token_required
@documented(resp=responses({202: SessionBody}), tags=("vps",))
def delete_session(session_id: uuid.UUID):
    """Stop and delete a session (``stopping``, then ``deleted``)."""
    session = session_service.request_delete(current_user, session_id)
    return jsonify(session=session_json(session)), 202


@bp.get("/vps/sessions/<uuid:session_id>/log")
@token_required
@documented(resp=responses({200: None}, errors=(503,)), tags=("vps",))
def session_log(session_id: uuid.UUID):
    """The node's log as text/plain, the password masked; ``X-Log-State`` says how fresh."""
    view = log_proxy.read_log(_owned(session_id))
    if view.state == "unavailable":
        return error_response("log_unavailable", view.notice, 503)
    # The node's log as the parser reads it, the password masked: it is in the session's
    # credentials already, and a log is copied into places credentials are not.
    response = Response(mask_credentials(view.text), mimetype="text/plain")
    # Freshness travels in a header so the body stays the node's log.
    response.headers["X-Log-State"] = view.state
    response.headers["Cache-Control"] = "no-store"
    return response


def _sse(event: str, data: dict) -> str:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


def _read_status(session_id: uuid.UUID, user_id: uuid.UUID) -> dict | None:
    """The session as the stream shows it, with no connection held afterwards."""
    try:
        session = db.session.execute(
            select(VpsSession)
            .options(joinedload(VpsSession.product))
            .where(VpsSession.id == session_id, VpsSession.user_id == user_id)
        ).scalar_one_or_none()
        return session_json(session) if session is not None else None
    finally:
        # Never wait inside a transaction or holding a pooled connection.
        db.session.remove()


def _status_events(
    session_id: uuid.UUID, user_id: uuid.UUID, changes: PubSub, slot: threading.Semaphore
) -> Iterator[str]:
    """Yield the current session, then every status change, until final or timed out.

    The stream reads the database only when the session's channel says it changed (a
    ``PUBLISH`` after each commit, services/versions.py): an idle stream costs no query.
    """
    config = current_app.config
    deadline = time.monotonic() + float(config.get("EVENTS_MAX_SECONDS", EVENTS_MAX_SECONDS))
    keepalive = float(config.get("EVENTS_KEEPALIVE_SECONDS", EVENTS_KEEPALIVE_SECONDS))
    last_status = None
    try:
        while True:
            payload = _read_status(session_id, user_id)
            if payload is None:
                yield _sse("error", {"error": "not_found", "message": "No such session."})
                return
            if payload["status"] != last_status:
                last_status = payload["status"]
                yield _sse("status", {"session": payload})
                if last_status in FINAL_STATUSES:
                    return
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    yield _sse("timeout", {"message": "Stream closed; reconnect to keep watching."})
                    return
                if changes.get_message(timeout=min(keepalive, remaining)) is not None:
                    break
                if deadline - time.monotonic() > 0:
                    yield ": keep-alive\n\n"
    except redis.RedisError:
        yield _sse("timeout", {"message": "Stream closed; reconnect to keep watching."})
    finally:
        changes.close()
        slot.release()


def _stream_slots() -> threading.Semaphore:
    # Each open stream holds a web thread; past the bound new ones are turned away.
    slots = current_app.extensions.get(STREAM_SLOTS)
    if slots is None:
        slots = threading.BoundedSemaphore(int(current_app.config["EVENTS_MAX_STREAMS"]))
        slots = current_app.extensions.setdefault(STREAM_SLOTS, slots)
    return slots


@bp.get("/vps/sessions/<uuid:session_id>/events")
@token_required
@documented(resp=responses({200: None}, errors=(503,)), tags=("vps",))
def session_events(session_id: uuid.UUID):
    """Server-Sent Events: the session now, then each change, until a final state."""
    session = _owned(session_id)
    # The owner check above allows admins; the stream then follows that session's owner.
    ids = (session.id, session.user_id)
    db.session.remove()
    slot = _stream_slots()
    if not slot.acquire(blocking=False):
        response = error_response(
            "too_many_streams", "Too many live streams here; retry shortly or poll instead.", 503
        )
        response.headers["Retry-After"] = str(STREAM_RETRY_AFTER_SECONDS)
        return response
    changes = get_redis().pubsub(ignore_subscribe_messages=True)
    try:
        # Subscribed before the first read: a change committed after it is never missed.
        changes.subscribe(versions.session_channel(session_id))
    except redis.RedisError:
        changes.close()
        slot.release()
        return error_response(
            "events_unavailable", "Live updates are unavailable; poll the session instead.", 503
        )
    events = _status_events(*ids, changes, slot)
    response = Response(stream_with_context(events), mimetype="text/event-stream")
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Accel-Buffering"] = "no"
    return response
