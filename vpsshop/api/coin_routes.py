"""The buyer's coins: redeeming a voucher and the coin history."""

from __future__ import annotations

from flask import jsonify, request
from flask_login import current_user

from vpsshop.api import bp
from vpsshop.api.helpers import token_required
from vpsshop.api.openapi import documented, responses, sent_fields
from vpsshop.api.schemas import PageQuery, RedeemBody, RedeemRequest, TransactionsBody
from vpsshop.api.serializers import my_transaction_json
from vpsshop.extensions import db
from vpsshop.services import coin_history, vouchers

COINS = ("coins",)


@bp.post("/vouchers/redeem")
@token_required
@documented(json=RedeemRequest, resp=responses({200: RedeemBody}, errors=(409,)), tags=COINS)
def redeem_voucher():
    """``{code}`` -> 200 ``{"coins": balance, "transaction": …}``."""
    fields = sent_fields(RedeemRequest)
    redeemed = vouchers.redeem(current_user.id, fields.get("code"))
    db.session.commit()
    return jsonify(coins=redeemed.balance, transaction=my_transaction_json(redeemed.transaction))


@bp.get("/me/transactions")
@token_required
@documented(query=PageQuery, resp=responses({200: TransactionsBody}), tags=COINS)
def my_transactions():
    """``?limit=&before=<id>``: the caller's ledger rows, newest first."""
    limit, before = coin_history.page_args(request.args.get("limit"), request.args.get("before"))
    rows = coin_history.history(current_user.id, limit=limit, before=before)
    return jsonify(transactions=[my_transaction_json(row.entry) for row in rows])
