"""Routes of the Coins page: the balance, the history page by page, the redeem form."""

from __future__ import annotations

from flask import Response, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from vpsshop.billing.routes import packs_payments_context
from vpsshop.coins import bp
from vpsshop.coins.forms import RedeemVoucherForm
from vpsshop.errors import ServiceError
from vpsshop.extensions import db
from vpsshop.services import coin_history, vouchers
from vpsshop.wording import coins

HISTORY_PAGE = 25


def _page(form: RedeemVoucherForm, error: ServiceError | None = None, status: int = 200):
    try:
        _, before = coin_history.page_args(None, request.args.get("before"))
    except ServiceError:
        before = None  # a hand-edited ?before= shows the newest page
    # One more row than shown says whether an older page exists.
    rows = coin_history.history(current_user.id, limit=HISTORY_PAGE + 1, before=before)
    older = rows[HISTORY_PAGE - 1].entry.id if len(rows) > HISTORY_PAGE else None
    html = render_template(
        "coins/coins.html",
        form=form,
        error=error,
        rows=rows[:HISTORY_PAGE],
        older_before=older,
        first_page=before is None,
        **packs_payments_context(),
    )
    response = Response(html, status=status)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/coins")
@login_required
def coins_page():
    return _page(RedeemVoucherForm())


@bp.post("/coins/redeem")
@login_required
def redeem():
    form = RedeemVoucherForm()
    if not form.validate_on_submit():
        return _page(form, status=400)
    try:
        redeemed = vouchers.redeem(current_user.id, form.code.data)
        db.session.commit()
    except ServiceError as error:
        db.session.rollback()
        form.code.errors = [*form.code.errors, error.message]
        response = _page(form, error, error.status)
        if retry_after := getattr(error, "retry_after", None):
            response.headers["Retry-After"] = str(retry_after)
        return response
    flash(
        f"Voucher {redeemed.code} redeemed: +{coins(redeemed.transaction.delta)}. "
        f"Your balance is {coins(redeemed.balance)}.",
        "success",
    )
    return redirect(url_for("coins.coins_page"))
