"""The admin API of vouchers: create one or a batch, list, look at one, deactivate."""

from __future__ import annotations

import uuid

from flask import jsonify, request
from flask_login import current_user
from sqlalchemy import select

from vpsshop.api import bp
from vpsshop.api.helpers import admin_required
from vpsshop.api.openapi import documented, responses, sent_fields
from vpsshop.api.schemas import (
    CreateVouchersRequest,
    VoucherBody,
    VoucherDetailBody,
    VouchersBody,
    VouchersQuery,
)
from vpsshop.api.serializers import iso, voucher_json
from vpsshop.errors import NotFound, ValidationError
from vpsshop.extensions import db
from vpsshop.models import Voucher
from vpsshop.services import coin_history, vouchers
from vpsshop.services.voucher_codes import normalise_code

ADMIN = ("admin",)


def _voucher(voucher_id: uuid.UUID) -> Voucher:
    voucher = db.session.get(Voucher, voucher_id)
    if voucher is None:
        raise NotFound("No such voucher.", code="voucher_not_found")
    return voucher


@bp.post("/admin/vouchers")
@admin_required
@documented(
    json=CreateVouchersRequest,
    resp=responses({201: VouchersBody}, errors=(403, 409)),
    tags=ADMIN,
)
def admin_create_vouchers():
    """``{coins, max_redemptions=1, expires_at?, code?, count=1, note?}`` -> 201."""
    body = sent_fields(CreateVouchersRequest)
    created = vouchers.create_vouchers(
        coins=body.get("coins"),
        max_redemptions=body.get("max_redemptions", 1),
        expires_at=body.get("expires_at"),
        code=body.get("code"),
        count=body.get("count", 1),
        note=body.get("note"),
        actor_id=current_user.id,
    )
    db.session.commit()
    return jsonify(vouchers=[voucher_json(voucher) for voucher in created]), 201


@bp.get("/admin/vouchers")
@admin_required
@documented(query=VouchersQuery, resp=responses({200: VouchersBody}, errors=(403,)), tags=ADMIN)
def admin_list_vouchers():
    """Newest first; ``?code=`` (exact, normalised), ``?batch_id=``, ``?limit=`` (≤ 100)."""
    limit, _ = coin_history.page_args(request.args.get("limit"), None)
    query = select(Voucher).order_by(Voucher.created_at.desc(), Voucher.id).limit(limit)
    if raw_code := request.args.get("code"):
        query = query.where(Voucher.code == normalise_code(raw_code))
    if raw_batch := request.args.get("batch_id"):
        try:
            query = query.where(Voucher.batch_id == uuid.UUID(raw_batch))
        except ValueError:
            raise ValidationError("batch_id must be a UUID.", code="invalid_batch_id") from None
    rows = db.session.execute(query).scalars().all()
    return jsonify(vouchers=[voucher_json(voucher) for voucher in rows])


@bp.get("/admin/vouchers/<uuid:voucher_id>")
@admin_required
@documented(resp=responses({200: VoucherDetailBody}, errors=(403,)), tags=ADMIN)
def admin_get_voucher(voucher_id: uuid.UUID):
    """One voucher and who redeemed it, newest first."""
    voucher = _voucher(voucher_id)
    redemptions = [
        {
            "user_id": str(row.user_id),
            "email": row.user.email,
            "transaction_id": row.transaction_id,
            "created_at": iso(row.created_at),
        }
        for row in vouchers.redemptions_of(voucher.id)
    ]
    return jsonify(voucher=voucher_json(voucher), redemptions=redemptions)


@bp.post("/admin/vouchers/<uuid:voucher_id>/deactivate")
@admin_required
@documented(resp=responses({200: VoucherBody}, errors=(403,)), tags=ADMIN)
def admin_deactivate_voucher(voucher_id: uuid.UUID):
    """Stop a voucher for good (200 also when it was inactive already)."""
    voucher = _voucher(voucher_id)
    vouchers.deactivate(voucher, actor_id=current_user.id)
    db.session.commit()
    return jsonify(voucher=voucher_json(voucher))
