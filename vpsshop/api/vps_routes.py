"""The buyer's API: products, purchase, sessions, log and events."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator

from flask import Response, current_app, g, jsonify, request, stream_with_context
from sqlalchemy import select

from vpsshop.api import bp
from vpsshop.api.errors import error_response
from vpsshop.api.helpers import bearer_token, json_body, parse_uuid, token_required, token_user
from vpsshop.api.serializers import product_json, session_json
from vpsshop.errors import ValidationError
from vpsshop.extensions import db
from vpsshop.models import FINAL_STATUSES, VpsSession
from vpsshop.services import log_proxy, polled_reads, read_cache
from vpsshop.services import sessions as session_service
from vpsshop.services.log_parser import mask_credentials
from vpsshop.services.purchase import purchase

IDEMPOTENCY_KEY_MAX = 200
# Server-Sent Events: how often the database is polled and how long a stream lives.
EVENTS_POLL_SECONDS = 1.0
EVENTS_MAX_SECONDS = 300.0
EVENTS_KEEPALIVE_SECONDS = 15.0


def _idempotency_key() -> str | None:
    raw = request.headers.get("Idempotency-Key")
    if raw is None:
        return None
    key = raw.strip()
    if not key or len(key) > IDEMPOTENCY_KEY_MAX or not key.isprintable() or not key.isascii():
        raise ValidationError(
            f"Idempotency-Key must be 1 to {IDEMPOTENCY_KEY_MAX} printable ASCII characters.",
            code="invalid_idempotency_key",
        )
    return key


def _owned(session_id: str) -> VpsSession:
    # A malformed id is as missing as someone else's session: the same 404.
    return session_service.get_owned_session(g.api_user, parse_uuid(session_id, "session"))


@bp.get("/vps/products")
def list_products():
    # Polled: answered from the read cache when the token and the catalogue are there.
    token = bearer_token()
    snapshot, items = polled_reads.catalogue_for_token_cached(token)
    if items is None:
        g.api_user = token_user(token)
        polled_reads.remember_token(snapshot, token, g.api_user)
        items = polled_reads.catalogue_from_database(snapshot)
    return jsonify(products=[product_json(product, free) for product, free in items])


@bp.post("/vps/purchase-and-create")
@token_required
def purchase_and_create():
    body = json_body()
    product_id = body.get("product_id")
    if not isinstance(product_id, str) or not product_id.strip():
        raise ValidationError("product_id must be a product's id.", code="invalid_product_id")
    try:
        product_uuid = uuid.UUID(product_id.strip())
    except ValueError:
        raise ValidationError(
            "product_id must be a product's id.", code="invalid_product_id"
        ) from None
    session = purchase(g.api_user, product_uuid, _idempotency_key())
    return jsonify(session=session_json(session)), 202


@bp.get("/vps/sessions")
@token_required
def list_sessions():
    return jsonify(sessions=[session_json(s) for s in session_service.list_sessions(g.api_user)])


@bp.get("/vps/sessions/<session_id>")
def get_session(session_id: str):
    # Polled every few seconds: answered from the read cache when it proves the token's
    # user owns the session; the database path below decides everything else.
    token = bearer_token()
    session_uuid = read_cache.parse_uuid(session_id)
    snapshot, view = None, None
    if session_uuid is not None:
        snapshot, view = polled_reads.session_for_token_cached(token, session_uuid)
    if view is None:
        g.api_user = token_user(token)
        polled_reads.remember_token(snapshot, token, g.api_user)
        session_uuid = parse_uuid(session_id, "session")
        view = polled_reads.owned_session_view(g.api_user, session_uuid, snapshot)
    return jsonify(session=session_json(view))


@bp.delete("/vps/sessions/<session_id>")
@token_required
def delete_session(session_id: str):
    session = session_service.request_delete(g.api_user, parse_uuid(session_id, "session"))
    return jsonify(session=session_json(session)), 202


@bp.get("/vps/sessions/<session_id>/log")
@token_required
def session_log(session_id: str):
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


def _status_events(session_id: uuid.UUID, user_id: uuid.UUID) -> Iterator[str]:
    """Yield the current session, then every status change, until final or timed out."""
    config = current_app.config
    poll = float(config.get("EVENTS_POLL_SECONDS", EVENTS_POLL_SECONDS))
    deadline = time.monotonic() + float(config.get("EVENTS_MAX_SECONDS", EVENTS_MAX_SECONDS))
    keepalive = float(config.get("EVENTS_KEEPALIVE_SECONDS", EVENTS_KEEPALIVE_SECONDS))
    last_status = None
    last_sent = time.monotonic()
    try:
        while True:
            status = db.session.execute(
                select(VpsSession.status).where(
                    VpsSession.id == session_id, VpsSession.user_id == user_id
                )
            ).scalar_one_or_none()
            if status is not None and status != last_status:
                session = db.session.get(VpsSession, session_id)
                payload = {"session": session_json(session)}
                status = payload["session"]["status"]
            else:
                payload = None
            # Never sleep inside a transaction or holding a pooled connection.
            db.session.remove()
            if status is None:
                yield _sse("error", {"error": "not_found", "message": "No such session."})
                return
            if payload is not None:
                last_status = status
                last_sent = time.monotonic()
                yield _sse("status", payload)
                if status in FINAL_STATUSES:
                    return
            elif time.monotonic() - last_sent >= keepalive:
                last_sent = time.monotonic()
                yield ": keep-alive\n\n"
            if time.monotonic() + poll > deadline:
                yield _sse("timeout", {"message": "Stream closed; reconnect to keep watching."})
                return
            time.sleep(poll)
    finally:
        db.session.remove()


@bp.get("/vps/sessions/<session_id>/events")
@token_required
def session_events(session_id: str):
    session = _owned(session_id)
    # The owner check above allows admins; the stream then follows that session's owner.
    ids = (session.id, session.user_id)
    db.session.remove()
    response = Response(stream_with_context(_status_events(*ids)), mimetype="text/event-stream")
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Accel-Buffering"] = "no"
    return response
