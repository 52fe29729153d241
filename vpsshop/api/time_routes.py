"""The buyer's API of a session's time: extend a session, the waitlist of sold-out products."""

from __future__ import annotations

import uuid

from flask import Response, jsonify
from flask_login import current_user

from vpsshop.api import bp
from vpsshop.api.helpers import idempotency_key_header, token_required
from vpsshop.api.openapi import documented, responses
from vpsshop.api.schemas import SessionBody, WaitlistBody, WaitlistEntryBody
from vpsshop.api.serializers import session_json
from vpsshop.api.serializers_time import entry_json
from vpsshop.services import extension, waitlist

VPS = ("vps",)


@bp.post("/vps/sessions/<uuid:session_id>/extend")
@token_required
@documented(resp=responses({200: SessionBody}, errors=(402, 409, 422)), tags=VPS)
def extend_session(session_id: uuid.UUID):
    # No body is read: the session and its product say everything an extension needs.
    session = extension.extend(current_user, session_id, idempotency_key_header())
    return jsonify(session=session_json(session))


@bp.post("/vps/products/<uuid:product_id>/waitlist")
@token_required
@documented(
    resp=responses({200: WaitlistEntryBody, 201: WaitlistEntryBody}, errors=(409, 422)),
    tags=VPS,
)
def join_waitlist(product_id: uuid.UUID):
    entry, created = waitlist.join(current_user, product_id)
    return jsonify(entry=entry_json(entry, waitlist.position(entry))), 201 if created else 200


@bp.get("/vps/waitlist")
@token_required
@documented(resp=responses({200: WaitlistBody}), tags=VPS)
def list_waitlist():
    entries = waitlist.list_entries(current_user)
    return jsonify(entries=[entry_json(entry, waitlist.position(entry)) for entry in entries])


@bp.delete("/vps/waitlist/<uuid:entry_id>")
@token_required
@documented(resp=responses({204: None}, errors=(409,)), tags=VPS)
def leave_waitlist(entry_id: uuid.UUID):
    waitlist.leave(current_user, entry_id)
    return Response(status=204)
