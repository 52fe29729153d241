"""The buyer's coins: redeeming a voucher and the coin history."""

from __future__ import annotations

from flask import jsonify, request
from flask_login import current_user

from vpsshop.api import bp
from vpsshop.api.helpers import json_body, token_required
from vpsshop.api.serializers import my_transaction_json
from vpsshop.errors import ValidationError
from vpsshop.extensions import db
from vpsshop.services import coin_history, vouchers


@bp.post("/vouchers/redeem")
@token_required
def redeem_voucher():
    """``{code}`` -> 200 ``{"coins": balance, "transaction": …}``."""
    body = json_body()
    unknown = sorted(set(body) - {"code"})
    if unknown:
        raise ValidationError(f"Unknown field: {unknown[0]}.", code="unknown_field")
    redeemed = vouchers.redeem(current_user.id, body.get("code"))
    db.session.commit()
    return jsonify(coins=redeemed.balance, transaction=my_transaction_json(redeemed.transaction))


@bp.get("/me/transactions")
@token_required
def my_transactions():
    """``?limit=&before=<id>``: the caller's ledger rows, newest first."""
    limit, before = coin_history.page_args(request.args.get("limit"), request.args.get("before"))
    rows = coin_history.history(current_user.id, limit=limit, before=before)
    return jsonify(transactions=[my_transaction_json(row.entry) for row in rows])
